"""Clusters and targets of a Flux repository: every Flux Kustomization reached from a cluster entry path.

Entry paths (clusters) come from the caller (gitops.yaml `clusters:` or `--cluster PATH`) or are found by
`flux.clusters.find_clusters`, whose rule needs no configuration on the `flux bootstrap` layout and on Flux
Operator layouts (see docs/flux.md). From each entry, `render_flux` builds the entry path, collects the Flux
Kustomizations in its output, builds each one's spec.path, and so on: a Kustomization is built once per
cluster, a chain that comes back to one of its own ancestors is an error naming the chain.

A target is named `<cluster path>/<namespace>/<name>`. Its source is the GitRepository syncing this repository
(`flux-system` unless configured), which is the repository root, or another source mapped to a repository
path by name; a target whose source is not mapped is kept as *skipped*, with the reason. `open_flux` can
leave leaves unbuilt (flux.inputs) for listing and the diff, and build some of them later.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops import cache
from gitops.errors import GitopsError
from gitops.flux.artifacts import GeneratedArtifact, generated_artifacts, is_artifact_generator
from gitops.flux.build import Built, Scratch, build_documents, scratch_space
from gitops.flux.clusters import ENTRY_NAME, ENTRY_NAMESPACE, infer_sync_source, is_sync_source, resolve_entries
from gitops.flux.files import RepoFiles
from gitops.flux.inputs import LeafTest
from gitops.flux.model import FluxRender, FluxTarget
from gitops.flux.objects import (
    FluxKustomization,
    SourceRef,
    is_flux_kustomization,
    normalise_path,
    parse_kustomization,
)
from gitops.flux.postbuild import load_variables, set_metadata, substitute_objects
from gitops.kustomize import Kustomize, find_kustomize
from gitops.render import default_jobs
from gitops.targets import Tree


@dataclass
class _State:
    target: FluxTarget
    chain: tuple[str, ...]
    raw: list[dict[str, Any]] | None = None
    origins: list[str | None] = field(default_factory=list)
    inputs: set[Path] | None = None
    """An unbuilt leaf's build inputs (what the leaf test read)."""
    forced: bool = False
    """Asked for: built even when it is a leaf."""


class LeavesNeeded(Exception):
    """A target waits for substituteFrom objects that only an unbuilt leaf could provide: build everything."""


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
    origins: bool = True,
) -> Iterator[FluxGraph | None]:
    """The clusters' targets, found as render_flux finds them, while the scratch space lives (None: not a
    Flux repository). With `defer_leaves`, leaves (flux.inputs) are not built: listing needs only the
    Kustomization objects, the diff builds the leaves a change can reach (FluxGraph.build). When a target
    waits for substituteFrom objects a leaf could provide, every target is built, as without deferral.
    Without `origins`, documents do not know their source files (render and diff do not need them)."""
    root = root.resolve()
    files = RepoFiles(root)
    sync_source = sync_source or infer_sync_source(files)
    resolved = resolve_entries(root, files, clusters, sources or {}, sync_source)
    if resolved is None:
        yield None
        return
    entries, source_dirs = resolved
    tool = kustomize or find_kustomize()
    tree = Tree(root)
    with scratch_space() as scratch:

        def start(leaf_test: LeafTest | None) -> _Run:
            run = _Run(root, files, scratch, tool, source_dirs, sync_source, identities, strict)
            run.cache = cache.for_run(tool, tree)
            run.keep_going = keep_going
            # One build more than CPUs: each build's own Python part (cache key, parsing the output, storing
            # it) would otherwise leave a CPU idle between kustomize processes.
            run.workers = max(1, jobs or default_jobs() + 1)
            run.leaf_test = leaf_test
            run.origins = origins
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


class FluxGraph:
    """The targets of an open_flux run; unbuilt leaves can still be built while it is open."""

    def __init__(self, run: _Run, entries: list[str]) -> None:
        self._run = run
        self.root = run.root
        self.entries = entries

    def result(self) -> FluxRender:
        targets = sorted((s.target for s in self._run.states.values()), key=lambda t: t.name)
        warnings = [w for t in targets for w in t.warnings]
        return FluxRender(self.entries, targets, warnings)

    def _state(self, target: FluxTarget) -> _State:
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


class _Run:
    def __init__(
        self,
        root: Path,
        files: RepoFiles,
        scratch: Scratch,
        kustomize: Kustomize,
        sources: dict[str, str],
        sync_source: str,
        identities: Sequence[Any],
        strict: bool,
    ) -> None:
        self.root, self.files, self.scratch, self.kustomize = root, files, scratch, kustomize
        self.sources, self.sync_source, self.identities, self.strict = sources, sync_source, identities, strict
        self.workers = 1
        self.keep_going = False
        self.cache: cache.RunCache | None = None
        self.leaf_test: LeafTest | None = None
        self.origins = True
        self.deferred: list[_State] = []
        self.states: dict[tuple[str, str], _State] = {}
        self.to_build: list[_State] = []
        self.waiting: list[_State] = []
        # (cluster, kind, namespace, name) -> object, from finished targets
        self.index: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        # (cluster, namespace, name) -> what an ArtifactGenerator rendered so far makes that ExternalArtifact of
        self.artifacts: dict[tuple[str, str, str], GeneratedArtifact] = {}

    def add_entry(self, entry: str) -> None:
        ks = FluxKustomization(
            ENTRY_NAME, ENTRY_NAMESPACE, SourceRef("GitRepository", self.sync_source, ENTRY_NAMESPACE), entry
        )
        self._add(entry, ks, parent=None, chain=())

    def _add(self, cluster: str, ks: FluxKustomization, parent: str | None, chain: tuple[str, ...]) -> None:
        name = f"{cluster or '.'}/{ks.namespace}/{ks.name}"
        path, skipped = self._source_path(cluster, ks)
        target = FluxTarget(name, cluster, ks, path, parent, skipped)
        state = _State(target, (*chain, ks.key))
        self.states[(cluster, ks.key)] = state
        if skipped is None:
            self.to_build.append(state)

    def _source_base(self, ref: SourceRef) -> str | None:
        if is_sync_source(ref, self.sync_source):
            return ""
        return self.sources.get(ref.name)

    def _source_path(self, cluster: str, ks: FluxKustomization) -> tuple[str | None, str | None]:
        ref = ks.source_ref
        base = self._source_base(ref)
        generated = self.artifacts.get((cluster, ref.namespace, ref.name)) if ref.kind == "ExternalArtifact" else None
        if base is None and generated is not None:
            if generated.path is None:
                return (
                    None,
                    f"source {ref} is not mapped to a repository path: {generated.reason} (map it with sources:)",
                )
            base = generated.path
        if base is None:
            return None, (
                f"source {ref} is not mapped to a repository path "
                f"(gitops.yaml sources: {{{ref.name}: PATH}} or --source {ref.name}=PATH)"
            )
        joined = normalise_path(f"{base}/{ks.path}")
        return joined or ".", None

    def run(self) -> None:
        while self.to_build or self.waiting:
            if self.to_build:
                batch, self.to_build = self._without_leaves(self.to_build), []
                if batch:
                    self._build(batch)
                self.waiting.extend(s for s in batch if s.target.failed is None)
            if self._finish_ready():
                continue
            if self.to_build:
                continue
            if self.waiting:
                if self.deferred:
                    raise LeavesNeeded
                self._finish(self.waiting.pop(0), stuck=True)

    def _without_leaves(self, batch: list[_State]) -> list[_State]:
        """The batch less the leaves, which are deferred (only with a leaf test)."""
        if self.leaf_test is None:
            return batch
        kept = []
        for state in batch:
            target = state.target
            assert target.path is not None
            inputs = None
            if not state.forced:
                inputs = self.leaf_test.leaf_inputs(target.kustomization, (self.root / target.path).resolve())
            if inputs is None:
                kept.append(state)
            else:
                state.inputs, target.unbuilt = inputs, True
                self.deferred.append(state)
        return kept

    def _build(self, batch: list[_State]) -> None:
        def one(state: _State) -> Built:
            target = state.target
            assert target.path is not None
            directory = (self.root / target.path).resolve()
            return build_documents(
                target.kustomization,
                directory,
                files=self.files,
                scratch=self.scratch,
                kustomize=self.kustomize,
                label=target.name,
                cache=self.cache,
                origins=self.origins,
            )

        with ThreadPoolExecutor(max_workers=min(self.workers, len(batch))) as pool:
            results = list(pool.map(_capture(one), batch))
        errors = [r for r in results if isinstance(r, GitopsError)]
        if errors and not self.keep_going:
            raise sorted(errors, key=str)[0]
        for state, built in zip(batch, results, strict=True):
            if isinstance(built, GitopsError):
                state.target.failed = built
                continue
            state.raw, state.origins = built.documents, built.origins
            self._adopt_own_kustomization(state)

    def _adopt_own_kustomization(self, state: _State) -> None:
        """An entry's output usually holds the Kustomization that syncs the entry itself (bootstrap's
        flux-system in gotk-sync.yaml): the entry target is that object, built again if it sets build fields."""
        target = state.target
        if target.parent is not None or state.raw is None:
            return
        for doc in state.raw:
            if not is_flux_kustomization(doc):
                continue
            ks = parse_kustomization(doc, target.name)
            if not is_sync_source(ks.source_ref, self.sync_source) or ks.path != target.kustomization.path:
                continue
            del self.states[(target.cluster, target.key)]
            target.kustomization = ks
            target.name = f"{target.cluster or '.'}/{ks.namespace}/{ks.name}"
            state.chain = (ks.key,)
            self.states[(target.cluster, ks.key)] = state
            if ks.changes_build:
                self._build_again(state)
            return

    def _build_again(self, state: _State) -> None:
        target = state.target
        assert target.path is not None
        built = build_documents(
            target.kustomization,
            (self.root / target.path).resolve(),
            files=self.files,
            scratch=self.scratch,
            kustomize=self.kustomize,
            label=target.name,
            cache=self.cache,
            origins=self.origins,
        )
        state.raw, state.origins = built.documents, built.origins

    def _finish_ready(self) -> bool:
        progressed = False
        for state in list(self.waiting):
            if self._ready(state):
                self.waiting.remove(state)
                self._finish(state, stuck=False)
                progressed = True
        return progressed

    def _ready(self, state: _State) -> bool:
        ks, cluster = state.target.kustomization, state.target.cluster
        return all((cluster, ref.kind, ks.namespace, ref.name) in self.index for ref in ks.substitute_from)

    def _lookup(self, cluster: str, stuck: bool) -> Any:
        def lookup(kind: str, namespace: str, name: str) -> dict[str, Any] | None:
            found = self.index.get((cluster, kind, namespace, name))
            if found is None and stuck:
                # Nothing else can finish first: an object still waiting for its own variables is used as built.
                for other in self.waiting:
                    if other.target.cluster == cluster and other.raw is not None:
                        for doc in other.raw:
                            if _object_key(doc) == (kind, namespace, name):
                                return doc
            return found

        return lookup

    def _finish(self, state: _State, *, stuck: bool) -> None:
        target, ks = state.target, state.target.kustomization
        documents = state.raw or []
        if ks.post_build:
            variables = load_variables(ks, self._lookup(target.cluster, stuck), self.identities, target.name)
            target.warnings.extend(variables.warnings)
            documents = substitute_objects(ks, documents, variables.values, target.name, strict=self.strict)
        set_metadata(ks, documents)
        target.documents, target.origins = documents, state.origins
        if not documents:
            target.warnings.append(f"{target.name}: builds to zero documents ({target.path})")
        for doc in documents:
            kind, namespace, name = _object_key(doc)
            if kind in ("ConfigMap", "Secret"):
                self.index[(target.cluster, kind, namespace, name)] = doc
        for doc in documents:
            if is_artifact_generator(doc):
                for artifact in generated_artifacts(doc, self._source_base):
                    self.artifacts.setdefault((target.cluster, artifact.namespace, artifact.name), artifact)
        for doc in documents:
            if is_flux_kustomization(doc):
                self._child(state, parse_kustomization(doc, target.name))

    def _child(self, parent: _State, ks: FluxKustomization) -> None:
        cluster = parent.target.cluster
        if ks.key == parent.target.key:
            return  # a Kustomization managing itself (bootstrap's flux-system) is not a new target
        if ks.key in parent.chain:
            loop = [*parent.chain[parent.chain.index(ks.key) :], ks.key]
            raise GitopsError(f"{cluster}: Flux Kustomization cycle: {' -> '.join(loop)}")
        if (cluster, ks.key) in self.states:
            return
        self._add(cluster, ks, parent.target.name, parent.chain)


def _capture(function: Any) -> Any:
    def call(argument: Any) -> Any:
        try:
            return function(argument)
        except GitopsError as exc:
            return exc

    return call


def _object_key(doc: dict[str, Any]) -> tuple[str, str, str]:
    metadata = doc.get("metadata") or {}
    return (str(doc.get("kind", "")), str(metadata.get("namespace") or "default"), str(metadata.get("name", "")))
