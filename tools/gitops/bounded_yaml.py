"""Guards every YAML text passes before a parser (ours or kustomize) expands it.

Size, UTF-8 and alias expansion are checked on the raw text, so a hostile file costs at most one
linear scan: aliases are counted on the composed node graph, where an alias is a shared node and
expansion is never materialised.
"""

from __future__ import annotations

from typing import Any

import yaml

from gitops.errors import GitopsError
from gitops.limits import DEFAULT_LIMITS, MAX_ALIAS_EXPANSION, Limits
from gitops.manifests import source_loader


def refuse_oversize(size: int, source: str, limits: Limits = DEFAULT_LIMITS) -> None:
    if size > limits.max_file_bytes:
        raise GitopsError(
            f"{source}: {size} bytes is over the {limits.max_file_bytes}-byte limit for an input file"
            " (limits.maxFileBytes in gitops.yaml or GITOPS_MAX_FILE_BYTES)"
        )


def decode_source(data: bytes, source: str, limits: Limits = DEFAULT_LIMITS) -> str:
    """`data` as text, refused when larger than the limit or not UTF-8 (naming the line of the bad byte)."""
    refuse_oversize(len(data), source, limits)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise GitopsError(f"{source}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def yaml_error(exc: Exception, source: str) -> GitopsError:
    """A parser's exception (PyYAML or ruamel) as one line: file:line: the problem, without the excerpt."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    where = f"{source}:{mark.line + 1}" if mark is not None else source
    return GitopsError(f"{where}: not valid YAML: {problem}")


def refuse_alias_bombs(text: str, source: str) -> None:
    """Refuse aliases that expand to more than MAX_ALIAS_EXPANSION extra nodes, and recursive aliases."""
    if "*" not in text:  # no alias at all: the common case costs one scan
        return
    try:
        documents = list(yaml.compose_all(text, Loader=source_loader(text)))
    except yaml.YAMLError as exc:
        raise yaml_error(exc, source) from None
    except RecursionError:
        raise GitopsError(f"{source}: nested too deeply to parse") from None
    for document in documents:
        if document is not None:
            _count_expansion(document, source)


def _children(node: yaml.Node) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _count_expansion(root: yaml.Node, source: str) -> None:
    """Post-order walk with a memo per node object: shared (aliased) nodes are counted once per use."""
    expanded: dict[int, int] = {}
    distinct = 0
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            open_nodes.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in _children(node))
            distinct += 1
            if expanded[key] - distinct > MAX_ALIAS_EXPANSION:
                raise GitopsError(
                    f"{source}:{node.start_mark.line + 1}: aliases expand to over {MAX_ALIAS_EXPANSION} nodes"
                    " (a YAML alias bomb?)"
                )
            continue
        if key in expanded:
            continue
        if key in open_nodes:
            raise GitopsError(f"{source}:{node.start_mark.line + 1}: a YAML alias refers to its own anchor")
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in expanded)
