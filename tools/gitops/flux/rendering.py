"""Flux targets as commands show them: `render --list` lines, notices, `--source` options."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitops.errors import GitopsError
from gitops.flux.model import FluxRender, FluxTarget


def parse_source_options(values: Sequence[str]) -> dict[str, str]:
    """`--source NAME=PATH` options as a mapping; a malformed one is a GitopsError naming it."""
    sources: dict[str, str] = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise GitopsError(f"--source {value}: expected NAME=PATH")
        sources[name] = path
    return sources


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
