"""Interop with the real sops 3.11 binary, both directions, on every test run (never skipped in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.sops import decrypt_text, encrypt_text, parse_identities, rotate_text, update_keys_text
from gitops.sops.formats import load
from gitops.sops.rules import Scope
from tests.sops.oracle import run_sops, sops_decrypt, sops_encrypt, sops_stderr
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, plain

IDENTITIES = parse_identities(TEST_KEY_FILE.read_text(), "test key")
SENTINEL = "SENTINEL-c0mment-pa55word"

YAML_DOC = f"""\
# head comment {SENTINEL}
apiVersion: v1
kind: Secret
metadata:
  name: app  # inline {SENTINEL}
stringData:
  # the password is {SENTINEL}
  password: hunter2
  port: 5432
  ratio: 1.5
  enabled: true
  octal: 0755
  when: 2024-01-02T03:04:05Z
  nothing: null
  empty: ""
  quoted: "yes"
  list:
    - one
    # in a list {SENTINEL}
    - 2
  nested:
    deeper:
      key: value
      # deep {SENTINEL}
    # back out {SENTINEL}
# outer {SENTINEL}
plain_unencrypted: visible
"""
MULTI_DOC = YAML_DOC + "---\nsecond: doc  # x\nnumbers: [1, 2.5, -3]\n"
JSON_DOC = (
    '{"a": 1, "b": 1.5, "big": 12345678901234567890, "odd": 9007199254740993, "t": true, "s": "x", "n": null,'
    ' "l": [1, "two"]}\n'
)
DOTENV_DOC = f"# comment {SENTINEL}\nPASSWORD=hunter2\n#another\nEMPTY=\nMULTI=a\\nb\n"
CASES = {"yaml": (".yaml", YAML_DOC), "multi": (".yaml", MULTI_DOC), "json": (".json", JSON_DOC)}
CASES["dotenv"] = (".env", DOTENV_DOC)
FORMAT = {".yaml": "yaml", ".json": "json", ".env": "dotenv"}
SCOPES = {
    "default": Scope(),
    "encrypted_regex": Scope("encrypted_regex", "^(stringData|password)$"),
    "unencrypted_regex": Scope("unencrypted_regex", "^(kind|apiVersion)$"),
    "encrypted_suffix": Scope("encrypted_suffix", "word"),
    "mac_only_encrypted": Scope("encrypted_regex", "^stringData$", mac_only_encrypted=True),
}
SOPS_RULES = {
    "default": "",
    "encrypted_regex": "encrypted_regex: ^(stringData|password)$",
    "unencrypted_regex": "unencrypted_regex: ^(kind|apiVersion)$",
    "encrypted_suffix": "encrypted_suffix: word",
    "mac_only_encrypted": "encrypted_regex: ^stringData$\nmac_only_encrypted: true",
}


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _sops_round_trip(tmp_path: Path, suffix: str, text: str, rule: str = "") -> str:
    """What sops itself gives back for `text` after encrypting and decrypting it."""
    path = _write(tmp_path, "sops-own" + suffix, text)
    encrypted = _write(tmp_path, "sops-own.enc" + suffix, sops_encrypt(tmp_path, path, rule))
    return sops_decrypt(tmp_path, encrypted)


@pytest.mark.parametrize("case", sorted(CASES))
def test_sops_decrypts_what_we_encrypt_byte_identical_to_its_own_round_trip(tmp_path: Path, case: str) -> None:
    suffix, text = CASES[case]
    ours = encrypt_text(text, FORMAT[suffix], "in", recipients=[TEST_RECIPIENT])
    assert SENTINEL not in ours
    encrypted = _write(tmp_path, "ours" + suffix, ours)
    assert sops_decrypt(tmp_path, encrypted) == _sops_round_trip(tmp_path, suffix, text)
    assert "unencrypted comment" not in sops_stderr(tmp_path, "decrypt", str(encrypted))


@pytest.mark.parametrize("scope_name", sorted(SCOPES))
def test_every_value_selector_matches_sops(tmp_path: Path, scope_name: str) -> None:
    ours = encrypt_text(YAML_DOC, "yaml", "in", recipients=[TEST_RECIPIENT], scope=SCOPES[scope_name])
    encrypted = _write(tmp_path, "ours.yaml", ours)
    expected = _sops_round_trip(tmp_path, ".yaml", YAML_DOC, SOPS_RULES[scope_name])
    assert sops_decrypt(tmp_path, encrypted) == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_we_decrypt_what_sops_encrypts(tmp_path: Path, case: str) -> None:
    suffix, text = CASES[case]
    fmt = FORMAT[suffix]
    source = _write(tmp_path, "plain" + suffix, text)
    sops_written = sops_encrypt(tmp_path, source)
    ours = decrypt_text(sops_written, fmt, "sops-written", IDENTITIES)
    theirs = sops_decrypt(tmp_path, _write(tmp_path, "enc" + suffix, sops_written))
    assert "ENC[" not in ours
    if fmt == "yaml":
        assert [plain(d) for d in load(ours, fmt, "x").documents] == [
            plain(d) for d in load(theirs, fmt, "x").documents
        ]
        assert SENTINEL in ours and ours.count(SENTINEL) == theirs.count(SENTINEL)
    else:
        assert ours.rstrip("\n") == theirs.rstrip("\n")


@pytest.mark.parametrize("scope_name", sorted(SCOPES))
def test_we_decrypt_sops_files_with_every_creation_rule_option(tmp_path: Path, scope_name: str) -> None:
    source = _write(tmp_path, "plain.yaml", YAML_DOC)
    sops_written = sops_encrypt(tmp_path, source, SOPS_RULES[scope_name])
    ours = decrypt_text(sops_written, "yaml", "sops-written", IDENTITIES)
    theirs = sops_decrypt(tmp_path, _write(tmp_path, "enc.yaml", sops_written))
    assert [plain(d) for d in load(ours, "yaml", "x").documents] == [
        plain(d) for d in load(theirs, "yaml", "x").documents
    ]


@pytest.mark.parametrize("case", sorted(CASES))
def test_sops_decrypts_what_our_updatekeys_and_rotate_write(tmp_path: Path, case: str) -> None:
    suffix, text = CASES[case]
    fmt = FORMAT[suffix]
    expected = _sops_round_trip(tmp_path, suffix, text)
    ours = encrypt_text(text, fmt, "in", recipients=[TEST_RECIPIENT])
    for rewritten in (
        update_keys_text(ours, fmt, "in", IDENTITIES, [TEST_RECIPIENT]),
        rotate_text(ours, fmt, "in", IDENTITIES),
    ):
        assert SENTINEL not in rewritten
        assert sops_decrypt(tmp_path, _write(tmp_path, "rewritten" + suffix, rewritten)) == expected


def test_sops_writes_json_numbers_as_float_and_so_do_we(tmp_path: Path) -> None:
    sops_written = sops_encrypt(tmp_path, _write(tmp_path, "n.json", '{"a": 1}\n'))
    assert "type:float" in sops_written
    assert "type:float" in encrypt_text('{"a": 1}\n', "json", "in", recipients=[TEST_RECIPIENT])


def test_sops_writes_encrypted_comments_and_we_decrypt_them_in_place(tmp_path: Path) -> None:
    sops_written = sops_encrypt(tmp_path, _write(tmp_path, "c.env", DOTENV_DOC))
    assert "type:comment" in sops_written and SENTINEL not in sops_written
    assert decrypt_text(sops_written, "dotenv", "c.env", IDENTITIES) == DOTENV_DOC


def test_sops_binary_is_the_expected_release(tmp_path: Path) -> None:
    assert run_sops(tmp_path, "--version", "--disable-version-check").startswith("sops 3.11")
