"""SOPS_AGE_KEY_CMD (sops 3.10+): a command whose output is the age identities, run as sops runs it."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.sops.keys import load_identities
from tests.helpers import assert_one_line_error, run_gitops
from tests.sops.oracle import sops_binary, sops_encrypt, sops_env
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, key_env

PLAIN = "password: hunter2\n"


def _cmd_env(tmp_path: Path, command: str) -> dict[str, str]:
    """Only the command: no key file, no inline key, no default keys.txt."""
    env = key_env(tmp_path)
    env["SOPS_AGE_KEY_FILE"] = ""
    env["SOPS_AGE_KEY_CMD"] = command
    return env


def _encrypted(tmp_path: Path) -> Path:
    source = tmp_path / "plain.yaml"
    source.write_text(PLAIN, encoding="utf-8")
    target = tmp_path / "secret.yaml"
    target.write_text(sops_encrypt(tmp_path, source), encoding="utf-8")
    return target


def test_identities_from_the_command_decrypt_as_with_sops(tmp_path: Path) -> None:
    secret = _encrypted(tmp_path)
    command = f"cat {shlex.quote(str(TEST_KEY_FILE))}"
    env = {k: v for k, v in sops_env(tmp_path).items() if k != "SOPS_AGE_KEY_FILE"} | {"SOPS_AGE_KEY_CMD": command}
    theirs = subprocess.run(
        [str(sops_binary()), "decrypt", str(secret)], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert theirs.returncode == 0, theirs.stderr
    ours = run_gitops("secrets", "decrypt", str(secret), cwd=tmp_path, env=_cmd_env(tmp_path, command))
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout == PLAIN


def test_quoted_arguments_are_split_like_a_shell_without_one(tmp_path: Path) -> None:
    spaced = tmp_path / "key dir" / "keys.txt"
    spaced.parent.mkdir()
    spaced.write_text(TEST_KEY_FILE.read_text())
    (identity,) = load_identities(_cmd_env(tmp_path, f"cat '{spaced}'"), home=tmp_path)
    assert str(identity.to_public()) == TEST_RECIPIENT
    with pytest.raises(GitopsError, match="exited with status 1"):
        load_identities(_cmd_env(tmp_path, f"cat {spaced} ; echo"), home=tmp_path)  # `;` is an argument


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        (f"{sys.executable} -c 'import sys; sys.exit(3)'", "exited with status 3"),
        ("/nonexistent/keytool --get", "cannot run /nonexistent/keytool"),
        ("cat 'unbalanced", "cannot split the command"),
        (f"{sys.executable} -c 'print(\"not a key\")'", "SOPS_AGE_KEY_CMD: line 1 is not an age identity"),
    ],
)
def test_a_failing_command_is_one_line_and_exit_2(tmp_path: Path, command: str, needle: str) -> None:
    secret = _encrypted(tmp_path)
    before = secret.read_text()
    proc = run_gitops("secrets", "decrypt", str(secret), cwd=tmp_path, env=_cmd_env(tmp_path, command))
    assert_one_line_error(proc, needle)
    assert "hunter2" not in proc.stdout + proc.stderr and secret.read_text() == before
