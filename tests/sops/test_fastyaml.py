"""The libyaml fast path gives exactly what ruamel's round trip gives, or steps aside (ruamel is the oracle)."""

from __future__ import annotations

import io
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from gitops.sops import encrypt_text, fastyaml
from gitops.sops.formats import _yaml, dump, load
from gitops.sops.rendering import renderer
from tests.sops_helpers import TEST_RECIPIENT

INDENTS = [(2, 4, 2), (4, 6, 4), (2, 2, 0), (4, 4, 2)]
MACHINE_WRITTEN = "apiVersion: v1\nkind: Secret\nstringData:\n" + "".join(f"  k{i}: v-{i}\n" for i in range(50))


def _ruamel_load(text: str) -> list[Any]:
    return list(_yaml().load_all(text))


def _ruamel_dump(documents: list[Any], indent: tuple[int, int, int]) -> str:
    out = io.StringIO()
    _yaml(indent).dump_all(documents, out)
    return out.getvalue()


def _shape(node: Any) -> Any:
    """Types and values all the way down: what a later dump or tree walk can see."""
    if isinstance(node, dict):
        return ("map", type(node).__name__, [(type(k).__name__, k, _shape(v)) for k, v in node.items()])
    if isinstance(node, list):
        return ("seq", type(node).__name__, [_shape(v) for v in node])
    return (type(node).__name__, node)


SAMPLES = [
    MACHINE_WRITTEN,
    "a: 1\nb: \"x y\"\nc: 'single'\nd: |\n  literal\n  two\ne: |-\n  no newline\nf:\ng: ~\n",
    "list:\n  - one\n  - k: v\n    z: w\n  - 2024-01-02T03:04:05Z\nempty: []\nnone: {}\n",
    "---\nfirst: doc\n---\nsecond: doc\n",
    "nested:\n    deeper:\n        key: value\n    list:\n        - a\n",
    "url: https://example.org/a?b=c\nmixed: 'it''s'\nplain: a:b\n",
]
FALLBACK = {
    "comment": "a: b  # note\n",
    "anchor": "a: &x 1\nb: *x\n",
    "tag": "a: !!str 1\n",
    "flow": "a: [1, 2]\n",
    "folded": "a: >\n  fold\n  ed\n",
    "duplicate": "a: 1\na: 2\n",
    "directive": "%YAML 1.2\n---\na: b\n",
    "invalid": "a: b: c\n",
}


@pytest.mark.parametrize("text", SAMPLES)
def test_fast_load_builds_the_round_trip_tree(text: str) -> None:
    fast = fastyaml.build(text)
    assert fast is not None
    assert [_shape(d) for d in fast] == [_shape(d) for d in _ruamel_load(text)]


@pytest.mark.parametrize("indent", INDENTS)
@pytest.mark.parametrize("text", SAMPLES)
def test_fast_emit_writes_what_ruamel_writes(text: str, indent: tuple[int, int, int]) -> None:
    documents = _ruamel_load(text)
    expected = _ruamel_dump(documents, indent)
    fast = fastyaml.emit(documents, indent)
    if fast is not None:
        assert fast == expected


def test_machine_written_file_takes_both_fast_paths() -> None:
    documents = fastyaml.build(MACHINE_WRITTEN)
    assert documents is not None
    assert fastyaml.emit(documents, (2, 4, 2)) == MACHINE_WRITTEN
    ciphertext = encrypt_text(MACHINE_WRITTEN, "yaml", "bench.yaml", recipients=[TEST_RECIPIENT])
    encrypted = fastyaml.build(ciphertext)  # sops' own block (`kms: []`, `enc: |`) is inside the fast subset
    assert encrypted is not None
    assert fastyaml.emit(encrypted, (2, 4, 2)) == ciphertext == _ruamel_dump(_ruamel_load(ciphertext), (2, 4, 2))


@pytest.mark.parametrize("name", sorted(FALLBACK))
def test_what_only_ruamel_keeps_is_left_to_ruamel(name: str) -> None:
    assert fastyaml.build(FALLBACK[name]) is None


def test_comments_and_odd_scalars_are_left_to_ruamels_emitter() -> None:
    commented = _ruamel_load("a: b  # note\n")
    assert fastyaml.emit(commented, (2, 4, 2)) is None
    for awkward in ["", " lead", "trail ", "a: b", "a #b", "-", "---x", "ünï", "tab\there", "x:"]:
        assert fastyaml.emit([CommentedMap([("k", awkward)])], (2, 4, 2)) is None, awkward
    assert fastyaml.emit([CommentedMap([("k", CommentedSeq([CommentedSeq(["x"])]))])], (2, 4, 2)) is None


keys = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=8)
text_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")) | st.sampled_from("\n :#-\"'"))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text_values)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3))
documents = st.dictionaries(keys, values, min_size=1, max_size=5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, indent=st.sampled_from(INDENTS), style=st.sampled_from([None, '"', "'"]))
def test_generated_documents_agree_with_ruamel(document: dict[str, Any], indent: Any, style: str | None) -> None:
    text = yaml.safe_dump(document, default_flow_style=False, allow_unicode=True, default_style=style)
    fast = fastyaml.build(text)
    if fast is not None:
        assert [_shape(d) for d in fast] == [_shape(d) for d in _ruamel_load(text)]
    decrypted = _rendered(_ruamel_load(text)[0])  # the tree `secrets decrypt` dumps: values as sops writes them
    fast_text = fastyaml.emit([decrypted], indent)
    if fast_text is not None:
        assert fast_text == _ruamel_dump([decrypted], indent)


def _rendered(node: Any) -> Any:
    if isinstance(node, CommentedMap):
        return CommentedMap((k, _rendered(v)) for k, v in node.items())
    if isinstance(node, CommentedSeq):
        return CommentedSeq(_rendered(v) for v in node)
    return renderer("yaml")(node)


@pytest.mark.parametrize("text", ["a: [1, 2]\nm: {k: v}\n", "l:\n  - [x, y]\n  - {p: q}\n", "top: [1, x]\n"])
def test_flow_collections_a_ruamel_load_kept_are_left_to_ruamels_emitter(text: str) -> None:
    # build() refuses them, but a tree ruamel loaded (a small file, or one with comments) still reaches emit()
    documents = _ruamel_load(text)
    assert fastyaml.emit(documents, (2, 4, 2)) is None
    assert dump(load(text, "yaml", "x"), "yaml", None) == text  # decrypt, updatekeys, edit keep the flow style
