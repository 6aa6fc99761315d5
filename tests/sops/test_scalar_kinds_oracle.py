"""Every scalar kind through the real sops 3.11 both ways, compared byte for byte: the type tag each value gets,
and how a decrypted value is written (yaml.v3 quotes YAML 1.1 booleans and base-60 numbers, as sops does)."""

from __future__ import annotations

import json
from pathlib import Path

from gitops.sops import decrypt_text, encrypt_text, parse_identities
from gitops.sops.formats import load
from tests.sops.oracle import sops_decrypt, sops_encrypt
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT

IDENTITIES = parse_identities(TEST_KEY_FILE.read_text(), "test key")

SCALARS = """\
s_y: "y"
s_yes_plain: yes
s_on: "on"
s_off_plain: off
s_no_upper: "NO"
s_n: n
s_base60: "1:20"
s_base60_plain: 190:20:30.15
s_int_like: "123"
s_float_like: "1.5"
s_null_like: "null"
s_tilde: "~"
s_bool_like: "true"
s_date_like: "2024-01-02"
s_empty: ""
s_spaces: " x "
s_colon: "a: b"
s_hash: "a #b"
s_dash: "- x"
s_unicode: "h\u00e9llo"
s_plain_words: just words
int: 42
negative: -7
hex: 0x1F
octal_new: 0o17
octal_old: 0755
underscore_int: 1_000
float: 1.5
exponent: 1e3
infinity: .inf
not_a_number: .nan
bool_lower: true
bool_title: True
nothing: null
tilde_null: ~
timestamp: 2024-01-02T03:04:05Z
date: 2024-01-02
literal: |
  line one
  line two
list:
  - "yes"
  - 0x10
  - off
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_we_decrypt_every_scalar_kind_byte_identical_to_sops(tmp_path: Path) -> None:
    sops_written = sops_encrypt(tmp_path, _write(tmp_path, "plain.yaml", SCALARS))
    expected = sops_decrypt(tmp_path, _write(tmp_path, "theirs.yaml", sops_written))
    assert decrypt_text(sops_written, "yaml", "theirs.yaml", IDENTITIES) == expected


def test_sops_reads_every_scalar_kind_we_encrypt_as_its_own(tmp_path: Path) -> None:
    ours = _write(tmp_path, "ours.yaml", encrypt_text(SCALARS, "yaml", "in", recipients=[TEST_RECIPIENT]))
    theirs = _write(tmp_path, "theirs.yaml", sops_encrypt(tmp_path, _write(tmp_path, "plain.yaml", SCALARS)))
    assert sops_decrypt(tmp_path, ours) == sops_decrypt(tmp_path, theirs)
    our_types = [part.split(",type:")[1].split("]")[0] for part in ours.read_text().split("ENC[")[1:]]
    their_types = [part.split(",type:")[1].split("]")[0] for part in theirs.read_text().split("ENC[")[1:]]
    assert our_types == their_types


MULTILINE = {
    "a": "x\n",
    "b": "x\n\n",
    "d": "a\nb",
    "e": "a\nb\n",
    "g": "trail \nb\n",
    "h": "a\n\nb\n",
    "i": "a\tb\nc\n",
    "k": "a\r\nb\n",
    "l": "\u00e9\n\u00fc\n",
    "n": "nel\x85here\n",
}
# A leading space or break: yaml.v3 writes `|4` / `|4+`, ruamel's indentation indicator would be wrong, so these
# are double-quoted (the same value, another style).
LEADING = {"c": "\n", "f": " lead\nb\n", "j": "\na\n"}


def test_multiline_strings_decrypt_as_sops_writes_them_and_read_back_the_same(tmp_path: Path) -> None:
    values = {**MULTILINE, **LEADING}
    text = "".join(f"{key}: {json.dumps(value)}\n" for key, value in values.items())
    text += "m:\n" + "".join(f"  - {json.dumps(value)}\n" for value in MULTILINE.values())
    sops_written = sops_encrypt(tmp_path, _write(tmp_path, "plain.yaml", text))
    expected = sops_decrypt(tmp_path, _write(tmp_path, "theirs.yaml", sops_written))
    ours = decrypt_text(sops_written, "yaml", "theirs.yaml", IDENTITIES)
    written_by_sops = load(expected, "yaml", "sops").documents[0]
    read_back = load(ours, "yaml", "ours").documents[0]
    assert {k: str(v) for k, v in read_back.items() if k != "m"} == values  # nothing lost: \r, NEL, tabs, breaks
    assert [str(v) for v in read_back["m"]] == list(MULTILINE.values())
    assert {k: str(v) for k, v in written_by_sops.items() if k != "m"} == values
    for key in LEADING:
        assert f'{key}: "' in ours
    assert _without_leading_blocks(ours) == _without_leading_blocks(expected)  # the rest byte for byte


def _without_leading_blocks(text: str) -> list[str]:
    """The text without the LEADING entries (a `key:` line and its indented block lines)."""
    out, skipping = [], False
    for line in text.splitlines():
        if line[:1] not in (" ", "") or line == "":
            skipping = line.split(":")[0] in LEADING if line else skipping
        if not skipping:
            out.append(line)
    return out
