"""Flux targets in the shape `gitops render` writes and lists (rendered/<target>.yaml, `render --list`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gitops.errors import GitopsError
from gitops.flux.discovery import FluxRender, FluxTarget, find_clusters, inside
from gitops.manifests import dump_documents
from gitops.render import RenderedTarget


def parse_source_options(values: Sequence[str]) -> dict[str, str]:
    """`--source NAME=PATH` options as a mapping; a malformed one is a GitopsError naming it."""
    sources: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise GitopsError(f"--source {value}: expected NAME=PATH")
        sources[name] = path
    return sources


def flux_entries(root: Path, directory_targets: Sequence[str]) -> list[str] | None:
    """The cluster entries when `render` should render Flux targets without being asked, else None.

    Until check and diff follow (issue 12, second phase), a repository keeps its kustomize directory
    targets unless every one of them lies inside a Flux cluster entry (as bootstrap's
    clusters/<name>/flux-system does): then they are parts of Flux clusters, not targets of their own.
    """
    entries = find_clusters(root)
    if not entries:
        return None
    if all(any(inside(t, e) for e in entries) for t in directory_targets):
        return entries
    return None


def rendered_targets(result: FluxRender, root: Path) -> list[RenderedTarget]:
    """Every built (not skipped) target as render's output unit; its text is the objects as Flux applies them."""
    return [
        RenderedTarget(t.name, dump_documents(t.documents) if t.documents else "", root)
        for t in result.targets
        if t.skipped is None
    ]


def listing_line(target: FluxTarget) -> str:
    """One `render --list` line: name, source path, dependsOn and the Flux fields the target sets."""
    if target.skipped is not None:
        return f"{target.name}  skipped: {target.skipped}"
    parts = [target.name, f"path={target.path}"]
    if target.kustomization.depends_on:
        parts.append(f"dependsOn={','.join(target.kustomization.depends_on)}")
    parts.extend(f"{key}={_compact(value)}" for key, value in target.kustomization.flux_fields().items())
    return "  ".join(parts)


def _compact(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value).lower() if isinstance(value, bool) else str(value)


def notices(result: FluxRender) -> list[str]:
    """What a command prints on stderr besides errors: skipped targets and warnings, each on one line."""
    lines = [f"skipped {t.name}: {t.skipped}" for t in result.targets if t.skipped is not None]
    return lines + [f"warning: {w}" for w in result.warnings]
