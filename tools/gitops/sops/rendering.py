"""How values are written back: a decrypted value in each format as sops (yaml.v3, encoding/json) writes it,
a ciphertext as a plain scalar, and strings a flow collection cannot hold plain."""

from __future__ import annotations

import re
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


# What a literal block may hold as ruamel writes it: printable text, tabs and line breaks (no CR, NEL or other
# control characters: libyaml's is_printable), no space before a break or at the very end (its block_allowed),
# and no leading space or break, for which ruamel writes a wrong indentation indicator (`|2` over 4 spaces).
_PRINTABLE_NOT_BLANK = r"\x21-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff"
_LITERAL = re.compile(f"[{_PRINTABLE_NOT_BLANK}][{_PRINTABLE_NOT_BLANK} \t\n]*")


def _yaml_value(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, GoTime):
        if "\n" in value:  # yaml.v3 asks for a literal block, and writes double quotes where one is not allowed
            literal = _LITERAL.fullmatch(value) and not value.endswith(" ") and not re.search(r"[ \t]\n", value)
            return LiteralScalarString(value) if literal else DoubleQuotedScalarString(value)
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
