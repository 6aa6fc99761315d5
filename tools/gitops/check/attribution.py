"""Which file sets a value: findings move from a resource's origin to the overlay file that changed the value.

kustomize's origin annotation names the file a resource came from (often under base/), and its transformer
annotations (v5.5) name only the kustomization that ran a patch, not the patch, and list every patch on every
resource. So the patch is found here: among the files the target reads, a strategic-merge patch of the same
kind and name holding the finding's whole JSON pointer, or a kustomization with a generator literal `KEY=`
for a ConfigMap/Secret key, set the value; the one closest to the target (applied last) wins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gitops.check.findings import Finding
from gitops.check.sourcemap import SourceIndex, generator_literal_line, split_pointer
from gitops.errors import GitopsError
from gitops.manifests import Identity, Manifest
from gitops.targets import Tree

TargetInputs = Callable[[str], set[str]]
"""Render target -> repository-relative files its build reads."""
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def attribute_to_setters(
    sources: SourceIndex, findings: Iterable[Finding], manifests: Iterable[Manifest], inputs: TargetInputs
) -> list[Finding]:
    """`findings` with `file` (and `line`) moved to the overlay file that sets the value, where one does."""
    bodies = {(m.target, m.identity): m.body for m in manifests}
    out = []
    cache: dict[str, list[str]] = {}
    for finding in findings:
        if finding.target and finding.file and finding.identity is not None and finding.path:
            if finding.target not in cache:
                cache[finding.target] = _closest_first(finding.target, inputs(finding.target))
            body = bodies.get((finding.target, finding.identity))
            setter = _setter(sources, cache[finding.target], finding, body)
            if setter is not None:
                finding = replace(finding, file=setter[0], line=setter[1])
        out.append(finding)
    return out


def target_inputs(tree: Tree, target: str) -> set[str]:
    """The files a target's build reads, repository-relative; none for a target the walk cannot read."""
    try:
        return {tree.rel(path) for path in tree.inputs(tree.root / target)}
    except GitopsError:
        return set()


def _closest_first(target: str, files: set[str]) -> list[str]:
    """The target's own files first, then deeper directories before shallower ones (overlays before bases)."""

    def rank(rel: str) -> tuple[int, int, str]:
        return (0 if rel.startswith(target + "/") else 1, -rel.count("/"), rel)

    return sorted(files, key=rank)


def _setter(
    sources: SourceIndex, candidates: list[str], finding: Finding, body: dict[str, Any] | None
) -> tuple[str, int] | None:
    assert finding.identity is not None
    tokens = split_pointer(finding.path)
    for rel in candidates:
        if rel == finding.file or not rel.endswith((".yaml", ".yml", "Kustomization")):
            continue
        if rel.rsplit("/", 1)[-1] in KUSTOMIZATION_NAMES:
            line = _generator_literal_line(sources, rel, finding.identity, tokens)
        else:
            line = _patch_line(sources, rel, finding.identity, tokens, body)
        if line is not None:
            return rel, line
    return None


def _patch_line(
    sources: SourceIndex, rel: str, identity: Identity, tokens: list[str], body: dict[str, Any] | None
) -> int | None:
    """The line of the pointer's value in a document of the same kind and name, when it holds the whole pointer."""
    for node, data in sources.get(rel).documents:
        if not (isinstance(node, MappingNode) and isinstance(data, dict) and data.get("kind") == identity.kind):
            continue
        metadata = data.get("metadata")
        name = metadata.get("name") if isinstance(metadata, dict) else None
        # kustomize may add a prefix, suffix or hash to the source name
        if not (isinstance(name, str) and name and name in identity.name):
            continue
        line = _value_line(node, body, tokens)
        if line is not None:
            return line
    return None


def _value_line(node: Node, rendered: Any, tokens: list[str]) -> int | None:
    """The line of the whole pointer in a patch, or None. List items are matched as a strategic merge matches
    them: by `name` when the rendered item has one (a patch lists only the containers and env vars it changes),
    by position otherwise."""
    line = node.start_mark.line + 1
    for token in tokens:
        if isinstance(node, MappingNode):
            pair = next(((k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == token), None)
            if pair is None:
                return None
            line, node = pair[0].start_mark.line + 1, pair[1]
            rendered = rendered.get(token) if isinstance(rendered, dict) else None
        elif isinstance(node, SequenceNode) and token.isdigit():
            index = int(token)
            rendered = rendered[index] if isinstance(rendered, list) and index < len(rendered) else None
            name = rendered.get("name") if isinstance(rendered, dict) else None
            item = _named_item(node, str(name)) if name is not None else None
            if item is None and (name is not None or index >= len(node.value)):
                return None
            node = item if item is not None else node.value[index]
            line = node.start_mark.line + 1
        else:
            return None
    return line


def _named_item(node: SequenceNode, name: str) -> Node | None:
    for item in node.value:
        if isinstance(item, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "name" and isinstance(v, ScalarNode) and v.value == name
            for k, v in item.value
        ):
            return item
    return None


def _generator_literal_line(sources: SourceIndex, rel: str, identity: Identity, tokens: list[str]) -> int | None:
    """A generator literal `- KEY=value` in a kustomization, for /data/KEY of a ConfigMap or Secret."""
    if identity.kind not in ("ConfigMap", "Secret") or len(tokens) != 2 or tokens[0] not in ("data", "stringData"):
        return None
    text = sources.get(rel).text
    return generator_literal_line(text, tokens[1]) if text is not None else None
