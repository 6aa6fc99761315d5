"""The targets of a repository, one facade for every command: Flux Kustomizations or kustomize directories.

Mode: a repository is rendered the way Flux applies it when it has Flux Kustomizations reachable from cluster
entry paths - `--cluster PATH` options, else gitops.yaml `clusters:`, else the entries `find_clusters` finds
(docs/flux.md). Otherwise (no Flux Kustomization, or none synced by this repository's GitRepository) its
targets are kustomize directories under gitops.yaml `targets.roots` (default overlays/ and clusters/).

In Flux mode the targets are built while they are found (a Kustomization's children are only known from its
parent's output), so opening a workspace renders it once; listing, selecting and rendering reuse that.
Skipped targets (a source not mapped to a repository path) are kept with their reason: every command reports
them. A repository with no target at all is a GitopsError, never an empty success.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.config import RepoConfig
from gitops.errors import GitopsError
from gitops.flux.clusters import find_clusters
from gitops.flux.discovery import LeavesNeeded
from gitops.flux.files import RepoFiles
from gitops.flux.graph import FluxGraph, find_tool_soon, open_flux, render_flux
from gitops.flux.model import FluxRender, FluxTarget, select_targets
from gitops.flux.rendering import listing_line, notices, parse_source_options
from gitops.identities import LazyIdentities
from gitops.manifests import Manifest, dump_documents, identity_of
from gitops.render import Progress, RenderedTarget, render_targets
from gitops.shards import Shard, flux_shard
from gitops.target_selection import discover, select
from gitops.targets import Tree


@dataclass(frozen=True)
class TargetOptions:
    """What the command line says about targets (the same options on render, check and diff)."""

    clusters: tuple[str, ...] = ()
    """`--cluster PATH`: Flux cluster entry paths; they replace gitops.yaml clusters:."""
    sources: tuple[str, ...] = ()
    """`--source NAME=PATH`: added to (and overriding) gitops.yaml sources:."""
    jobs: int | None = None
    shard: Shard | None = None
    """`--shard K/N` in Flux mode: every shard builds the Kustomizations that yield others, and only its own
    part of the leaves (directory mode partitions its targets in the command, shards.shard_targets)."""


@dataclass
class Workspace:
    """The repository's targets in one mode. `flux` is set in Flux mode, `tree` in directory mode."""

    root: Path
    config: RepoConfig
    _names: list[str] | None
    flux: FluxRender | None = None
    tree: Tree | None = None
    jobs: int | None = None
    _by_name: dict[str, FluxTarget] = field(default_factory=dict, repr=False)

    @property
    def names(self) -> list[str]:
        """Every target that can be rendered, sorted; skipped Flux targets are not among them.

        Directory targets are discovered on first use: naming one target must not parse every kustomization
        of a large repository (select finds a named target from its own kustomization and those naming it).
        """
        if self._names is None:
            assert self.tree is not None
            self._names = discover(self.root, self.tree, self.config.target_roots)
            if not self._names:
                roots = ", ".join(f"{r}/" for r in self.config.target_roots)
                raise GitopsError(f"{self.root}: no targets: no Flux Kustomization and no kustomization under {roots}")
        return self._names

    @property
    def is_flux(self) -> bool:
        return self.flux is not None

    @property
    def failed(self) -> dict[str, GitopsError]:
        """Flux targets whose build failed (only when opened with keep_going): {name: the error}."""
        return {t.name: t.failed for t in self.flux.targets if t.failed is not None} if self.flux else {}

    def source_path(self, target: str) -> str | None:
        """The repository directory a Flux target builds (its resolved spec.path)."""
        found = self._by_name.get(target)
        return found.path if found is not None else None

    @property
    def skipped(self) -> list[FluxTarget]:
        return [t for t in self.flux.targets if t.skipped is not None] if self.flux else []

    def notices(self) -> list[str]:
        """Lines every command prints on stderr: each skipped target with its reason, then warnings."""
        return notices(self.flux) if self.flux is not None else []

    def listing(self) -> list[str]:
        """`render --list`: one line per target (Flux: source path, dependsOn, Flux fields; skipped ones too)."""
        if self.flux is None:
            return list(self.names)
        return [listing_line(t) for t in self.flux.targets]

    def select(self, selectors: Sequence[str]) -> list[str]:
        """Target names for command-line selectors (all targets when there are none).

        Flux: a full name, `<namespace>/<name>`, or a name that is unambiguous. Directories: a target path or
        a directory holding targets, relative to the current directory or to the repository root.
        """
        if not selectors:
            return list(self.names)
        if self.flux is not None:
            chosen = select_targets(self.flux.targets, selectors)
            skipped = [t for t in chosen if t.skipped is not None]
            if skipped:
                raise GitopsError(f"{skipped[0].name} is skipped: {skipped[0].skipped}")
            mine = set(self.names)  # with --shard, the shard's part only
            return [t.name for t in chosen if t.name in mine]
        assert self.tree is not None
        return select(self.root, selectors, self.tree, self.config.target_roots, lambda: self.names)

    def environment(self, target: str) -> str:
        """The environment a target belongs to (policy.context.environment_of): its Flux cluster, or the
        directory under overlays/ or clusters/."""
        from gitops.policy.context import environment_of  # the policy pack's imports: only commands judging

        return environment_of(target, flux=self.is_flux)

    def render(
        self, targets: Sequence[str] | None = None, *, origins: bool = False, progress: Progress | None = None
    ) -> list[RenderedTarget]:
        """The selected targets (default: all) as render's output unit, in the given order."""
        names = list(targets) if targets is not None else list(self.names)
        if self.flux is None:
            assert self.tree is not None
            return render_targets(
                self.root,
                names,
                origins=origins,
                jobs=self.jobs,
                progress=progress,
                limits=self.config.limits,
                tree=self.tree,
            )
        results = []
        for done, name in enumerate(names, start=1):
            target = self._by_name[name]
            if target.failed is not None:
                raise target.failed
            if target.unbuilt:
                raise GitopsError(f"{name}: not built (the workspace was opened for listing)")
            results.append(flux_rendered(target, self.root))
            if progress is not None:
                progress(done, len(names), name)
        return results

    def empty_targets(self, rendered: Sequence[RenderedTarget]) -> list[str]:
        """Targets that build to zero documents: a warning each, never a silent pass."""
        return [r.target for r in rendered if r.is_empty]


def flux_rendered(target: FluxTarget, root: Path) -> RenderedTarget:
    """A built Flux target as a RenderedTarget whose manifests know their source files."""
    manifests = [
        Manifest(identity_of(doc), doc, target.name, origin, index)
        for index, (doc, origin) in enumerate(zip(target.documents, target.origins, strict=True))
    ]
    text = target.text
    if text is None:
        text = dump_documents(target.documents) if target.documents else ""
        if target.keep_text is not None:
            target.keep_text(target.documents, text)
    return RenderedTarget(target.name, text, root, _manifests=manifests)


def open_workspace(
    root: Path,
    config: RepoConfig,
    options: TargetOptions | None = None,
    *,
    identities: Sequence[Any] | None = None,
    keep_going: bool = False,
    listing: bool = False,
    origins: bool = True,
    on_graph: Callable[[FluxGraph], None] | None = None,
) -> Workspace:
    """Decide the mode and find the targets; in Flux mode, build them. No target at all is a GitopsError.

    `keep_going`: a Flux target that fails to build is kept with its error (Workspace.failed) instead of
    stopping the run; rendering it raises that error. `listing`: the workspace only lists its targets, so
    Flux leaves (targets whose build cannot yield a Flux Kustomization) are not built. Without `origins`, Flux
    targets' manifests do not know their source files (kustomize builds them faster). `on_graph` sees a
    Flux graph with every target built (not when listing or sharding), before it closes (flux.record)."""
    options = options or TargetOptions()
    root = root.resolve()
    sources: Mapping[str, str] = {**config.sources, **parse_source_options(options.sources)}
    files = RepoFiles(root)  # one read of the repository's YAML for finding clusters and building them
    tool_job = find_tool_soon() if not listing else None  # a listing finds kustomize if a build needs it
    clusters = list(options.clusters) or list(config.clusters) or _found_clusters(root, config, files)
    flux = None
    in_shard: set[str] | None = None
    if clusters:

        def graph_of(defer_leaves: bool) -> AbstractContextManager[FluxGraph | None]:
            return open_flux(
                root,
                clusters,
                sources=sources,
                sync_source=config.sync_source,
                identities=LazyIdentities() if identities is None else identities,
                jobs=options.jobs,
                keep_going=keep_going,
                defer_leaves=defer_leaves,
                gather=listing,
                origins=origins,
                files=files,
                tool_job=tool_job,
            )

        if options.shard is not None and not listing:
            flux, in_shard = _open_shard(graph_of, options.shard)
        else:
            with graph_of(listing) as graph:
                flux = graph.result() if graph is not None else None
                if graph is not None and on_graph is not None and not listing:
                    on_graph(graph)
    if flux is not None:
        by_name = {t.name: t for t in flux.targets}
        names = sorted(t.name for t in flux.targets if t.skipped is None)
        if not names:
            what = f"{len(flux.targets)} Flux Kustomizations, all skipped" if flux.targets else "no Flux Kustomization"
            raise GitopsError(f"{root}: no targets: {what} (clusters: {', '.join(flux.clusters)})")
        if in_shard is not None:
            names = [n for n in names if n in in_shard]
            if not names:
                raise GitopsError(f"--shard {options.shard}: this shard has no targets (fewer targets than shards)")
        return Workspace(root, config, names, flux=flux, jobs=options.jobs, _by_name=by_name)
    if options.sources:
        raise GitopsError(f"{root}: --source given, but the repository has no Flux Kustomization")
    return Workspace(root, config, None, tree=Tree(root, limits=config.limits), jobs=options.jobs)


def _open_shard(
    graph_of: Callable[[bool], AbstractContextManager[FluxGraph | None]], shard: Shard
) -> tuple[FluxRender | None, set[str] | None]:
    """The Flux targets with `shard`'s leaves built, and the names in the shard."""
    with graph_of(True) as graph:
        if graph is None:
            return None, None
        chosen = flux_shard(graph, shard)
        try:
            graph.build([t for t in graph.result().targets if t.name in chosen and t.unbuilt])
            return graph.result(), chosen
        except LeavesNeeded:
            pass  # one of them substitutes from another leaf's objects: build everything, keep the partition
    with graph_of(False) as whole:
        assert whole is not None
        return whole.result(), chosen


def is_flux_repository(root: Path, config: RepoConfig, options: TargetOptions | None = None) -> bool:
    """Whether open_workspace would choose Flux mode, decided without building anything."""
    options = options or TargetOptions()
    return bool(options.clusters or config.clusters or _found_clusters(root.resolve(), config))


def _found_clusters(root: Path, config: RepoConfig, files: RepoFiles | None = None) -> list[str]:
    """Entries found without configuration. Flux Kustomizations none of which this repository's GitRepository
    syncs make no Flux repository: with directory targets it keeps them, without any it is render_flux's
    error asking for clusters:."""
    entries = find_clusters(root, files, sync_source=config.sync_source)
    if entries == [] and not discover(root, Tree(root, limits=config.limits), config.target_roots):
        render_flux(root, None, sync_source=config.sync_source)  # raises the error naming the way out
    return entries or []


def print_notices(workspace: Workspace) -> None:
    for line in workspace.notices():
        print(line, file=sys.stderr)
