"""Tampered SOPS files fail `gitops check` and `gitops secrets lint` when an age identity is available, and
both say so when none is (issue 13, "Integrity of encrypted files").

The encrypted CA Secret is written by the real `gitops secrets ca-cert`; tampering is a one-character edit
of the file on disk, as a careless hand or a bad merge would make it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from pyrage import x25519

from tests.bad_input.harness import make_repo, run_limited, snapshot
from tests.sops_helpers import TEST_RECIPIENT, key_env
from tests.test_certs import make_cert

CA_FILE = "overlays/a/shared/mastodon-db-ca.sops.yaml"
NOT_AFTER = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)


def _repo_with_ca(tmp_path: Path, *, mac_only_encrypted: bool = False) -> tuple[Path, str]:
    """A repository with an encrypted CA bundle for environment a; returns (root, the certificate's PEM)."""
    rule = (
        "creation_rules:\n- path_regex: ^overlays/a/\n  encrypted_regex: ^(data|stringData)$\n"
        f"  age: {TEST_RECIPIENT}\n"
    )
    if mac_only_encrypted:
        rule += "  mac_only_encrypted: true\n"
    # The policy pack is off: these cases are about the secret gate, and the corpus' workload is minimal.
    config = 'kubernetesVersion: "1.33"\ncheck:\n  disable: [policy]\n'
    root = make_repo(tmp_path / "repo", {".sops.yaml": rule, "gitops.yaml": config})
    pem, _ = make_cert("db-ca", NOT_AFTER)
    (tmp_path / "ca.pem").write_text(pem)
    proc = run_limited("secrets", "ca-cert", str(tmp_path / "ca.pem"), "--env", "a", cwd=root, env=key_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    return root, pem


def _flip_ciphertext_character(text: str) -> str:
    match = re.search(r"ENC\[AES256_GCM,data:([A-Za-z0-9+/]{12})", text)
    assert match is not None
    position = match.start(1) + 6
    return text[:position] + ("A" if text[position] != "A" else "B") + text[position + 1 :]


def _edit_annotation(text: str) -> str:
    edited = text.replace('gitops/ca-not-after: "2031-01-01T00:00:00Z"', 'gitops/ca-not-after: "2036-01-01T00:00:00Z"')
    assert edited != text
    return edited


def _run(root: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    before = snapshot(root)
    proc = run_limited(*args, cwd=root, env=env)
    assert "Traceback" not in proc.stderr
    assert snapshot(root) == before
    return proc.returncode, proc.stdout + proc.stderr


COMMANDS = (("check",), ("secrets", "lint"))


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("tamper", [_flip_ciphertext_character, _edit_annotation], ids=["ciphertext", "annotation"])
def test_a_tampered_file_fails_with_an_identity(tmp_path: Path, command: tuple[str, ...], tamper: object) -> None:
    root, pem = _repo_with_ca(tmp_path)
    path = root / CA_FILE
    path.write_text(tamper(path.read_text()))  # type: ignore[operator]
    code, output = _run(root, key_env(tmp_path), *command)
    assert code == 1, output
    assert "SEC-MAC" in output and CA_FILE in output and "MAC-UNVERIFIED" not in output, output
    assert pem.splitlines()[1] not in output  # no plaintext of the certificate


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_intact_file_passes_with_an_identity(tmp_path: Path, command: tuple[str, ...]) -> None:
    root, _ = _repo_with_ca(tmp_path)
    code, output = _run(root, key_env(tmp_path), *command)
    assert "SEC-MAC" not in output and "SEC-CA-ANNOTATION" not in output, output
    assert code == 0, output


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_without_an_identity_check_says_macs_were_not_verified(tmp_path: Path, command: tuple[str, ...]) -> None:
    root, _ = _repo_with_ca(tmp_path)
    path = root / CA_FILE
    path.write_text(_flip_ciphertext_character(path.read_text()))
    env = {**key_env(tmp_path), "SOPS_AGE_KEY_FILE": ""}
    code, output = _run(root, env, *command)
    assert code == 0, output  # a warning: nothing could be verified, nothing was found
    assert "SEC-MAC-UNVERIFIED" in output and "no age identity is set" in output and CA_FILE in output, output


def test_an_identity_that_opens_nothing_is_not_a_verification(tmp_path: Path) -> None:
    root, _ = _repo_with_ca(tmp_path)
    other = tmp_path / "other.txt"
    other.write_text(f"{x25519.Identity.generate()}\n")
    code, output = _run(root, {**key_env(tmp_path), "SOPS_AGE_KEY_FILE": str(other)}, "check")
    assert code == 0, output
    assert "SEC-MAC-UNVERIFIED" in output and "no available age identity opens them" in output, output


def test_an_annotation_outside_the_mac_is_compared_with_the_certificate(tmp_path: Path) -> None:
    """With mac_only_encrypted the MAC leaves the annotation out: the decrypted certificate is the truth."""
    root, _ = _repo_with_ca(tmp_path, mac_only_encrypted=True)
    path = root / CA_FILE
    path.write_text(_edit_annotation(path.read_text()))
    code, output = _run(root, key_env(tmp_path), "check")
    assert code == 1, output
    assert "SEC-CA-ANNOTATION" in output and "2036-01-01T00:00:00Z" in output and "2031-01-01T00:00:00Z" in output
    assert "SEC-MAC " not in output and "SEC-MAC:" not in output, output


def test_an_unreadable_key_file_is_bad_input(tmp_path: Path) -> None:
    root, _ = _repo_with_ca(tmp_path)
    missing = tmp_path / "nope.txt"
    proc = run_limited("check", cwd=root, env={**key_env(tmp_path), "SOPS_AGE_KEY_FILE": str(missing)})
    assert proc.returncode == 2, proc.stderr
    assert str(missing) in proc.stderr and "Traceback" not in proc.stderr
