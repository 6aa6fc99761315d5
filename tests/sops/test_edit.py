"""`gitops secrets edit` with EDITOR set to small scripts run as real subprocesses."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.sops import encrypt_text
from gitops.sops.private import memory_directory
from tests.helpers import assert_one_line_error, run_gitops
from tests.sops.oracle import sops_decrypt
from tests.sops_helpers import TEST_RECIPIENT, key_env

PLAIN = """\
apiVersion: v1
kind: Secret
metadata:
  name: app
stringData:
  # rotated quarterly
  password: hunter2
  user: admin
  port: 5432
"""


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "work" / "app.sops.yaml"
    path.parent.mkdir()
    path.write_text(encrypt_text(PLAIN, "yaml", "app", recipients=[TEST_RECIPIENT]), encoding="utf-8")
    return path


def _editor(tmp_path: Path, body: str) -> str:
    """A shell script editor that logs the path and mode it was given, then runs `body` on "$1"."""
    script = tmp_path / "editor.sh"
    log = tmp_path / "editor.log"
    script.write_text(f'#!/bin/sh\necho "$1 $(stat -c %a "$1")" >> {log}\n{body}\n', encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def _edit(tmp_path: Path, secret: Path, editor: str, answer: str | None = None) -> subprocess.CompletedProcess[str]:
    env = key_env(tmp_path) | {"EDITOR": editor, "XDG_RUNTIME_DIR": ""}
    return run_gitops("secrets", "edit", str(secret), cwd=secret.parent, env=env, input=answer)


def _scratch_paths(tmp_path: Path) -> list[Path]:
    log = tmp_path / "editor.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return [Path(line.split()[0]) for line in lines]


def _assert_private_and_gone(tmp_path: Path) -> None:
    entries = (tmp_path / "editor.log").read_text().splitlines()
    assert entries
    for entry in entries:
        name, mode = entry.split()
        assert name.startswith("/dev/shm/") and mode == "600"
        assert not Path(name).exists()


def _data_lines(text: str) -> list[str]:
    return text.split("\nsops:\n")[0].splitlines()


def test_one_changed_value_is_a_one_line_diff_that_sops_decrypts(tmp_path: Path, secret: Path) -> None:
    before = secret.read_text()
    proc = _edit(tmp_path, secret, _editor(tmp_path, "sed -i 's/hunter2/hunter3/' \"$1\""))
    assert proc.returncode == 0, proc.stderr
    after = secret.read_text()
    changed = [(a, b) for a, b in zip(_data_lines(before), _data_lines(after), strict=True) if a != b]
    assert len(changed) == 1 and changed[0][0].startswith("  password: ENC[")
    assert "hunter3" not in after
    assert "password: hunter3" in sops_decrypt(tmp_path, secret)
    assert "# rotated quarterly" in sops_decrypt(tmp_path, secret)
    _assert_private_and_gone(tmp_path)


def test_a_new_value_gets_its_own_fresh_ciphertext(tmp_path: Path, secret: Path) -> None:
    proc = _edit(tmp_path, secret, _editor(tmp_path, "echo '  token: hunter2' >> \"$1\""))
    assert proc.returncode == 0, proc.stderr
    lines = secret.read_text().splitlines()
    password = next(line for line in lines if line.startswith("  password:")).split(": ", 1)[1]
    token = next(line for line in lines if line.startswith("  token:")).split(": ", 1)[1]
    assert password != token  # same plaintext, different path: a fresh IV, not a copy
    assert "token: hunter2" in sops_decrypt(tmp_path, secret)


def test_no_change_writes_nothing(tmp_path: Path, secret: Path) -> None:
    before = secret.read_bytes()
    stamp = secret.stat().st_mtime_ns
    proc = _edit(tmp_path, secret, _editor(tmp_path, "true"))
    assert proc.returncode == 0, proc.stderr
    assert "no changes" in proc.stderr
    assert secret.read_bytes() == before and secret.stat().st_mtime_ns == stamp
    _assert_private_and_gone(tmp_path)


def test_a_crashing_editor_leaves_the_file_untouched(tmp_path: Path, secret: Path) -> None:
    before = secret.read_bytes()
    proc = _edit(tmp_path, secret, _editor(tmp_path, "sed -i 's/hunter2/x/' \"$1\"; exit 3"))
    assert_one_line_error(proc, "editor exited with status 3", "file untouched")
    assert secret.read_bytes() == before
    _assert_private_and_gone(tmp_path)


def test_interrupted_edit_removes_the_plaintext(tmp_path: Path, secret: Path) -> None:
    before = secret.read_bytes()
    proc = _edit(tmp_path, secret, _editor(tmp_path, "kill -INT $PPID; sleep 1"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert secret.read_bytes() == before
    _assert_private_and_gone(tmp_path)


def test_invalid_yaml_then_abort_leaves_the_file_untouched(tmp_path: Path, secret: Path) -> None:
    before = secret.read_bytes()
    proc = _edit(tmp_path, secret, _editor(tmp_path, "echo 'bad: [unclosed' >> \"$1\""), answer="n\n")
    assert proc.returncode == 2
    assert "gitops: error: " in proc.stderr.strip().splitlines()[-1]  # after the (unechoed) prompt
    assert "not valid YAML" in proc.stderr and "file untouched" in proc.stderr
    assert secret.read_bytes() == before
    _assert_private_and_gone(tmp_path)


def test_invalid_yaml_then_reopen_lets_the_user_fix_it(tmp_path: Path, secret: Path) -> None:
    counter = tmp_path / "runs"
    body = (
        f'if [ -e {counter} ]; then sed -i "s/^bad: .*$/bad: fixed/" "$1"; '
        f"else touch {counter}; echo 'bad: [unclosed' >> \"$1\"; fi"
    )
    proc = _edit(tmp_path, secret, _editor(tmp_path, body), answer="y\n")
    assert proc.returncode == 0, proc.stderr
    assert len(_scratch_paths(tmp_path)) == 2
    assert "bad: fixed" in sops_decrypt(tmp_path, secret)
    _assert_private_and_gone(tmp_path)


def test_no_memory_backed_directory_is_refused(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text("/dev/sda1 / ext4 rw 0 0\n/dev/sda2 /dev/shm ext4 rw 0 0\n", encoding="utf-8")
    with pytest.raises(GitopsError, match="no memory-backed directory"):
        memory_directory({"XDG_RUNTIME_DIR": str(tmp_path)}, mounts)


def test_runtime_dir_on_tmpfs_is_preferred(tmp_path: Path) -> None:
    mounts = tmp_path / "mounts"
    mounts.write_text(f"/dev/sda1 / ext4 rw 0 0\ntmpfs {tmp_path} tmpfs rw 0 0\n", encoding="utf-8")
    assert memory_directory({"XDG_RUNTIME_DIR": str(tmp_path)}, mounts) == tmp_path


def test_private_file_mode_is_owner_only() -> None:
    from gitops.sops.private import private_file

    with private_file("x", ".yaml", Path("/dev/shm")) as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not path.exists()


def test_a_binary_file_with_any_bytes_can_be_edited(tmp_path: Path) -> None:
    blob = tmp_path / "work" / "blob.bin"
    blob.parent.mkdir()
    blob.write_bytes(b"\x00\xff head\n")
    env = key_env(tmp_path)
    enc = run_gitops(
        "secrets",
        "encrypt",
        "-i",
        "--age",
        TEST_RECIPIENT,
        "--input-type",
        "binary",
        str(blob),
        cwd=blob.parent,
        env=env,
    )
    assert enc.returncode == 0, enc.stderr
    editor = _editor(tmp_path, 'printf "\\376tail\\n" >> "$1"')
    env = env | {"EDITOR": editor, "XDG_RUNTIME_DIR": ""}
    done = run_gitops("secrets", "edit", "--input-type", "binary", str(blob), cwd=blob.parent, env=env)
    assert done.returncode == 0, done.stderr
    decrypted = subprocess.run(
        [sys.executable, "-m", "gitops", "secrets", "decrypt", "--input-type", "binary", str(blob)],
        env={**os.environ, **key_env(tmp_path)}, capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert decrypted == b"\x00\xff head\n\xfetail\n"
    _assert_private_and_gone(tmp_path)
