"""Generated documents through ours and the real sops, both directions (hypothesis)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops.sops import decrypt_text, encrypt_text
from gitops.sops.formats import load
from tests.sops.oracle import sops_decrypt, sops_encrypt
from tests.sops.test_oracle import IDENTITIES
from tests.sops_helpers import TEST_RECIPIENT, plain

keys = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=6)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**31), max_value=2**31),
    st.floats(allow_nan=False, allow_infinity=False, width=32).filter(lambda f: f == 0 or 1e-5 < abs(f) < 1e15),
    st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=12),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))
documents = st.dictionaries(keys, values, min_size=1, max_size=5)
SUFFIX = {"yaml": ".yaml", "json": ".json"}


def _numbers_as_float(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _numbers_as_float(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_numbers_as_float(v) for v in node]
    if isinstance(node, int | float) and not isinstance(node, bool):
        return float(node)
    return node


def _tree(text: str, fmt: str) -> Any:
    return _numbers_as_float([plain(d) for d in load(text, fmt, "x").documents])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, fmt=st.sampled_from(["yaml", "json"]))
def test_both_directions_agree_with_sops(document: dict[str, Any], fmt: str) -> None:
    text = json.dumps(document, ensure_ascii=False) + "\n"  # JSON is YAML too (flow style)
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        ours = home / ("ours" + SUFFIX[fmt])
        ours.write_text(encrypt_text(text, fmt, "gen", recipients=[TEST_RECIPIENT]), encoding="utf-8")
        theirs_plain = home / ("plain" + SUFFIX[fmt])
        theirs_plain.write_text(text, encoding="utf-8")
        theirs = sops_encrypt(home, theirs_plain)
        theirs_round_trip = sops_decrypt(home, _write(home, "theirs" + SUFFIX[fmt], theirs))
        assert sops_decrypt(home, ours) == theirs_round_trip
        assert _tree(decrypt_text(theirs, fmt, "gen", IDENTITIES), fmt) == _tree(theirs_round_trip, fmt)


def _write(home: Path, name: str, text: str) -> Path:
    path = home / name
    path.write_text(text, encoding="utf-8")
    return path
