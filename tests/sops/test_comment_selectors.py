"""`unencrypted_comment_regex` and `encrypted_comment_regex` against the real sops 3.11, both directions.

sops decides per value and per comment from the comments met before it at each nesting level since that level's
last value: a comment on a value's line counts for that value, a comment before a mapping key counts for the
whole subtree under it, and the next value starts afresh.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.sops import decrypt_text, encrypt_text, parse_identities, read_metadata, rotate_text
from gitops.sops.formats import load
from gitops.sops.rules import Scope
from gitops.sops.tree import walk
from tests.helpers import assert_one_line_error, run_gitops
from tests.sops.oracle import run_sops, sops_binary, sops_decrypt, sops_encrypt, sops_env
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, key_env

IDENTITIES = parse_identities(TEST_KEY_FILE.read_text(), "test key")
HIDDEN = "HIDDEN-s3ntinel"  # only in comments and values each selector must encrypt


def yaml_doc(marker: str) -> str:
    return f"""\
# top header {HIDDEN}
apiVersion: v1  # {marker} inline
kind: Secret
# {marker}
# right after the marker
metadata:
  name: x
  labels:
    # inner note
    app: web
    tier: z
stringData:
  # {marker} below
  a: one
  b: two  # trailing
  list:
    # in list
    - p
    - q  # {marker} q
    - r
  nested:
    deeper:
      k: v
    # {marker} after deeper
    other: w
  c: three
# footer
"""


def dotenv_doc(marker: str) -> str:
    return f"# head\nA=1\n# {marker}\n# more\nB=2\nC=3\n# {marker} at the end\n"


SELECTORS = ("unencrypted_comment_regex", "encrypted_comment_regex")
MARKER = {"unencrypted_comment_regex": "sops:plain", "encrypted_comment_regex": "sops:enc"}
FORMATS = {"yaml": (".yaml", yaml_doc), "dotenv": (".env", dotenv_doc)}


def _case(selector: str, fmt: str) -> tuple[str, str, Scope, str]:
    suffix, doc = FORMATS[fmt]
    return suffix, doc(MARKER[selector]), Scope(selector, MARKER[selector]), f"{selector}: {MARKER[selector]}"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _encrypted_values(text: str, fmt: str) -> list[tuple[tuple[str, ...], bool]]:
    """(key path, encrypted?) of every value in file order; comments sops writes as list items left out."""
    out = []
    for container, key, path in walk(load(text, fmt, "x").documents, "x"):
        value = str(container[key])
        if not value.endswith(",type:comment]"):
            out.append((path, value.startswith("ENC[")))
    return out


def _plaintext_comments(text: str) -> list[str]:
    """Every comment left readable (sops moves a line comment above its entry: compared as a sorted list)."""
    body = text.split("\nsops:\n")[0] if "\nsops:\n" in text else text
    found = [m[1].strip() for m in re.finditer(r"(?:^|\s)#(?!ENC\[)(.*)$", body, re.MULTILINE)]
    return sorted(found)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("selector", SELECTORS)
def test_we_encrypt_what_sops_encrypts(tmp_path: Path, selector: str, fmt: str) -> None:
    suffix, doc, scope, rule = _case(selector, fmt)
    ours = encrypt_text(doc, fmt, "in", recipients=[TEST_RECIPIENT], scope=scope)
    theirs = sops_encrypt(tmp_path, _write(tmp_path, "plain" + suffix, doc), rule)
    assert _encrypted_values(ours, fmt) == _encrypted_values(theirs, fmt)
    assert _plaintext_comments(ours) == _plaintext_comments(theirs)
    assert any(encrypted for _, encrypted in _encrypted_values(ours, fmt))  # the case is not trivial
    assert any(not encrypted for _, encrypted in _encrypted_values(ours, fmt))
    meta = read_metadata(ours, fmt, "in")
    assert meta is not None and meta.scope == scope
    assert f"{selector}{': ' if fmt == 'yaml' else '='}{MARKER[selector]}" in ours  # stored as sops stores it


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("selector", SELECTORS)
def test_sops_decrypts_ours_as_its_own(tmp_path: Path, selector: str, fmt: str) -> None:
    suffix, doc, scope, rule = _case(selector, fmt)
    ours = _write(tmp_path, "ours" + suffix, encrypt_text(doc, fmt, "in", recipients=[TEST_RECIPIENT], scope=scope))
    theirs = _write(tmp_path, "theirs" + suffix, sops_encrypt(tmp_path, _write(tmp_path, "p" + suffix, doc), rule))
    assert sops_decrypt(tmp_path, ours) == sops_decrypt(tmp_path, theirs)  # MAC verified by sops
    rotated = _write(tmp_path, "rotated" + suffix, rotate_text(ours.read_text(), fmt, "in", IDENTITIES))
    assert sops_decrypt(tmp_path, rotated) == sops_decrypt(tmp_path, theirs)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("selector", SELECTORS)
def test_we_decrypt_sops_files_as_sops_does(tmp_path: Path, selector: str, fmt: str) -> None:
    suffix, doc, scope, rule = _case(selector, fmt)
    theirs = sops_encrypt(tmp_path, _write(tmp_path, "plain" + suffix, doc), rule)
    expected = sops_decrypt(tmp_path, _write(tmp_path, "theirs" + suffix, theirs))
    assert decrypt_text(theirs, fmt, "theirs", IDENTITIES) == expected
    ours = encrypt_text(doc, fmt, "in", recipients=[TEST_RECIPIENT], scope=scope)
    assert decrypt_text(ours, fmt, "ours", IDENTITIES) == doc


@pytest.mark.parametrize("selector", SELECTORS)
def test_the_sentinel_in_comments_and_values_never_reaches_our_output(tmp_path: Path, selector: str) -> None:
    doc = yaml_doc(MARKER[selector])
    if selector == "encrypted_comment_regex":  # encrypted only after a marker
        doc = f"# {MARKER[selector]}\n" + doc
    ours = encrypt_text(doc, "yaml", "in", recipients=[TEST_RECIPIENT], scope=Scope(selector, MARKER[selector]))
    theirs = sops_encrypt(tmp_path, _write(tmp_path, "plain.yaml", doc), f"{selector}: {MARKER[selector]}")
    assert HIDDEN not in theirs
    assert HIDDEN not in ours


def test_a_regex_that_matches_a_ciphertext_is_refused_as_sops_refuses_it(tmp_path: Path) -> None:
    doc = "# note\nkey: value\n"
    with pytest.raises(GitopsError, match=r"^in: an encrypted comment matches unencrypted_comment_regex"):
        encrypt_text(doc, "yaml", "in", recipients=[TEST_RECIPIENT], scope=Scope("unencrypted_comment_regex", "AES"))
    rule = f"creation_rules:\n  - age: {TEST_RECIPIENT}\n    unencrypted_comment_regex: AES\n"
    config = _write(tmp_path, "c.yaml", rule)
    plain = _write(tmp_path, "p.yaml", doc)
    done = subprocess.run(
        [str(sops_binary()), "--config", str(config), "encrypt", str(plain)],
        env=sops_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0 and "matches UnencryptedCommentRegex" in done.stderr


def test_a_comment_selector_in_a_creation_rule_through_the_cli(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {TEST_RECIPIENT}\n    encrypted_comment_regex: sops:enc\n"
    )
    plain = _write(tmp_path, "app.yaml", "public: visible\n# sops:enc\npassword: hunter2\n")
    done = run_gitops("secrets", "encrypt", "-i", str(plain), cwd=tmp_path, env=key_env(tmp_path))
    assert done.returncode == 0, done.stderr
    text = plain.read_text()
    assert "public: visible" in text and "hunter2" not in text and "encrypted_comment_regex: sops:enc" in text
    assert run_sops(tmp_path, "decrypt", str(plain)) == "public: visible\n# sops:enc\npassword: hunter2\n"


def test_two_selectors_in_one_rule_are_refused(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - age: {TEST_RECIPIENT}\n    encrypted_comment_regex: a\n    encrypted_regex: b\n"
    )
    plain = _write(tmp_path, "app.yaml", "password: hunter2\n")
    done = run_gitops("secrets", "encrypt", "-i", str(plain), cwd=tmp_path, env=key_env(tmp_path))
    assert_one_line_error(done, "cannot use more than one of")
    assert plain.read_text() == "password: hunter2\n"


@pytest.mark.parametrize(
    ("fmt", "doc"), [("yaml", "a: 1\n# sops:enc\n# a note\n"), ("dotenv", "A=1\n# sops:enc\n# a note\n")]
)
def test_an_encrypted_comment_the_selector_no_longer_picks_stays_encrypted_as_sops_leaves_it(
    tmp_path: Path, fmt: str, doc: str
) -> None:
    suffix = FORMATS[fmt][0]
    rule = "encrypted_comment_regex: sops:enc"
    written = sops_encrypt(tmp_path, _write(tmp_path, "plain" + suffix, doc), rule)
    assert written.count("type:comment]") == 1
    unmarked = written.replace("# sops:enc\n", "", 1)  # comments are outside the MAC: still a valid file
    expected = sops_decrypt(tmp_path, _write(tmp_path, "unmarked" + suffix, unmarked))
    assert "type:comment]" in expected  # sops does not decrypt a comment its selector does not pick
    assert decrypt_text(unmarked, fmt, "unmarked", IDENTITIES) == expected
