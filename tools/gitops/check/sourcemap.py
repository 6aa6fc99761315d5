"""The source index: every hand-written file under base/, overlays/ and clusters/, read and parsed once per run.

One libyaml pass per YAML file yields both the node tree (duplicate keys, the line of a JSON pointer) and the
data (the secret gate's documents). kustomize itself refuses duplicate keys with a message that names neither
our file nor the rule, so check reports them, with their lines, before rendering.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops.bounded_yaml import refuse_alias_bombs
from gitops.check.findings import Finding, Severity
from gitops.check.rules import Rule
from gitops.errors import GitopsError
from gitops.manifests import Identity, source_loader

SOURCE_ROOTS = ("base", "overlays", "clusters")
YAML_SUFFIXES = (".yaml", ".yml")
AREA = "Source files"

DUPLICATE_KEY = Rule(
    "SCHEMA-DUPLICATE-KEY",
    Severity.ERROR,
    "Duplicate key in source YAML",
    "YAML parsers disagree on duplicate keys: some keep the last value, kustomize refuses the file. Either way"
    " one of the two values is not what the author meant.",
    area=AREA,
)
UNPARSABLE = Rule(
    "SCHEMA-YAML",
    Severity.ERROR,
    "Source file is not valid YAML",
    "A source file that does not parse cannot render; reported with its line instead of kustomize's message.",
    area=AREA,
)
RULES = (DUPLICATE_KEY, UNPARSABLE)


@dataclass
class SourceFile:
    """One source file as read once: its text and, for YAML, (node, data) per non-empty document."""

    rel: str
    text: str | None
    """None when the file is not UTF-8 text."""
    documents: list[tuple[Node, Any]] = field(default_factory=list)
    problem: Finding | None = None
    """SCHEMA-YAML when the file does not parse (then `documents` is empty)."""


def _key_identity(node: Node) -> tuple[str, str] | None:
    if isinstance(node, ScalarNode):
        return (str(node.tag), str(node.value))
    return None  # complex keys do not occur in Kubernetes YAML; never report them


def _walk(node: Node, path: tuple[str, ...]) -> Iterator[tuple[str, tuple[str, ...], int, int]]:
    """(key, path of the mapping, line, first line) for every repeated key below `node` (lines 1-based)."""
    if isinstance(node, MappingNode):
        seen: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            identity = _key_identity(key_node)
            name = str(key_node.value) if isinstance(key_node, ScalarNode) else "?"
            if identity is not None and identity[1] != "<<":
                line = key_node.start_mark.line + 1
                if identity in seen:
                    yield name, path, line, seen[identity]
                else:
                    seen[identity] = line
            yield from _walk(value_node, (*path, name))
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, str(index)))


def parse_documents(text: str) -> list[tuple[Node, Any]]:
    """(node, data) of every non-empty document, from one libyaml pass. Raises yaml.YAMLError."""
    loader = source_loader(text)(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                documents.append((node, loader.construct_document(node)))
    finally:
        loader.dispose()
    return documents


def duplicate_keys(documents: list[tuple[Node, Any]]) -> list[tuple[str, str, int, int]]:
    """(key, JSON pointer of its mapping, line, line of first occurrence) for each duplicate key."""
    out = []
    for node, _ in documents:
        for key, path, line, first in _walk(node, ()):
            out.append((key, "".join("/" + p for p in path), line, first))
    return out


def duplicate_keys_in(text: str) -> list[tuple[str, str, int, int]]:
    return duplicate_keys(parse_documents(text))


def read_source(root: Path, rel: str) -> SourceFile:
    """Read (and, for YAML, parse) one file; problems become a SCHEMA-YAML finding, never an exception."""
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return SourceFile(rel, None, problem=Finding(UNPARSABLE.id, Severity.ERROR, "not UTF-8 text", file=rel))
    except OSError:
        return SourceFile(rel, None)
    if not rel.endswith(YAML_SUFFIXES):
        return SourceFile(rel, text)
    try:
        refuse_alias_bombs(text, rel)  # every rule walks the constructed data, where aliases are expanded
    except GitopsError as exc:
        return SourceFile(rel, text, problem=Finding(UNPARSABLE.id, Severity.ERROR, str(exc), file=rel))
    try:
        return SourceFile(rel, text, parse_documents(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        line = mark.line + 1 if mark is not None else None
        finding = Finding(UNPARSABLE.id, Severity.ERROR, f"not valid YAML: {problem}", file=rel, line=line)
        return SourceFile(rel, text, problem=finding)


class SourceIndex:
    """The files of one check run: listed once, each read and parsed at most once, shared by the duplicate-key
    scan, the secret gate and the line lookup of findings."""

    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self._files: dict[str, SourceFile] = {}
        self._listing: list[str] | None = None

    def listing(self) -> list[str]:
        """Repository-relative paths of every file under the source trees, sorted; hidden directories skipped."""
        if self._listing is None:
            found: list[str] = []
            for top in SOURCE_ROOTS:
                for dirpath, dirnames, filenames in os.walk(self.repo_root / top):
                    dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                    rel_dir = Path(dirpath).relative_to(self.repo_root).as_posix()
                    found.extend(f"{rel_dir}/{name}" for name in filenames)
            self._listing = sorted(found)
        return self._listing

    def get(self, rel: str) -> SourceFile:
        cached = self._files.get(rel)
        if cached is None:
            cached = self._files[rel] = read_source(self.repo_root, rel)
        return cached

    def yaml_files(self) -> Iterator[SourceFile]:
        return (self.get(rel) for rel in self.listing() if rel.endswith(YAML_SUFFIXES))

    def findings(self) -> list[Finding]:
        """Duplicate keys and unparsable YAML in the source files, with file and line."""
        findings: list[Finding] = []
        for source in self.yaml_files():
            if source.problem is not None:
                findings.append(source.problem)
            for key, where, line, first in duplicate_keys(source.documents):
                message = f"duplicate key '{key}' (first defined on line {first})"
                findings.append(
                    Finding(
                        DUPLICATE_KEY.id, Severity.ERROR, message, path=f"{where}/{key}", file=source.rel, line=line
                    )
                )
        return findings

    def _document(self, file: str, identity: Identity | None) -> Node | None:
        documents = [(n, d) for n, d in self.get(file).documents if isinstance(n, MappingNode) and isinstance(d, dict)]
        if identity is None:
            return documents[0][0] if len(documents) == 1 else None
        same_kind = [(n, d) for n, d in documents if d.get("kind") == identity.kind]
        for node, data in same_kind:
            metadata = data.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            # kustomize may have added a prefix, suffix or hash to the source name
            if isinstance(name, str) and name and name in identity.name:
                return node
        return same_kind[0][0] if len(same_kind) == 1 else None

    def line(self, file: str, identity: Identity | None, path: str) -> int | None:
        """1-based line of the deepest part of `path` present in the source, or None when not found."""
        node = self._document(file, identity)
        if node is None:
            return self._generator_line(file, path)
        return pointer_line(node, split_pointer(path))

    def _generator_line(self, file: str, path: str) -> int | None:
        """A generated ConfigMap/Secret points at its kustomization: find the `KEY=` literal of /data/KEY."""
        tokens = split_pointer(path)
        text = self.get(file).text
        if len(tokens) < 2 or tokens[0] not in ("data", "stringData") or text is None:
            return None
        return generator_literal_line(text, tokens[1])


def pointer_line(node: Node, tokens: list[str]) -> int | None:
    """1-based line of the deepest part of the pointer `tokens` under `node`."""
    line: int | None = node.start_mark.line + 1
    for token in tokens:
        if isinstance(node, MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == token), None)
            if pair is None:
                break
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, SequenceNode) and token.isdigit() and int(token) < len(node.value):
            node = node.value[int(token)]
            line = node.start_mark.line + 1
        else:
            break
    return line


def generator_literal_line(text: str, key: str) -> int | None:
    """The line of a generator literal `- KEY=value` in a kustomization's text."""
    needle = re.compile(rf"^\s*-\s*['\"]?{re.escape(key)}=")
    return next((number for number, line in enumerate(text.splitlines(), start=1) if needle.match(line)), None)


def split_pointer(path: str) -> list[str]:
    if not path:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
