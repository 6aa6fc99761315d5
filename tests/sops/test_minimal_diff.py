"""updatekeys and rotate on a file the real sops wrote: only the sops block changes, in sops' own layout."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from pyrage import x25519

from gitops.sops import rotate_text, update_keys_text
from tests.sops.oracle import run_sops, sops_decrypt, sops_encrypt
from tests.sops.test_oracle import IDENTITIES, SENTINEL, YAML_DOC
from tests.sops_helpers import TEST_RECIPIENT


def _sops_written(tmp_path: Path) -> str:
    source = tmp_path / "plain.yaml"
    source.write_text(YAML_DOC, encoding="utf-8")
    return sops_encrypt(tmp_path, source, "encrypted_regex: ^(stringData|metadata)$")


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_updatekeys_changes_only_the_age_stanzas(tmp_path: Path) -> None:
    before = _sops_written(tmp_path)
    extra = str(x25519.Identity.generate().to_public())
    after = update_keys_text(before, "yaml", "f", IDENTITIES, [TEST_RECIPIENT, extra])
    body_before, block_before = before.split("\nsops:\n")
    body_after, block_after = after.split("\nsops:\n")
    assert body_after == body_before  # indentation, quoting, key order, every ciphertext
    changed = _changed_lines(block_before, block_after)
    assert changed and all(
        line[1:].startswith(("        ", "      - recipient:", "          enc: |")) for line in changed
    ), changed
    assert [line for line in block_after.splitlines() if "version" in line] == [
        line for line in block_before.splitlines() if "version" in line
    ]
    path = tmp_path / "updated.yaml"
    path.write_text(after, encoding="utf-8")
    assert sops_decrypt(tmp_path, path) == sops_decrypt(tmp_path, _write(tmp_path, before))


def test_rotate_keeps_layout_and_version(tmp_path: Path) -> None:
    before = _sops_written(tmp_path)
    after = rotate_text(before, "yaml", "f", IDENTITIES)
    assert after.count(SENTINEL) == before.count(SENTINEL)  # only comments the rule leaves plaintext, as sops
    assert _masked(after.split("\nsops:\n")[0]) == _masked(before.split("\nsops:\n")[0])
    assert after.split("\nsops:\n")[0] != before.split("\nsops:\n")[0]  # a new data key: new ciphertexts
    version = [line for line in before.splitlines() if line.startswith("    version:")]
    assert version and version == [line for line in after.splitlines() if line.startswith("    version:")]
    assert sops_decrypt(tmp_path, _write(tmp_path, after)) == sops_decrypt(tmp_path, _write(tmp_path, before))


def _masked(text: str) -> str:
    return re.sub(r"ENC\[AES256_GCM,[^\]]*\]", "ENC[...]", text)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"file-{abs(hash(text))}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


VERSIONED = {"yaml": ("a.yaml", "a: 1\nb: two\n"), "json": ("a.json", '{"a": 1}\n'), "dotenv": ("a.env", "A=1\n")}


@pytest.mark.parametrize("fmt", sorted(VERSIONED))
def test_rotate_keeps_the_files_version_as_sops_rotate_does(tmp_path: Path, fmt: str) -> None:
    name, text = VERSIONED[fmt]
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    before = sops_encrypt(tmp_path, source)
    theirs = tmp_path / ("theirs-" + name)
    theirs.write_text(before, encoding="utf-8")
    run_sops(tmp_path, "rotate", "-i", str(theirs))
    ours = rotate_text(before, fmt, name, IDENTITIES)
    sops_version = _version_lines(theirs.read_text(encoding="utf-8"))
    assert sops_version == _version_lines(before) == ["3.11.0"]  # sops rotate leaves the version alone
    assert _version_lines(ours) == sops_version


def _version_lines(text: str) -> list[str]:
    return re.findall(r'(?m)^\s*"?(?:sops_)?version"?\s*[:=]\s*"?([0-9.]+)"?,?$', text)
