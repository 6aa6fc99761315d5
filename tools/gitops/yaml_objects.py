"""Python objects from a composed YAML document, built without PyYAML's per-node machinery.

PyYAML's SafeConstructor builds every node through `construct_object`: a recursion guard, a memo, a generator
per mapping and sequence, a method lookup per tag. On Kubernetes files that is about a third of parsing with
libyaml. Most documents hold only plain mappings and sequences of str, null, bool and int scalars: for those
`DirectConstruction` builds the same objects directly (an alias gives the same object, as PyYAML's does).
A plain scalar's tag depends on its text alone (the loaders have no path resolvers): it is looked up once.
Any other scalar (a float, a timestamp, an octal or hex int, an explicit tag) is built by PyYAML's own method;
a document with a merge key, another collection tag, an unhashable key or very deep nesting is built again
by PyYAML whole, which also raises its own errors. tests/test_yaml_objects.py holds PyYAML as the oracle.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_TAG = "tag:yaml.org,2002:"
_STR, _NULL, _BOOL, _INT = f"{_TAG}str", f"{_TAG}null", f"{_TAG}bool", f"{_TAG}int"
_MAP, _SEQ = f"{_TAG}map", f"{_TAG}seq"
# Keys PyYAML's flatten_mapping rewrites before building a mapping.
_REWRITTEN_KEYS = frozenset({f"{_TAG}merge", f"{_TAG}value"})


class _NotDirect(Exception):
    """The document holds something only PyYAML's constructor builds as PyYAML would."""


# Plain scalars resolve to a tag by their text alone: repositories repeat the same ones (kinds, API versions,
# names), and PyYAML tries its regular expressions on each occurrence. Answers are kept, boundedly.
_PLAIN_TAGS: dict[tuple[int, str], tuple[str, bool]] = {}  # (resolver table id, text) -> (tag, Go reads alike)
_MAX_PLAIN_TAGS = 65_536

# How Go's yaml.v3 (kustomize, Flux) reads a plain scalar, where it can differ from PyYAML's YAML 1.1 reading:
# only these spellings are booleans and nulls to it (`yes`, `on` are strings), it reads sexagesimal numbers and
# some numbers PyYAML leaves as strings (`1e3`, `0o17`) differently, and writes timestamps back as RFC 3339.
_GO_BOOLS = frozenset({"true", "True", "TRUE", "false", "False", "FALSE"})
_GO_NULLS = frozenset({"", "~", "null", "Null", "NULL"})
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\Z")
# Every character a number or a timestamp can be written with: a plain string holding another is a string to Go.
_NUMBER_CHARACTERS = frozenset("0123456789abcdefABCDEFxXoO_.+-:tTzZ ")


def _go_reads_alike(value: str, tag: str) -> bool:
    """Whether yaml.v3 reads plain scalar `value` as PyYAML did (tagged `tag`); False when in doubt."""
    if tag == _STR:
        first = value[:1]
        if first and first in "0123456789+-.":
            # Two dots (a version, an address) make no number and no timestamp.
            return value.count(".") > 1 or not set(value) <= _NUMBER_CHARACTERS
        return value not in _GO_BOOLS and value not in _GO_NULLS and value != "<<"
    if tag == _BOOL:
        return value in _GO_BOOLS
    if tag == _NULL:
        return value in _GO_NULLS
    if tag == _INT:
        return _DECIMAL.match(value) is not None
    return False  # floats (kustomize writes 1.0 as 1), timestamps, merge keys


class DirectConstruction:
    """A mixin for a SafeLoader: `construct_document` builds plain documents directly (module docstring), and
    plain scalars' tags are looked up once per text. `go_differs` tells whether a plain scalar of what was read
    is one Go's YAML reads differently (see load_all)."""

    go_differs = False

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is not yaml.ScalarNode or not implicit[0] or self.yaml_path_resolvers:  # type: ignore[attr-defined]
            return super().resolve(kind, value, implicit)  # type: ignore[misc]
        key = (id(self.yaml_implicit_resolvers), value)  # type: ignore[attr-defined]
        known = _PLAIN_TAGS.get(key)
        if known is None:
            tag = super().resolve(kind, value, implicit)  # type: ignore[misc]
            known = (tag, _go_reads_alike(value, tag))
            if len(_PLAIN_TAGS) >= _MAX_PLAIN_TAGS:
                _PLAIN_TAGS.clear()
            _PLAIN_TAGS[key] = known
        if not known[1]:
            self.go_differs = True
        return known[0]

    def construct_document(self, node: Any) -> Any:
        try:
            data = _Builder(self).build(node)
        except (_NotDirect, RecursionError):
            self._reset()
            return super().construct_document(node)  # type: ignore[misc]
        self._reset()
        return data

    def _reset(self) -> None:
        """As PyYAML leaves a constructor after a document."""
        self.constructed_objects: dict[Any, Any] = {}
        self.recursive_objects: dict[Any, Any] = {}
        self.state_generators: list[Any] = []
        self.deep_construct = False


class _Builder:
    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.bool_values = loader.bool_values
        self.built: dict[int, Any] = {}  # id(collection node) -> its object: aliases share it

    def build(self, node: Any) -> Any:
        kind = node.__class__
        if kind is yaml.ScalarNode:
            return self.scalar(node)
        known = self.built.get(id(node))
        if known is not None:
            return known
        if kind is yaml.MappingNode and node.tag == _MAP:
            mapping: dict[Any, Any] = {}
            self.built[id(node)] = mapping
            for key_node, value_node in node.value:
                if key_node.tag in _REWRITTEN_KEYS:
                    raise _NotDirect
                key = self.build(key_node)
                try:
                    mapping[key] = self.build(value_node)
                except TypeError:  # an unhashable key: PyYAML names it in its error
                    raise _NotDirect from None
            return mapping
        if kind is yaml.SequenceNode and node.tag == _SEQ:
            sequence: list[Any] = []
            self.built[id(node)] = sequence
            sequence.extend(self.build(item) for item in node.value)
            return sequence
        raise _NotDirect

    def scalar(self, node: Any) -> Any:
        tag, value = node.tag, node.value
        if tag == _STR:
            return value
        if tag == _NULL:
            return None
        if tag == _BOOL:
            return self.bool_values[value.lower()]
        if tag == _INT and value.isascii() and value.isdigit() and (value[0] != "0" or value == "0"):
            return int(value)  # decimal digits only: octal, hex, sexagesimal and signs go to PyYAML
        return self.loader.construct_object(node, deep=True)


def load_all(text: str, loader: Any) -> tuple[list[Any], bool]:
    """Every document of `text` (as yaml.load_all), and whether Go's YAML reads each plain scalar alike
    (True: kustomize's output of these objects parses back to the same values)."""
    instance = loader(text)
    try:
        documents = []
        while instance.check_data():
            documents.append(instance.get_data())
        return documents, not instance.go_differs
    finally:
        instance.dispose()
