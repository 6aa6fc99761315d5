"""`gitops diff` of a Flux repository: each side rendered as Flux Kustomization targets, compared per target.

A side is rendered from a real directory (the working tree, or a temporary checkout of the ref): Flux's
build reads whatever its kustomizations and generated kustomizations list. Only targets that can differ are
rendered (`render_sides`, docs/flux.md "How diff decides what to render"): both sides open their graph with
leaves deferred (flux.inputs: a leaf's build cannot yield Flux Kustomizations; the others are built, through
the render cache, because the graph needs them). A leaf present on both sides is rendered only when its
Kustomization object or resolved path differs, a file its build reads (either side's walk) changed, or the
objects its substituteFrom names differ; the others are reported unchanged without being built. When a
leaf's substituteFrom names an object no built target holds, or a changed path is a symlink, both sides are
rendered whole, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gitops import git
from gitops.commit_files import commit_files
from gitops.diff.flux_options import FluxOptions, flux_options_given
from gitops.errors import GitopsError
from gitops.flux.clusters import FLUX_MARKERS, find_clusters
from gitops.flux.discovery import LeavesNeeded
from gitops.manifests import Manifest, identity_of

if TYPE_CHECKING:
    from gitops.flux.graph import FluxGraph
    from gitops.flux.model import FluxRender, FluxTarget
    from gitops.kustomize import Kustomize

__all__ = [
    "FLUX_MARKERS",
    "FluxOptions",
    "FluxSide",
    "cluster_entries",
    "commit_tree",
    "flux_options_given",
    "is_flux_tree",
    "render_side",
    "render_sides",
]


@dataclass
class FluxSide:
    """One side's targets as the diff engine reads them, and the targets it could not build (with why)."""

    targets: dict[str, list[Manifest]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    found: bool = False
    """Whether the side has Flux Kustomizations (or was given cluster entries) at all."""
    warnings: list[str] = field(default_factory=list)
    unchanged: set[str] = field(default_factory=set)
    """Targets on both sides that cannot differ, so neither side rendered them."""


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
        with _open_graph(root, entries, options, jobs, tool, defer_leaves=False) as graph:
            flux = graph.result() if graph is not None else None
    except GitopsError as exc:
        raise type(exc)(f"{label}: {exc}") from None
    return _side(flux)


def _open_graph(
    root: Path, entries: list[str], options: FluxOptions, jobs: int, tool: Kustomize, *, defer_leaves: bool
) -> AbstractContextManager[FluxGraph | None]:
    """A side's Flux graph as a diff builds it: without origin annotations (the diff does not show them)."""
    from gitops.flux.graph import open_flux  # the recorded diff (diff.flux_recorded) opens no graph

    return open_flux(
        root,
        entries,
        sources=options.sources,
        sync_source=options.sync_source,
        identities=options.identities,
        jobs=jobs,
        kustomize=tool,
        defer_leaves=defer_leaves,
        origins=False,
    )


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


@contextmanager
def commit_tree(repo: git.Repository, commit: str) -> Iterator[Path]:
    """Every file of `commit` below the gitops root, written to a temporary directory (Flux discovery reads
    every YAML file): two git commands instead of adding and removing a worktree. A commit whose files git
    would transform on checkout (.gitattributes: LFS, line endings) or holding symlinks or submodules gets a
    real worktree."""
    listing = git.list_files(repo, commit)
    if not listing.files or listing.has_links or any(f.rpartition("/")[2] == ".gitattributes" for f in listing.files):
        with git.checkout(repo, commit) as root:
            yield root
        return
    with commit_files(repo, commit, listing) as files:
        files.materialize(sorted(listing.files))
        yield files.root


def render_sides(
    sides: tuple[AbstractContextManager[Path] | None, AbstractContextManager[Path]],
    changed: set[str],
    options: FluxOptions,
    labels: tuple[str, str],
    jobs: int,
    tool_for: Callable[[Path], Kustomize],
) -> tuple[FluxSide, FluxSide]:
    """Both sides, each opened (e.g. commit_tree, a checkout) in its own thread while the other is read, so
    writing the base commit's files overlaps the head's discovery (base None: no change, the head serves as
    both). Only the targets that can differ are rendered; every target if that cannot be told."""
    present = [(side, label) for side, label in zip(sides, labels, strict=True) if side is not None]
    with ExitStack() as first, ExitStack() as second, ThreadPoolExecutor(max_workers=2) as pool:
        opened = [
            pool.submit(_open_side, side, options, label, jobs, tool_for, stack)
            for (side, label), stack in zip(present, (first, second)[: len(present)], strict=True)
        ]
        results = [future.result() for future in opened]
        roots = tuple(root for root, _graph, _found in results)
        whole_labels = tuple(label for _side, label in present)
        if any(_is_link(root, path) for root in roots for path in changed):
            return _whole(roots, options, whole_labels, jobs, tool_for)
        if len(results) == 1:
            side = _graph_side(*results[0][1:])
            return side, side
        (_base_root, base_graph, base_found), (_head_root, head_graph, head_found) = results
        try:
            plan = _plan(base_graph, head_graph, changed)
            if plan is not None:
                jobs_done = [
                    pool.submit(_build, graph, targets, label)
                    for graph, targets, label in zip((base_graph, head_graph), plan, labels, strict=True)
                ]
                for job in jobs_done:
                    job.result()
        except LeavesNeeded:
            plan = None
        if plan is None:
            return _whole(roots, options, whole_labels, jobs, tool_for)
        return _graph_side(base_graph, base_found), _graph_side(head_graph, head_found)


def _is_link(root: Path, path: str) -> bool:
    """A changed symlink: the walks resolve links, so inputs would not name the changed path."""
    return os.path.islink(root / path)


def _whole(
    roots: tuple[Path, ...],
    options: FluxOptions,
    labels: tuple[str, ...],
    jobs: int,
    tool_for: Callable[[Path], Kustomize],
) -> tuple[FluxSide, FluxSide]:
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [
            pool.submit(render_side, root, options, label, jobs, tool_for(root))
            for root, label in zip(roots, labels, strict=True)
        ]
        sides = [future.result() for future in futures]
    return (sides[0], sides[-1])


def _open_side(
    side: AbstractContextManager[Path],
    options: FluxOptions,
    label: str,
    jobs: int,
    tool_for: Callable[[Path], Kustomize],
    stack: ExitStack,
) -> tuple[Path, FluxGraph | None, bool]:
    """The side's root, its graph with leaves deferred (None when the side has no cluster entry), and whether
    the side counts as a Flux repository."""
    root = stack.enter_context(side)
    tool = tool_for(root)
    if not root.is_dir():
        return root, None, False
    try:
        entries = cluster_entries(root, options)
        if not entries:
            return root, None, entries is not None or flux_options_given(options)
        graph = stack.enter_context(_open_graph(root, entries, options, jobs, tool, defer_leaves=True))
    except GitopsError as exc:
        raise type(exc)(f"{label}: {exc}") from None
    return root, graph, True


def _plan(
    base: FluxGraph | None, head: FluxGraph | None, changed: set[str]
) -> tuple[list[FluxTarget], list[FluxTarget]] | None:
    """The unbuilt targets each side must build; None when that cannot be told (render everything)."""
    base_targets = {t.name: t for t in base.result().targets} if base is not None else {}
    head_targets = {t.name: t for t in head.result().targets} if head is not None else {}
    plan: tuple[list[FluxTarget], list[FluxTarget]] = ([], [])
    for name in sorted({*base_targets, *head_targets}):
        old, new = base_targets.get(name), head_targets.get(name)
        if old is not None and new is not None and base is not None and head is not None:
            verdict = _may_differ(old, new, base, head, changed)
            if verdict is None:
                return None
            if not verdict:
                continue
        for side, target in zip(plan, (old, new), strict=True):
            if target is not None and target.unbuilt:
                side.append(target)
    return plan


def _may_differ(old: FluxTarget, new: FluxTarget, base: FluxGraph, head: FluxGraph, changed: set[str]) -> bool | None:
    """Whether a target on both sides can render differently; None when its variables cannot be told."""
    if (old.skipped is None) != (new.skipped is None):
        return True
    if old.skipped is not None or not (old.unbuilt or new.unbuilt):
        return False  # skipped on both sides, or built on both (the comparison decides)
    if old.kustomization != new.kustomization or old.path != new.path:
        return True
    read = [_relative(graph.inputs(t), graph) for graph, t in ((base, old), (head, new))]
    if any(r is None for r in read) or any(changed & r for r in read if r is not None):
        return True
    if old.kustomization.substitute_from:
        sources = base.variable_sources(old), head.variable_sources(new)
        if sources[0] is None or sources[1] is None:
            return None
        return sources[0] != sources[1]
    return False


def _relative(paths: set[Path] | None, graph: FluxGraph) -> set[str] | None:
    """Repository-relative inputs; None when unknown (the target was built) or one lies outside."""
    if paths is None:
        return None
    prefix = f"{graph.root}/"
    relative = {str(path).removeprefix(prefix) for path in paths}
    return None if any(r.startswith("/") for r in relative) else relative


def _build(graph: FluxGraph | None, targets: list[FluxTarget], label: str) -> None:
    if graph is not None and targets:
        try:
            graph.build(targets)
        except GitopsError as exc:
            raise type(exc)(f"{label}: {exc}") from None


def _graph_side(graph: FluxGraph | None, found: bool) -> FluxSide:
    if graph is None:
        return FluxSide(found=found)
    side = _side(graph.result())
    for target in graph.result().targets:
        if target.unbuilt:
            del side.targets[target.name]
            side.unchanged.add(target.name)
    return side
