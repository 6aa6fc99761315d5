"""Opening a Flux repository's targets: `render_flux` (every target built) and `open_flux`, whose graph can keep
leaves unbuilt (flux.inputs) while it is open and build some of them later (listing, the diff)."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gitops import cache
from gitops.cache_location import caching_enabled, memo_directory
from gitops.flux.build import scratch_space
from gitops.flux.clusters import apply_sync_ignore, defined_kustomizations, infer_sync_source, resolve_entries
from gitops.flux.discovery import DiscoveryRun, LeavesNeeded, TargetState
from gitops.flux.files import RepoFiles
from gitops.flux.inputs import LeafTest
from gitops.flux.model import FluxRender, FluxTarget
from gitops.kustomize import Kustomize, find_kustomize
from gitops.render import default_jobs
from gitops.targets import Tree


def render_flux(
    root: Path,
    clusters: Sequence[str] | None = None,
    *,
    sources: Mapping[str, str] | None = None,
    sync_source: str | None = None,
    identities: Sequence[Any] = (),
    strict: bool = False,
    jobs: int | None = None,
    kustomize: Kustomize | None = None,
    keep_going: bool = False,
    origins: bool = True,
) -> FluxRender | None:
    """Every target of every cluster, built and post-processed; None when the repository has no Flux
    Kustomization and no cluster was given (the caller keeps plain kustomize directory targets).

    A failed build raises, unless `keep_going`: then the target keeps its error in `failed` (check reports
    targets that read an unparsable file and judges the others)."""
    with open_flux(
        root,
        clusters,
        sources=sources,
        sync_source=sync_source,
        identities=identities,
        strict=strict,
        jobs=jobs,
        kustomize=kustomize,
        keep_going=keep_going,
        origins=origins,
    ) as graph:
        return graph.result() if graph is not None else None


@contextmanager
def open_flux(
    root: Path,
    clusters: Sequence[str] | None = None,
    *,
    sources: Mapping[str, str] | None = None,
    sync_source: str | None = None,
    identities: Sequence[Any] = (),
    strict: bool = False,
    jobs: int | None = None,
    kustomize: Kustomize | None = None,
    keep_going: bool = False,
    defer_leaves: bool = False,
    gather: bool = False,
    origins: bool = True,
    files: RepoFiles | None = None,
    tool_job: Future[Kustomize] | None = None,
) -> Iterator[FluxGraph | None]:
    """The clusters' targets, found as render_flux finds them, while the scratch space lives (None: not a
    Flux repository). With `defer_leaves`, leaves (flux.inputs) are not built: listing needs only the
    Kustomization objects, the diff builds the leaves a change can reach (FluxGraph.build). When a target
    waits for substituteFrom objects a leaf could provide, every target is built, as without deferral.
    Without `origins`, documents do not know their source files (render and diff do not need them).
    With `gather` (listing only: the targets' objects, not kustomize's text), builds that only gather files
    are read from those files (flux.gather).
    `files`: the run's RepoFiles when the caller already read the repository (finding its clusters);
    `tool_job`: find_tool_soon's answer, when the caller started it before reading the repository."""
    root = root.resolve()
    files = files if files is not None and files.root == root else RepoFiles(root)
    # A listing may need no build kustomize makes (flux.gather): it finds kustomize when one does, since finding
    # it (its version, a digest of the binary) in the background slows the listing's own work.
    if not gather:
        tool_job = tool_job or find_tool_soon(kustomize)
    sync_source = sync_source or infer_sync_source(files)
    apply_sync_ignore(files, sync_source)
    resolved = resolve_entries(root, files, clusters, sources or {}, sync_source)
    if resolved is None:
        yield None
        return
    entries, source_dirs = resolved
    tool = tool_job.result() if tool_job is not None and not gather else None
    # Found at most once: a listing opens its graph again when leaves are needed.
    find_tool = functools.cache(tool_job.result if tool_job is not None else lambda: _tool_with_identity(kustomize))
    tree = Tree(root)
    with scratch_space() as scratch:

        def start(leaf_test: LeafTest | None) -> DiscoveryRun:
            run = DiscoveryRun(root, files, scratch, tool, source_dirs, sync_source, identities, strict)
            if tool is not None:
                run.cache = cache.for_run(tool, tree)
            else:
                run.find_tool, run.cache_for = find_tool, lambda found: cache.for_run(found, tree)
            run.tree = tree
            run.keep_going = keep_going
            # One build more than CPUs: each build's own Python part (cache key, parsing the output, storing
            # it) would otherwise leave a CPU idle between kustomize processes.
            run.workers = max(1, jobs or default_jobs() + 1)
            run.leaf_test = leaf_test
            if leaf_test is not None:
                run.expect(defined_kustomizations(files))
            run.origins = origins
            run.gather = gather
            for entry in entries:
                run.add_entry(entry)
            run.run()
            return run

        try:
            run = start(LeafTest(files, tree) if defer_leaves else None)
        except LeavesNeeded:
            run = start(None)
        try:
            yield FluxGraph(run, entries)
        finally:
            if run.cache is not None:
                run.cache.store.trim()


def find_tool_soon(kustomize: Kustomize | None = None) -> Future[Kustomize]:
    """kustomize (`kustomize`, else found) with its cache identity known, worked out in the background.

    Finding kustomize asks its version (a process) and the cache identity digests the binary (tens of
    megabytes); both are remembered, but a first run pays for them: while it reads the repository."""
    early = ThreadPoolExecutor(max_workers=1)
    job = early.submit(_tool_with_identity, kustomize)
    early.shutdown(wait=False)
    return job


def _tool_with_identity(kustomize: Kustomize | None) -> Kustomize:
    tool = kustomize or find_kustomize()
    if caching_enabled():
        with contextlib.suppress(OSError):
            cache.tool_identity(tool, memo_directory())  # remembered: the run cache's own call is then cheap
    return tool


class FluxGraph:
    """The targets of an open_flux run; unbuilt leaves can still be built while it is open."""

    def __init__(self, run: DiscoveryRun, entries: list[str]) -> None:
        self._run = run
        self.root = run.root
        self.entries = entries

    @property
    def run(self) -> DiscoveryRun:
        """The discovery behind the graph: its files, walk and index (flux.record reads them)."""
        return self._run

    def result(self) -> FluxRender:
        targets = sorted((s.target for s in self._run.states.values()), key=lambda t: t.name)
        warnings = [w for t in targets for w in t.warnings]
        return FluxRender(self.entries, targets, warnings)

    def _state(self, target: FluxTarget) -> TargetState:
        return self._run.states[(target.cluster, target.key)]

    def inputs(self, target: FluxTarget) -> set[Path] | None:
        """The files an unbuilt leaf's build reads (None for a built target)."""
        return self._state(target).inputs

    def variable_sources(self, target: FluxTarget) -> list[dict[str, Any]] | None:
        """The rendered objects a target's substituteFrom names, in order; None when one of them is not
        among the built targets' objects (a leaf not built may hold it, or nothing does)."""
        ks, found = target.kustomization, []
        for ref in ks.substitute_from:
            obj = self._run.index.get((target.cluster, ref.kind, ks.namespace, ref.name))
            if obj is None:
                return None
            found.append(obj)
        return found

    def build(self, targets: Sequence[FluxTarget]) -> None:
        """Build and post-process unbuilt targets. LeavesNeeded when one waits for what a leaf not built
        may provide (then only a render of everything gives what Flux applies)."""
        states = [self._state(t) for t in targets if t.unbuilt]
        for state in states:
            self._run.deferred.remove(state)
            state.forced, state.target.unbuilt, state.inputs = True, False, None
        self._run.to_build.extend(states)
        self._run.run()
