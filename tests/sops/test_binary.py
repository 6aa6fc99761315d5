"""sops' binary store (`--input-type binary`): the whole file is the string `data`, encrypted into a JSON file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops.sops import decrypt_text, encrypt_text, rotate_text
from tests.helpers import assert_one_line_error, run_gitops
from tests.sops.oracle import run_sops, sops_binary, sops_env
from tests.sops.test_oracle import IDENTITIES
from tests.sops_helpers import TEST_RECIPIENT, key_env

CONTENTS = {
    "pem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "no-final-newline": 'line one\n  two: "x" # not a comment\nlast',
    "json-looking": '{"a": 1}\n',
    "empty": "",
}


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_sops_binary_files_decrypt_with_ours_byte_for_byte(tmp_path: Path, name: str) -> None:
    plain = tmp_path / f"{name}.bin"
    plain.write_text(CONTENTS[name], encoding="utf-8")
    encrypted = tmp_path / "enc.bin"
    config = tmp_path / "sops-config.yaml"  # explicit: sops would otherwise read the repository's .sops.yaml
    config.write_text(f"creation_rules:\n  - age: {TEST_RECIPIENT}\n")
    encrypted.write_text(run_sops(tmp_path, "--config", str(config), "encrypt", "--input-type", "binary", str(plain)))
    assert decrypt_text(encrypted.read_text(), "binary", name, IDENTITIES) == CONTENTS[name]
    env = key_env(tmp_path)
    proc = run_gitops("secrets", "decrypt", "--input-type", "binary", str(encrypted), cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == CONTENTS[name]


@pytest.mark.parametrize("name", sorted(CONTENTS))
def test_our_binary_files_decrypt_with_sops_byte_for_byte(tmp_path: Path, name: str) -> None:
    plain = tmp_path / f"{name}.bin"
    plain.write_text(CONTENTS[name], encoding="utf-8")
    proc = run_gitops(
        "secrets", "encrypt", "-i", "--age", TEST_RECIPIENT, "--input-type", "binary", str(plain),
        cwd=tmp_path, env=key_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    written = plain.read_text()
    assert written.startswith('{\n\t"data": "ENC[' if CONTENTS[name] else '{\n\t"data": "",')
    for text in (written, rotate_text(written, "binary", name, IDENTITIES)):
        path = tmp_path / "check.bin"
        path.write_text(text)
        assert (
            run_sops(tmp_path, "decrypt", "--input-type", "binary", "--output-type", "binary", str(path))
            == (CONTENTS[name])
        )


BLOB = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary \xc3\x28 tail"  # not UTF-8: what the binary store is for


def test_any_bytes_we_encrypt_decrypt_with_sops_byte_for_byte(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(BLOB)
    proc = run_gitops(
        "secrets", "encrypt", "-i", "--age", TEST_RECIPIENT, "--input-type", "binary", str(blob),
        cwd=tmp_path, env=key_env(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert b"PNG" not in blob.read_bytes()
    decrypted = subprocess.run(
        [str(sops_binary()), "decrypt", "--input-type", "binary", "--output-type", "binary", str(blob)],
        env=sops_env(tmp_path), capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert decrypted == BLOB
    ours = subprocess.run(
        [sys.executable, "-m", "gitops", "secrets", "decrypt", "--input-type", "binary", str(blob)],
        env={**os.environ, **key_env(tmp_path)}, cwd=tmp_path, capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert ours == BLOB


def test_any_bytes_sops_encrypts_decrypt_with_ours_byte_for_byte(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(BLOB)
    config = tmp_path / "sops-config.yaml"
    config.write_text(f"creation_rules:\n  - age: {TEST_RECIPIENT}\n")
    encrypted = tmp_path / "enc.bin"
    encrypted.write_text(run_sops(tmp_path, "--config", str(config), "encrypt", "--input-type", "binary", str(blob)))
    ours = subprocess.run(
        [sys.executable, "-m", "gitops", "secrets", "decrypt", "--input-type", "binary", str(encrypted)],
        env={**os.environ, **key_env(tmp_path)}, cwd=tmp_path, capture_output=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert ours == BLOB


def test_raw_bytes_are_refused_outside_the_binary_format(tmp_path: Path) -> None:
    blob = tmp_path / "blob.yaml"
    blob.write_bytes(b"key: \xff\n")
    proc = run_gitops(
        "secrets", "encrypt", "-i", "--age", TEST_RECIPIENT, str(blob), cwd=tmp_path, env=key_env(tmp_path)
    )
    assert_one_line_error(proc, "blob.yaml", "not valid UTF-8")
    assert blob.read_bytes() == b"key: \xff\n"


def test_a_sops_json_file_without_data_is_not_a_binary_file(tmp_path: Path) -> None:
    text = encrypt_text('{"other": "x"}\n', "json", "j", recipients=[TEST_RECIPIENT])
    with pytest.raises(Exception, match="holds its data as the string `data`"):
        decrypt_text(text, "binary", "j", IDENTITIES)
