"""The YAML fast path: libyaml parsing into the tree ruamel's round trip builds, and a direct emitter.

ruamel's pure-Python scanner and emitter handle a file character by character: on a 5,000-value file they were
nine tenths of a `secrets decrypt` or `encrypt`. libyaml's parser reports each scalar's style, which is all the
round trip keeps when a file has no comments (libyaml drops them) and none of anchors, aliases, explicit tags,
non-empty flow collections, directives or folded scalars. The emitter writes block mappings and sequences of
scalars whose rendering is beyond doubt. Outside those subsets `build` and `emit` answer None and the caller uses
ruamel, so the bytes are never different, only sooner (tests/sops/test_fastyaml.py holds ruamel as the oracle).
"""

from __future__ import annotations

import re
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    PlainScalarString,
    SingleQuotedScalarString,
)

from gitops.sops.scalars import GoTime, Typed

# Below this size ruamel parses a file in less time than importing PyYAML takes (measured: a 2.5 kB Secret
# parses in ~5 ms, the import costs ~13 ms of CPU): callers leave smaller files to ruamel.
LIBYAML_MIN_CHARS = 4096

_STYLED = {
    '"': DoubleQuotedScalarString,
    "'": SingleQuotedScalarString,
    "|": LiteralScalarString,
}


class _Unsuitable(Exception):
    """The file holds something only ruamel's round trip keeps as it was."""


def build(text: str) -> list[Any] | None:
    """The documents of `text` as ruamel's round-trip loader (with preserve_quotes and every plain scalar kept
    as text) would return them, or None when this file needs ruamel itself (comments, anchors, tags, flow
    style with items, folded scalars, directives, duplicate keys, or a syntax error: ruamel words the error)."""
    if "#" in text:
        return None
    try:
        from yaml import YAMLError, events
        from yaml._yaml import CParser
    except ImportError:  # PyYAML built without libyaml: ruamel does all the work
        return None
    parser = CParser(text)
    try:
        documents = _stream(parser, events)
    except (_Unsuitable, YAMLError):
        return None
    finally:
        parser.dispose()
    return documents


def _stream(parser: Any, events: Any) -> list[Any]:
    documents: list[Any] = []
    parser.get_event()  # StreamStart
    while True:
        event = parser.get_event()
        if isinstance(event, events.StreamEndEvent):
            return documents
        if event.version is not None or event.tags:
            raise _Unsuitable
        documents.append(_node(parser, parser.get_event(), events))
        parser.get_event()  # DocumentEnd


def _node(parser: Any, event: Any, events: Any) -> Any:
    if isinstance(event, events.AliasEvent) or event.anchor is not None or event.tag is not None:
        raise _Unsuitable  # an explicit tag: ruamel's constructors decide what it becomes
    if isinstance(event, events.ScalarEvent):
        if event.style == ">":
            raise _Unsuitable  # ruamel keeps where a folded scalar's lines broke, libyaml only the value
        return _STYLED[event.style](event.value) if event.style else event.value
    if isinstance(event, events.SequenceStartEvent):
        seq = CommentedSeq()
        if event.flow_style:
            return _empty_flow(parser, seq, events.SequenceEndEvent)
        while not isinstance(item := parser.get_event(), events.SequenceEndEvent):
            seq.append(_node(parser, item, events))
        return seq
    mapping = CommentedMap()
    if event.flow_style:
        return _empty_flow(parser, mapping, events.MappingEndEvent)
    while not isinstance(key_event := parser.get_event(), events.MappingEndEvent):
        key = _node(parser, key_event, events)
        if not isinstance(key, str) or key in mapping:
            raise _Unsuitable  # complex or duplicate keys: ruamel's wording for the error
        mapping[key] = _node(parser, parser.get_event(), events)
    return mapping


def _empty_flow(parser: Any, container: Any, end: type) -> Any:
    """`[]` and `{}` (sops writes `kms: []`); a flow collection with items keeps more layout than its style."""
    if not isinstance(parser.get_event(), end):
        raise _Unsuitable
    container.fa.set_flow_style()
    return container


# What ruamel's emitter writes as a plain scalar without a second look: no indicator first, no ": " or " #",
# no space at either end, printable ASCII only. Anything else goes through ruamel's own analysis.
_PLAIN = re.compile(r"(?![-?:](?:[ ]|$)|---|\.\.\.)[A-Za-z0-9_./+~=()\-?:^$][\x20-\x7e]*")
_QUOTABLE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")  # printable ASCII but " and \\: no escapes
_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_PLAIN_TYPES = (str, PlainScalarString, Typed, GoTime)
_SIMPLE_KEY_LIMIT = 128  # longer keys are written as `? key` (emitter.check_simple_key)


def emit(documents: list[Any], indent: tuple[int, int, int]) -> str | None:
    """The text ruamel's `dump_all` writes for these documents with this (mapping, sequence, offset) indent, or
    None when they hold anything beyond block mappings and sequences of simple scalars without comments."""
    mapping, sequence, offset = indent
    if sequence != offset + 2:
        return None
    out: list[str] = []
    try:
        for number, document in enumerate(documents):
            if number:
                out.append("---\n")
            if not isinstance(document, CommentedMap) or not document:
                raise _Unsuitable
            _mapping(document, 0, mapping, offset, out)
    except _Unsuitable:
        return None
    return "".join(out)


def _uncommented(node: Any) -> None:
    """Refuse what only ruamel writes as it was: comments, merge keys, and flow style with items (a tree ruamel
    loaded, not `build`, may hold `[1, 2]`)."""
    if node.ca.comment or node.ca.items or node.ca.end or getattr(node, "merge", None) or node.fa.flow_style():
        raise _Unsuitable


def _mapping(node: CommentedMap, column: int, step: int, offset: int, out: list[str], first: str = "") -> None:
    _uncommented(node)
    pad = " " * column
    for number, (key, value) in enumerate(node.items()):
        prefix = first if number == 0 and first else pad
        out.append(f"{prefix}{_key(key)}:")
        _value(value, column, step, offset, out)


def _value(value: Any, column: int, step: int, offset: int, out: list[str]) -> None:
    if isinstance(value, CommentedMap | CommentedSeq):
        if not value:  # a block collection cannot be empty: ruamel writes the flow form whatever the style
            out.append(" {}\n" if isinstance(value, CommentedMap) else " []\n")
        elif isinstance(value, CommentedMap):
            out.append("\n")
            _mapping(value, column + step, step, offset, out)
        else:
            out.append("\n")
            _sequence(value, column + offset, step, offset, out)
    elif type(value) is LiteralScalarString:
        out.append(_literal(value, column + step))
    else:
        text = _scalar(value)
        out.append(f" {text}\n" if text else "\n")


def _sequence(node: CommentedSeq, column: int, step: int, offset: int, out: list[str]) -> None:
    _uncommented(node)
    dash = " " * column + "- "
    for item in node:
        if isinstance(item, CommentedMap) and item:
            _mapping(item, column + 2, step, offset, out, first=dash)
        elif isinstance(item, CommentedMap | CommentedSeq) or type(item) is LiteralScalarString:
            raise _Unsuitable  # ruamel's layouts for these inside a sequence are its own
        else:
            text = _scalar(item)
            if not text:
                raise _Unsuitable
            out.append(f"{dash}{text}\n")


def _key(key: Any) -> str:
    if len(key) >= _SIMPLE_KEY_LIMIT or type(key) not in (str, DoubleQuotedScalarString):
        raise _Unsuitable
    text = _scalar(key)
    if not text:
        raise _Unsuitable
    return text


def _scalar(value: Any) -> str:
    """A scalar's text, "" for a null written as nothing."""
    kind = type(value)
    if kind is DoubleQuotedScalarString:
        if _QUOTABLE.fullmatch(value) is None:
            raise _Unsuitable
        return f'"{value}"'
    if kind not in _PLAIN_TYPES:
        raise _Unsuitable
    if value == "" and kind is Typed:
        return ""  # a null written as nothing (`key:`)
    if _PLAIN.fullmatch(value) is None or value.endswith((":", " ")) or ": " in value or " #" in value:
        raise _Unsuitable
    return str(value)


def _literal(value: str, column: int) -> str:
    body = value[:-1] if value.endswith("\n") else value
    lines = body.split("\n")
    if not lines[0] or body.endswith("\n") or any(line[:1] == " " or line.endswith(" ") for line in lines):
        raise _Unsuitable  # keep (|+), indentation indicators and trailing spaces are ruamel's to write
    if any(_PRINTABLE.fullmatch(line) is None for line in lines):
        raise _Unsuitable
    pad = " " * column
    chomp = "" if value.endswith("\n") else "-"
    return f" |{chomp}\n" + "".join(f"{pad}{line}\n" if line else "\n" for line in lines)
