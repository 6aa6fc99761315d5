"""File formats sops stores: YAML (multi-document, ruamel round trip keeping order and comments), JSON, dotenv.

YAML is loaded with every plain scalar kept as text, then typed by yaml.v3's rules (scalars.resolve_plain), so
unencrypted values are written back exactly as they were and the MAC sees the bytes Go would.
"""

from __future__ import annotations

import copy
import io
import itertools
import json
import re
from collections.abc import MutableMapping, MutableSequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.scalarstring import (
    DoubleQuotedScalarString,
    LiteralScalarString,
    PlainScalarString,
)

from gitops.bounded_yaml import refuse_alias_bombs
from gitops.errors import GitopsError
from gitops.sops import fastyaml
from gitops.sops.metadata import (
    OTHER_KEY_TYPES,
    Metadata,
    flatten_for_dotenv,
    metadata_fields,
    parse_metadata,
    unflatten_dotenv,
)
from gitops.sops.rendering import quote_flow_indicators
from gitops.sops.scalars import (
    GoTime,
    JsonInt,
    Typed,
    resolve_plain,
    yaml_plain_text,
)
from gitops.sops.tree import Comment

FORMATS = ("yaml", "json", "dotenv", "binary")
_EXTENSIONS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".env": "dotenv"}
# Marker Flux's kustomize-controller looks for before it decrypts a file (sopsFormatToMarkerBytes).
MARKERS = {"yaml": "mac: ENC[", "json": '"mac": "ENC[', "dotenv": "sops_mac=ENC[", "binary": '"mac": "ENC['}
# sops' binary store: the whole file is the one string value `data`; encrypted, it is a JSON file.
BINARY_KEY = "data"


def format_for(path: str, override: str | None = None) -> str:
    if override:
        if override not in FORMATS:
            raise GitopsError(f"{path}: unknown input type {override!r} (use yaml, json, dotenv or binary)")
        return override
    suffix = "." + path.rsplit(".", 1)[-1].lower() if "." in path else ""
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise GitopsError(f"{path}: cannot tell the format from the extension (use --input-type)") from None


@dataclass
class Parsed:
    documents: list[Any]
    metadata: Any = None
    """The raw `sops` mapping of the first document (None when the file is not encrypted)."""
    layout: list[tuple[str, str]] = field(default_factory=list)
    """dotenv only: ("comment", text) and ("key", name) lines in file order."""
    indent: tuple[int, int, int] = (2, 4, 2)
    """YAML only: ruamel's (mapping, sequence, offset) indentation, as found in the file (sops writes 4s)."""


class _TextResolver(VersionedResolver):
    """Every implicit (plain) scalar stays a string; scalars.resolve_plain types it the yaml.v3 way."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is ScalarNode and implicit[0]:
            return self.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)


class _Representer(RoundTripRepresenter):
    pass


def _represent_text(representer: Any, data: str) -> Any:
    return representer.represent_scalar("tag:yaml.org,2002:str", str(data))


for _cls in (Typed, GoTime, Comment):
    _Representer.add_representer(_cls, _represent_text)


def _yaml(indent: tuple[int, int, int] = (2, 4, 2)) -> YAML:
    y = YAML(typ="rt")
    y.Resolver = _TextResolver
    y.Representer = _Representer
    y.preserve_quotes = True
    y.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
    y.width = 1 << 20
    return y


def load(text: str, fmt: str, source: str) -> Parsed:
    if fmt == "yaml":
        return _load_yaml(text, source)
    if fmt == "json":
        return _load_json(text, source)
    if fmt == "binary":
        return _load_binary(text, source)
    return _load_dotenv(text, source)


def _load_yaml(text: str, source: str) -> Parsed:
    refuse_alias_bombs(text, source)  # the tree is walked value by value, aliases expanded
    raw_docs = fastyaml.build(text) if len(text) >= fastyaml.LIBYAML_MIN_CHARS else None
    if raw_docs is None:
        try:
            raw_docs = list(_yaml().load_all(text))
        except YAMLError as exc:
            raise GitopsError(f"{source}: not valid YAML: {_first_line(exc)}") from None
    documents = []
    for doc in raw_docs:
        if doc is None:
            continue
        if not isinstance(doc, CommentedMap):
            raise GitopsError(f"{source}: YAML documents that are sequences or values are not supported")
        documents.append(_type_plain_scalars(doc, source, set()))
    return Parsed(documents, _pop_metadata(documents), indent=_indentation(text))


_KEY_LINE = re.compile(r"^( *)[^\s#-][^:#]*:\s*(#.*)?$")


def _indentation(text: str) -> tuple[int, int, int]:
    """The (mapping, sequence, offset) indentation of the first nested block of each kind, so that a rewrite
    (updatekeys, rotate, edit) keeps a sops-written 4-space file at 4 spaces."""
    mapping: int | None = None
    offset: int | None = None
    lines = text.splitlines()
    for previous, line in itertools.pairwise(lines):
        parent = _KEY_LINE.match(previous)
        if parent is None or not line.strip() or line.lstrip().startswith("#"):
            continue
        column = len(line) - len(line.lstrip(" "))
        if line.lstrip().startswith("- "):
            if offset is None and column >= len(parent[1]):
                offset = column - len(parent[1])
        elif mapping is None and column > len(parent[1]):
            mapping = column - len(parent[1])
        if mapping is not None and offset is not None:
            break
    mapping = mapping or 2
    offset = mapping if offset is None else offset
    return mapping, offset + 2, offset


def _first_line(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200]


def _type_plain_scalars(node: Any, source: str, seen: set[int]) -> Any:
    if isinstance(node, CommentedMap | CommentedSeq):
        if id(node) in seen or node.yaml_anchor() is not None:
            raise GitopsError(f"{source}: YAML anchors and aliases are not supported")
        seen.add(id(node))
        keys = node.keys() if isinstance(node, CommentedMap) else range(len(node))
        for key in list(keys):
            node[key] = _type_plain_scalars(node[key], source, seen)
        return node
    if type(node) is str:
        value = resolve_plain(node)
        return node if isinstance(value, str) and not isinstance(value, GoTime) else Typed(node, value)
    anchor = getattr(node, "yaml_anchor", None)
    if callable(anchor) and anchor() is not None:
        raise GitopsError(f"{source}: YAML anchors and aliases are not supported")
    return node


def _pop_metadata(documents: list[Any]) -> Any:
    metadata = documents[0].get("sops") if documents else None
    for doc in documents:
        doc.pop("sops", None)
    return metadata


def _load_json(text: str, source: str) -> Parsed:
    try:
        doc = json.loads(text, parse_int=lambda digits: JsonInt(int(digits)))
    except json.JSONDecodeError as exc:
        raise GitopsError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict):
        raise GitopsError(f"{source}: the top level of a JSON file must be an object")
    return Parsed([doc], doc.pop("sops", None))


def _load_binary(text: str, source: str) -> Parsed:
    """A sops binary-store file when it is a JSON object with a `sops` block, else the plaintext to wrap."""
    if text.lstrip().startswith("{"):
        try:
            encrypted = _load_json(text, source)
        except GitopsError:
            encrypted = None
        if encrypted is not None and encrypted.metadata is not None:
            if not isinstance(encrypted.documents[0].get(BINARY_KEY), str):
                raise GitopsError(f"{source}: a sops binary file holds its data as the string `{BINARY_KEY}`")
            return encrypted
    return Parsed([{BINARY_KEY: text}])


def _load_dotenv(text: str, source: str) -> Parsed:
    values: dict[str, str] = {}
    metadata: dict[str, str] = {}
    layout: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line:
            continue
        if line.startswith("#"):
            layout.append(("comment", line[1:]))
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise GitopsError(f"{source}: line {number} is not a KEY=VALUE line")
        value = value.replace("\\n", "\n")
        if name.startswith("sops_"):
            metadata[name[len("sops_") :]] = value
        else:
            values[name] = value
            layout.append(("key", name))
    return Parsed([values], unflatten_dotenv(metadata) if metadata else None, layout)


def dump(parsed: Parsed, fmt: str, meta: Metadata | None) -> str:
    """The file text. A file that had a sops block keeps it with only what changed replaced (keys, lastmodified,
    MAC): its key order, quoting and `version` stay, so a rewrite is a small diff."""
    if fmt == "yaml":
        return _dump_yaml(parsed, meta)
    if fmt == "json" or (fmt == "binary" and meta is not None):
        return _dump_json(parsed, meta)
    if fmt == "binary":
        return str(parsed.documents[0][BINARY_KEY])
    return _dump_dotenv(parsed, meta)


def _dump_yaml(parsed: Parsed, meta: Metadata | None) -> str:
    for doc in parsed.documents:
        _restore_sequence_comments(doc)
        quote_flow_indicators(doc)
        if meta is not None:
            doc["sops"] = _yaml_metadata(meta) if parsed.metadata is None else _update_yaml_block(parsed.metadata, meta)
    fast = fastyaml.emit(parsed.documents, parsed.indent)
    if fast is not None:
        return fast
    out = io.StringIO()
    _yaml(parsed.indent).dump_all(parsed.documents, out)
    return out.getvalue()


def _update_yaml_block(raw: Any, meta: Metadata) -> CommentedMap:
    fresh = _yaml_metadata(meta)
    if bool(raw.get("key_groups")) != bool(meta.groups):
        return fresh  # flat <-> several groups: sops' own layout for the new one (its version kept in meta)
    block = copy.deepcopy(raw)
    if meta.groups:
        if _new_shares(raw, meta):  # updatekeys, rotate; an edit keeps the groups as they are
            block["shamir_threshold"] = fresh["shamir_threshold"]
            block["key_groups"] = fresh["key_groups"]
    else:
        for name in OTHER_KEY_TYPES:
            if block.get(name):  # their stanzas wrap a data key we did not write: only age is kept current
                del block[name]
        block["age"] = fresh["age"]
    for key in ("lastmodified", "mac"):
        old = block.get(key)
        same_style = type(old) if isinstance(old, DoubleQuotedScalarString | PlainScalarString) else None
        block[key] = same_style(fresh[key]) if same_style else fresh[key]
    return block


def _new_shares(raw: Any, meta: Metadata) -> bool:
    """Whether the key groups in `meta` differ from the ones the file's block holds."""
    return parse_metadata(raw, "sops block").groups != meta.groups or str(raw.get("shamir_threshold")) != str(
        meta.threshold
    )


def _yaml_metadata(meta: Metadata) -> CommentedMap:
    block = CommentedMap()
    for key, value in metadata_fields(meta, empty_lists=True):
        if key == "key_groups":
            block[key] = CommentedSeq([CommentedMap([("age", _stanza_seq(group["age"]))]) for group in value])
        elif isinstance(value, list):
            block[key] = _stanza_seq(value)
        elif key == "lastmodified":
            block[key] = DoubleQuotedScalarString(value)
        elif isinstance(value, bool | int):
            block[key] = Typed(yaml_plain_text(value), value)
        else:
            block[key] = value
    return block


def _stanza_seq(entries: list[dict[str, str]]) -> CommentedSeq:
    seq = CommentedSeq()
    for entry in entries:
        item = CommentedMap()
        item["recipient"] = entry["recipient"]
        item["enc"] = LiteralScalarString(entry["enc"])
        seq.append(item)
    return seq


def _restore_sequence_comments(node: Any) -> None:
    """Decrypted sequence comments go back to being YAML comments (they were never list items)."""
    if isinstance(node, MutableMapping):
        for value in node.values():
            _restore_sequence_comments(value)
    elif isinstance(node, MutableSequence):
        for index in reversed(range(len(node))):
            item = node[index]
            if isinstance(item, Comment):
                del node[index]
                if isinstance(node, CommentedSeq) and index < len(node):
                    # at the column of the list's dashes, where sops (yaml.v3) writes it
                    column = node.lc.col if isinstance(node.lc.col, int) else 0
                    node.yaml_set_comment_before_after_key(index, before=str(item).lstrip(), indent=column)
            else:
                _restore_sequence_comments(item)


def _dump_json(parsed: Parsed, meta: Metadata | None) -> str:
    body = dict(parsed.documents[0])
    if meta is not None:
        fresh = {k: (v if v != [] else None) for k, v in metadata_fields(meta, empty_lists=True)}
        old = parsed.metadata
        if isinstance(old, dict) and bool(old.get("key_groups")) == bool(meta.groups):
            if meta.groups:
                changed = ("shamir_threshold", "key_groups") if _new_shares(old, meta) else ()
                fresh = dict(old) | {key: fresh[key] for key in ("lastmodified", "mac", *changed)}
            else:
                kept = {k: v for k, v in old.items() if not (k in OTHER_KEY_TYPES and v)}
                fresh = kept | {key: fresh[key] for key in ("age", "lastmodified", "mac")}
        body["sops"] = fresh
    return json.dumps(body, indent="\t", ensure_ascii=False)


def _dump_dotenv(parsed: Parsed, meta: Metadata | None) -> str:
    values = parsed.documents[0]
    lines = []
    for kind, text in parsed.layout:
        if kind == "comment":
            lines.append(f"#{text}")
        elif text in values:
            lines.append(f"{text}={_dotenv_value(values[text])}")
    if meta is not None:
        lines += [f"{key}={_dotenv_value(value)}" for key, value in flatten_for_dotenv(meta)]
    return "".join(line + "\n" for line in lines)


def _dotenv_value(value: Any) -> str:
    if not isinstance(value, str):
        raise GitopsError(f"cannot use complex value in dotenv file: {type(value).__name__}")
    return value.replace("\n", "\\n")


def has_marker(text: str, fmt: str) -> bool:
    """Whether Flux's kustomize-controller would recognise this file as sops-encrypted."""
    return MARKERS[fmt] in text
