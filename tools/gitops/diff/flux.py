"""`gitops diff` of a Flux repository: each side rendered as Flux Kustomization targets, compared per target.

A side is rendered from a real directory (the working tree, or a temporary checkout of the ref): Flux's
build reads whatever its kustomizations and generated kustomizations list, so reading only some files out of
git's objects would have to repeat that walk. What a target applies depends on more than its spec.path (the
Kustomization object, substituteFrom ConfigMaps/Secrets rendered by other targets), so unchanged targets are
not predicted from changed files: both sides are rendered whole, concurrently, and the comparison finds what
differs. With no changed file at all, one render serves as both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.errors import GitopsError
from gitops.flux.clusters import FLUX_MARKERS, find_clusters
from gitops.flux.discovery import FluxRender, render_flux
from gitops.flux.objects import DEFAULT_SYNC_SOURCE
from gitops.kustomize import Kustomize
from gitops.manifests import Manifest, identity_of

__all__ = [
    "FLUX_MARKERS",
    "FluxOptions",
    "FluxSide",
    "cluster_entries",
    "flux_options_given",
    "is_flux_tree",
    "render_side",
]


@dataclass(frozen=True)
class FluxOptions:
    """What selects and maps Flux targets: cluster entry paths (empty: found on each side), source mappings."""

    clusters: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    sync_source: str = DEFAULT_SYNC_SOURCE
    identities: Sequence[Any] = ()


@dataclass
class FluxSide:
    """One side's targets as the diff engine reads them, and the targets it could not build (with why)."""

    targets: dict[str, list[Manifest]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    found: bool = False
    """Whether the side has Flux Kustomizations (or was given cluster entries) at all."""
    warnings: list[str] = field(default_factory=list)


def flux_options_given(options: FluxOptions) -> bool:
    return bool(options.clusters or options.sources)


def cluster_entries(root: Path, options: FluxOptions) -> list[str] | None:
    """The side's cluster entries: those given that exist on it, else the ones found as gitops.workspace
    finds them (flux.clusters.find_clusters); None when the side is not a Flux repository for the diff."""
    if options.clusters:
        return [c for c in options.clusters if (root / c).is_dir()]
    entries = find_clusters(root, sync_source=options.sync_source)
    return entries or None  # Flux Kustomizations none of which this repository syncs: directory targets


def is_flux_tree(root: Path, options: FluxOptions) -> bool:
    """Whether the directory `root` is a Flux repository for the diff (or Flux targets were asked for)."""
    return flux_options_given(options) or cluster_entries(root, options) is not None


def render_side(root: Path | None, options: FluxOptions, label: str, jobs: int, tool: Kustomize) -> FluxSide:
    """Every Flux target of the side at `root` (None: the side does not exist). A cluster given by the
    caller that this side lacks (added or removed by the change) contributes no targets on this side."""
    if root is None or not root.is_dir():
        return FluxSide()
    try:
        entries = cluster_entries(root, options)
        if not entries:
            return FluxSide(found=entries is not None or flux_options_given(options))
        flux = render_flux(
            root,
            entries,
            sources=options.sources,
            sync_source=options.sync_source,
            identities=options.identities,
            jobs=jobs,
            kustomize=tool,
        )
    except GitopsError as exc:
        raise type(exc)(f"{label}: {exc}") from None
    return _side(flux)


def _side(flux: FluxRender | None) -> FluxSide:
    if flux is None:
        return FluxSide()
    side = FluxSide(found=True, warnings=list(flux.warnings))
    for target in flux.targets:
        if target.skipped is not None:
            side.skipped[target.name] = target.skipped
        else:
            side.targets[target.name] = [
                Manifest(identity_of(doc), doc, target.name, None, index) for index, doc in enumerate(target.documents)
            ]
    return side
