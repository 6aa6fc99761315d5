"""Flux targets as the commands see them: one Flux Kustomization of one cluster, what a run found, and selection
by the names a user types."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops.errors import GitopsError
from gitops.flux.objects import FluxKustomization


@dataclass
class FluxTarget:
    """One Flux Kustomization of one cluster, with what it renders to (empty when skipped)."""

    name: str
    cluster: str
    kustomization: FluxKustomization
    path: str | None
    """Repository-relative directory it builds ("." for the root); None when skipped."""
    parent: str | None = None
    skipped: str | None = None
    failed: GitopsError | None = None
    """With render_flux(keep_going=True): why the build failed (its children stay unknown)."""
    documents: list[dict[str, Any]] = field(default_factory=list)
    origins: list[str | None] = field(default_factory=list)
    """The repository-relative source file of each document, in step with `documents`."""
    warnings: list[str] = field(default_factory=list)
    text: str | None = None
    """`documents` as render writes them (manifests.dump_documents), when the run already has that text."""
    keep_text: Callable[[list[dict[str, Any]], str], None] | None = field(default=None, repr=False, compare=False)
    """Where render hands the text it wrote, to remember the build step (flux.step_cache)."""
    unbuilt: bool = False
    """Not built (open_flux with defer_leaves): a leaf, whose build cannot yield a Flux Kustomization, and
    nothing asked for its output yet. Its documents are unknown, not empty."""

    @property
    def key(self) -> str:
        return self.kustomization.key


@dataclass
class FluxRender:
    clusters: list[str]
    targets: list[FluxTarget]
    warnings: list[str]


def select_targets(targets: Sequence[FluxTarget], selectors: Sequence[str]) -> list[FluxTarget]:
    """Targets by full name, `<namespace>/<name>`, or a name that is unambiguous; else a GitopsError."""
    chosen: list[FluxTarget] = []
    for selector in selectors:
        matches = [t for t in targets if t.name == selector]
        if not matches:
            matches = [t for t in targets if t.key == selector]
        if not matches:
            matches = [t for t in targets if t.kustomization.name == selector]
        if not matches:
            raise GitopsError(f"no Flux Kustomization target matches '{selector}'")
        if len(matches) > 1:
            names = ", ".join(t.name for t in matches)
            raise GitopsError(f"'{selector}' is ambiguous: {names}")
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen
