"""Property: encrypt then decrypt gives the input back, and the MAC is SHA-512 over Go's ToBytes in file order."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.sops import Scope, decrypt_text, encrypt_text, formats, parse_identities, tree
from gitops.sops.api import open_text
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, plain

IDENTITIES = parse_identities(TEST_KEY_FILE.read_text(), "test key")

# Characters a YAML stream may carry (no controls, surrogates or U+FFFE/U+FFFF); tabs and newlines are added below.
text = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.just(""),
    st.sampled_from(
        [
            "line 1\nline 2\n",
            "tab\there",
            " lead",
            "trail ",
            "# not a comment",
            "yes",
            "no",
            "on",
            "0755",
            "1.0",
            "~",
            "null",
            "2024-01-01",
            "ENC[x]",
            "héllo ✓",
            "a: b",
        ]
    ),
)
keys = text.filter(lambda k: 0 < len(k) <= 12).filter(lambda k: k != "sops")
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
documents = st.dictionaries(keys, values, min_size=1, max_size=5)


def _go_float(value: float) -> str:
    text = format(Decimal(repr(value)), "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


def reference_mac(node: Any, json_numbers: bool = False) -> bytes:
    """Independent ToBytes walk: bools title case, ints decimal, floats Go 'f' -1, nulls skipped. In JSON every
    number is a Go float64 in sops 3.11 (tests/sops/test_oracle.py checks that against the real binary)."""
    if isinstance(node, dict):
        return b"".join(reference_mac(v, json_numbers) for v in node.values())
    if isinstance(node, list):
        return b"".join(reference_mac(v, json_numbers) for v in node)
    if node is None:
        return b""
    if isinstance(node, bool):
        return b"True" if node else b"False"
    if isinstance(node, int) and not json_numbers:
        return str(node).encode()
    if isinstance(node, int | float):
        return ("-0" if str(node) == "-0.0" else _go_float(float(node))).encode()
    return node.encode()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents)
def test_round_trip_and_mac(fmt: str, document: dict[str, Any]) -> None:
    source = json.dumps(document, ensure_ascii=False)  # JSON is also YAML (flow style)
    encrypted = encrypt_text(source, fmt, "prop", recipients=[TEST_RECIPIENT], scope=Scope())
    opened = open_text(encrypted, fmt, "prop", IDENTITIES)
    mac = tree.open_mac(opened.data_key, opened.metadata.mac, opened.metadata.lastmodified, "prop")
    assert mac == hashlib.sha512(reference_mac(document, fmt == "json")).hexdigest().upper()
    decrypted = decrypt_text(encrypted, fmt, "prop", IDENTITIES)
    json_numbers = fmt == "json"
    assert _normalise(plain(formats.load(decrypted, fmt, "out").documents[0]), json_numbers) == _normalise(
        document, json_numbers
    )


def _normalise(node: Any, json_numbers: bool = False) -> Any:
    """-0.0 == 0.0 and 1 == 1.0 compare equal anyway; JSON integers come back through a Go float64."""
    if isinstance(node, dict):
        return {k: _normalise(v, json_numbers) for k, v in node.items()}
    if isinstance(node, list):
        return [_normalise(v, json_numbers) for v in node]
    if json_numbers and isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)
    return node


@settings(max_examples=30, deadline=None)
@given(document=documents)
def test_mac_only_encrypted_hashes_only_encrypted_values(document: dict[str, Any]) -> None:
    scope = Scope("encrypted_regex", "^s", mac_only_encrypted=True)
    encrypted = encrypt_text(json.dumps(document), "json", "prop", recipients=[TEST_RECIPIENT], scope=scope)
    opened = open_text(encrypted, "json", "prop", IDENTITIES)
    selected = {k: v for k, v in document.items() if k.startswith("s")}
    expected = hashlib.sha512(tree.MAC_ONLY_ENCRYPTED_INIT + _nested_selected(document, selected)).hexdigest()
    mac = tree.open_mac(opened.data_key, opened.metadata.mac, opened.metadata.lastmodified, "prop")
    assert mac == expected.upper()


def _nested_selected(document: dict[str, Any], selected: dict[str, Any]) -> bytes:
    # encrypted_regex matches any path component: the top-level key decides for the whole subtree here
    # unless a nested key starting with "s" selects a deeper value.
    out = b""
    for key, value in document.items():
        out += reference_mac(value, True) if key.startswith("s") else _selected_below(value)
    return out


def _selected_below(node: Any) -> bytes:
    if isinstance(node, dict):
        return b"".join(reference_mac(v, True) if k.startswith("s") else _selected_below(v) for k, v in node.items())
    if isinstance(node, list):
        return b"".join(_selected_below(v) for v in node)
    return b""
