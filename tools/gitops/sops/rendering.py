"""How values are written back: a decrypted value in each format as sops (yaml.v3, encoding/json) writes it,
a ciphertext as a plain scalar, and strings a flow collection cannot hold plain."""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSequence
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    PlainScalarString,
    SingleQuotedScalarString,
)

from gitops.sops.scalars import GoTime, Typed, json_number, quoted_for_yaml_1_1, resolve_plain, yaml_plain_text
from gitops.sops.tree import Render


def renderer(fmt: str) -> Render:
    """How a decrypted value is written back in this format."""
    if fmt == "yaml":
        return _yaml_value
    if fmt == "json":
        return _json_value
    return str


def _json_value(value: Any) -> Any:
    if isinstance(value, GoTime):
        return str(value)
    if isinstance(value, float):
        return json_number(value)
    return value


def ciphertext_renderer(fmt: str) -> Render:
    """ENC strings are plain scalars; ruamel would otherwise keep a replaced value's old quoting."""
    return PlainScalarString if fmt == "yaml" else str


def _literal_allowed(value: str) -> bool:
    """Whether ruamel writes `value` as a literal block that reads back the same, where libyaml (so sops) would:
    printable text, tabs and line breaks only (no CR, NEL, LS/PS or control characters; str.isprintable also
    refuses no-break and other non-ASCII spaces, which libyaml would allow: those get double quotes), no space
    before a break or at the very end, and no leading space or break (ruamel's indentation indicator for those
    is wrong: `|2` over 4 spaces)."""
    if value[0] in " \t\n" or value.endswith(" ") or " \n" in value or "\t\n" in value:
        return False
    return all(line.replace("\t", "").isprintable() for line in value.split("\n"))


def _yaml_value(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, GoTime):
        if "\n" in value:  # yaml.v3 asks for a literal block, and writes double quotes where one is not allowed
            return LiteralScalarString(value) if _literal_allowed(value) else DoubleQuotedScalarString(value)
        resolved = resolve_plain(value) if value else None
        if not isinstance(resolved, str) or isinstance(resolved, GoTime) or quoted_for_yaml_1_1(value):
            return DoubleQuotedScalarString(value)
        return value
    return Typed(yaml_plain_text(value), value)


def quote_flow_indicators(node: Any, flow: bool = False) -> None:
    """In a flow collection a plain scalar may not start with `?` or `:` (libyaml, so sops, quotes it there;
    ruamel would write `{a: ?x}` and then fail to read it back): such strings get single quotes. In block
    context they stay plain, as yaml.v3 writes them."""
    if isinstance(node, CommentedMap | CommentedSeq):
        flow = bool(node.fa.flow_style())
    if isinstance(node, MutableMapping):
        items: Any = list(node.items())
    elif isinstance(node, MutableSequence):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        if flow and type(value) in (str, PlainScalarString) and len(value) > 1 and value[0] in "?:":
            setter = dict.__setitem__ if isinstance(node, dict) else list.__setitem__
            setter(node, key, SingleQuotedScalarString(value))
        else:
            quote_flow_indicators(value, flow)
