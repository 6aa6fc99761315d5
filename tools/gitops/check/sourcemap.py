"""Source YAML: duplicate-key detection and mapping a finding (file, resource, JSON pointer) to a line.

Both read the hand-written files under base/, overlays/ and clusters/ with ruamel.yaml, which keeps the
line of every node. kustomize itself refuses duplicate keys with a message that names neither our file nor
the rule, so check scans for them before rendering.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops.check.findings import Finding, Severity
from gitops.check.rules import Rule
from gitops.manifests import Identity

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


def source_files(repo_root: Path, roots: Iterable[str] = SOURCE_ROOTS) -> list[Path]:
    """YAML files under the source trees, sorted, hidden directories skipped."""
    found: list[Path] = []
    for top in roots:
        base = repo_root / top
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(Path(dirpath) / f for f in filenames if f.endswith(YAML_SUFFIXES))
    return sorted(found)


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


def duplicate_keys_in(text: str) -> list[tuple[str, str, int, int]]:
    """(key, JSON pointer of its mapping, line, line of first occurrence) for each duplicate key."""
    yaml = YAML(typ="rt")
    out = []
    for document in yaml.compose_all(text):
        if document is None:
            continue
        for key, path, line, first in _walk(document, ()):
            out.append((key, "".join("/" + p for p in path), line, first))
    return out


def duplicate_key_findings(repo_root: Path, files: Iterable[Path] | None = None) -> list[Finding]:
    """Duplicate keys (and unparsable YAML) in the source files, as findings with file and line."""
    findings: list[Finding] = []
    for path in source_files(repo_root) if files is None else files:
        rel = path.relative_to(repo_root).as_posix() if path.is_absolute() else path.as_posix()
        try:
            text = path.read_text(encoding="utf-8")
            duplicates = duplicate_keys_in(text)
        except UnicodeDecodeError:
            findings.append(Finding(UNPARSABLE.id, Severity.ERROR, "not UTF-8 text", file=rel))
            continue
        except YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
            line = mark.line + 1 if mark is not None else None
            findings.append(Finding(UNPARSABLE.id, Severity.ERROR, f"not valid YAML: {problem}", file=rel, line=line))
            continue
        for key, where, line, first in duplicates:
            findings.append(
                Finding(
                    DUPLICATE_KEY.id,
                    Severity.ERROR,
                    f"duplicate key '{key}' (first defined on line {first})",
                    path=f"{where}/{key}",
                    file=rel,
                    line=line,
                )
            )
    return findings


class SourceMap:
    """Finds the line of a JSON pointer inside the source document of a resource (parsed files are cached)."""

    def __init__(self, repo_root: Path) -> None:
        self.repo_root = repo_root
        self._documents: dict[str, list[Any]] = {}

    def _load(self, file: str) -> list[Any]:
        cached = self._documents.get(file)
        if cached is None:
            yaml = YAML(typ="rt")
            try:
                cached = [d for d in yaml.load_all((self.repo_root / file).read_text(encoding="utf-8"))]
            except (OSError, UnicodeDecodeError, YAMLError):
                cached = []
            self._documents[file] = cached
        return cached

    def _document(self, file: str, identity: Identity | None) -> CommentedMap | None:
        documents = [d for d in self._load(file) if isinstance(d, CommentedMap)]
        if identity is None:
            return documents[0] if len(documents) == 1 else None
        same_kind = [d for d in documents if d.get("kind") == identity.kind]
        for document in same_kind:
            metadata = document.get("metadata")
            name = metadata.get("name") if isinstance(metadata, dict) else None
            # kustomize may have added a prefix, suffix or hash to the source name
            if isinstance(name, str) and name and name in identity.name:
                return document
        return same_kind[0] if len(same_kind) == 1 else None

    def line(self, file: str, identity: Identity | None, path: str) -> int | None:
        """1-based line of the deepest part of `path` present in the source, or None when not found."""
        document = self._document(file, identity)
        if document is None:
            return self._generator_line(file, path)
        node: Any = document
        line: int | None = document.lc.line + 1
        for token in _split_pointer(path):
            if isinstance(node, CommentedMap) and token in node:
                line = node.lc.key(token)[0] + 1
                node = node[token]
            elif isinstance(node, CommentedSeq) and token.isdigit() and int(token) < len(node):
                line = node.lc.item(int(token))[0] + 1
                node = node[int(token)]
            else:
                break
        return line

    def _generator_line(self, file: str, path: str) -> int | None:
        """A generated ConfigMap/Secret points at its kustomization: find the `KEY=` literal of /data/KEY."""
        tokens = _split_pointer(path)
        if len(tokens) < 2 or tokens[0] not in ("data", "stringData"):
            return None
        try:
            lines = (self.repo_root / file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError):
            return None
        needle = re.compile(rf"^\s*-\s*['\"]?{re.escape(tokens[1])}=")
        return next((number for number, text in enumerate(lines, start=1) if needle.match(text)), None)


def _split_pointer(path: str) -> list[str]:
    if not path:
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]
