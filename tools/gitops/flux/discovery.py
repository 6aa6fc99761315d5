"""Clusters and targets of a Flux repository: every Flux Kustomization reached from a cluster entry path.

Entry paths (clusters) come from the caller (gitops.yaml `clusters:` or `--cluster PATH`) or are found by
`flux.clusters.find_clusters`, whose rule needs no configuration on the `flux bootstrap` layout and on Flux
Operator layouts (see docs/flux.md). From each entry, a run builds the entry path, collects the Flux
Kustomizations in its output, builds each one's spec.path, and so on: a Kustomization is built once per
cluster, a chain that comes back to one of its own ancestors is an error naming the chain.

A target is named `<cluster path>/<namespace>/<name>`. Its source is the GitRepository syncing this repository
(`flux-system` unless configured), which is the repository root, or another source mapped to a repository
path by name; a target whose source is not mapped is kept as *skipped*, with the reason. A run can leave
leaves unbuilt (flux.inputs) for listing and the diff; flux.graph opens runs and builds some of them later.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops import cache
from gitops.errors import GitopsError
from gitops.flux import step_cache
from gitops.flux.artifacts import GeneratedArtifact, generated_artifacts, is_artifact_generator
from gitops.flux.build import Built, Scratch, build_documents, gathered_build
from gitops.flux.clusters import ENTRY_NAME, ENTRY_NAMESPACE, is_sync_source
from gitops.flux.files import RepoFiles
from gitops.flux.inputs import LeafTest
from gitops.flux.model import FluxTarget
from gitops.flux.objects import (
    FluxKustomization,
    SourceRef,
    is_flux_kustomization,
    normalise_path,
    parse_kustomization,
)
from gitops.flux.postbuild import load_variables, set_metadata, substitute_objects
from gitops.kustomize import Kustomize
from gitops.targets import Tree


@dataclass
class TargetState:
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


class DiscoveryRun:
    """One discovery: targets to build (waves of parallel builds), targets waiting for substituteFrom objects,
    leaves deferred, and the cluster's ConfigMaps/Secrets and generated artifacts found so far."""

    def __init__(
        self,
        root: Path,
        files: RepoFiles,
        scratch: Scratch,
        kustomize: Kustomize | None,
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
        self.tree: Tree | None = None
        """The run's walk of kustomizations (shared with the cache and the leaf test)."""
        self.leaf_test: LeafTest | None = None
        self.origins = True
        self.gather = False
        """Listing: builds that only gather files are read without kustomize (flux.gather)."""
        self.find_tool: Callable[[], Kustomize] | None = None
        """When set, kustomize is not found yet: the first build that needs it finds it (a listing)."""
        self.cache_for: Any = None
        """With find_tool: makes the run's cache for the tool found."""
        self._tool_lock = threading.Lock()
        self.deferred: list[TargetState] = []
        self.ahead: list[tuple[FluxKustomization, str]] = []
        """Kustomizations whose leaf test can run while builds do (see _test_leaves_ahead)."""
        self.states: dict[tuple[str, str], TargetState] = {}
        self.to_build: list[TargetState] = []
        self.waiting: list[TargetState] = []
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
        state = TargetState(target, (*chain, ks.key))
        self.states[(cluster, ks.key)] = state
        if skipped is None:
            self.to_build.append(state)

    def expect(self, kustomizations: Sequence[FluxKustomization]) -> None:
        """Kustomizations the repository's files define: their leaf tests can run while builds do."""
        for ks in kustomizations:
            if ks.source_ref.kind == "ExternalArtifact" or self._source_base(ks.source_ref) is None:
                continue
            path, _skipped = self._source_path("", ks)
            if path is not None:
                self.ahead.append((ks, path))

    def directory(self, path: str) -> Path:
        """A target's resolved directory (symlinks followed), through the run's walk when there is one: it
        knows where the repository has symlinks, so most paths need no system call."""
        if self.tree is None:
            return (self.root / path).resolve()
        return self.tree.real(self.root / path)

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

    def _without_leaves(self, batch: list[TargetState]) -> list[TargetState]:
        """The batch less the leaves, which are deferred (only with a leaf test)."""
        if self.leaf_test is None:
            return batch
        kept = []
        for state in batch:
            target = state.target
            assert target.path is not None
            inputs = None
            if not state.forced:
                inputs = self.leaf_test.leaf_inputs(target.kustomization, self.directory(target.path))
            if inputs is None:
                kept.append(state)
            else:
                state.inputs, target.unbuilt = inputs, True
                self.deferred.append(state)
        return kept

    def _test_leaves_ahead(self, builds: list[Future[Any]]) -> None:
        """While builds run (kustomize processes, the interpreter idle), the leaf test of Kustomizations the
        repository's files define (`ahead`): the builds will likely yield them, and LeafTest keeps answers."""
        while self.ahead and self.leaf_test is not None and not all(build.done() for build in builds):
            ks, path = self.ahead.pop()
            self.leaf_test.leaf_inputs(ks, self.directory(path))

    def _build_one(self, state: TargetState) -> Built:
        target = state.target
        assert target.path is not None
        directory = self.directory(target.path)
        # The artifact checks hold for the sync source's ignore rules; a mapped source has its own.
        tree = self.tree if is_sync_source(target.kustomization.source_ref, self.sync_source) else None
        if self.gather and tree is not None:
            gathered = gathered_build(target.kustomization, directory, self.files, tree, target.name)
            if gathered is not None:
                return gathered
        self._tool_found()
        assert self.kustomize is not None
        return build_documents(
            target.kustomization,
            directory,
            files=self.files,
            scratch=self.scratch,
            kustomize=self.kustomize,
            label=target.name,
            cache=self.cache,
            origins=self.origins,
            tree=tree,
        )

    def _tool_found(self) -> None:
        with self._tool_lock:
            if self.find_tool is not None:
                self.kustomize = self.find_tool()
                self.cache = self.cache_for(self.kustomize)
                self.find_tool = None

    def _build(self, batch: list[TargetState]) -> None:
        with ThreadPoolExecutor(max_workers=min(self.workers, len(batch))) as pool:
            futures = [pool.submit(_capture(self._build_one), state) for state in batch]
            self._test_leaves_ahead(futures)
            results = [future.result() for future in futures]
        errors = [r for r in results if isinstance(r, GitopsError)]
        if errors and not self.keep_going:
            raise sorted(errors, key=str)[0]
        for state, built in zip(batch, results, strict=True):
            if isinstance(built, GitopsError):
                state.target.failed = built
                continue
            state.raw, state.origins = built.documents, built.origins
            self._adopt_own_kustomization(state)

    def _adopt_own_kustomization(self, state: TargetState) -> None:
        """An entry's output usually holds the Kustomization that syncs the entry itself (bootstrap's
        flux-system in gotk-sync.yaml): the entry target is that object, built again if it sets build fields."""
        target = state.target
        if target.parent is not None or state.raw is None:
            return
        for doc in state.raw:
            if not is_flux_kustomization(doc) or not _may_build(doc, target.kustomization.path):
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

    def _build_again(self, state: TargetState) -> None:
        built = self._build_one(state)
        state.raw, state.origins = built.documents, built.origins

    def _finish_ready(self) -> bool:
        progressed = False
        for state in list(self.waiting):
            if self._ready(state):
                self.waiting.remove(state)
                self._finish(state, stuck=False)
                progressed = True
        return progressed

    def _ready(self, state: TargetState) -> bool:
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
                            if object_key(doc) == (kind, namespace, name):
                                return doc
            return found

        return lookup

    def _finish(self, state: TargetState, *, stuck: bool) -> None:
        target, ks = state.target, state.target.kustomization
        documents = state.raw or []
        values = None
        if ks.post_build:
            variables = load_variables(ks, self._lookup(target.cluster, stuck), self.identities, target.name)
            target.warnings.extend(variables.warnings)
            values = variables.values
        # A listing keeps no text and reads gathered objects: nothing to remember.
        remembering = self.cache is not None and not self.gather
        key = step_cache.step_key(ks, documents, values, self.strict) if remembering else None
        remembered = step_cache.load(self.cache, key) if self.cache is not None and key is not None else None
        if remembered is not None:
            documents, target.text = remembered.documents, remembered.text
        else:
            if values is not None:
                documents = substitute_objects(ks, documents, values, target.name, strict=self.strict)
            set_metadata(ks, documents)
            if self.cache is not None and key is not None:
                # Kept once render has written the documents as text (check and diff never need the text).
                target.keep_text = step_cache.keeper(self.cache, key, documents)
        target.documents, target.origins = documents, state.origins
        if not documents:
            target.warnings.append(f"{target.name}: builds to zero documents ({target.path})")
        for doc in documents:
            kind, namespace, name = object_key(doc)
            if kind in ("ConfigMap", "Secret"):
                self.index[(target.cluster, kind, namespace, name)] = doc
        for doc in documents:
            if is_artifact_generator(doc):
                for artifact in generated_artifacts(doc, self._source_base):
                    self.artifacts.setdefault((target.cluster, artifact.namespace, artifact.name), artifact)
        for doc in documents:
            if is_flux_kustomization(doc):
                self._child(state, parse_kustomization(doc, target.name))

    def _child(self, parent: TargetState, ks: FluxKustomization) -> None:
        cluster = parent.target.cluster
        if ks.key == parent.target.key:
            return  # a Kustomization managing itself (bootstrap's flux-system) is not a new target
        if ks.key in parent.chain:
            loop = [*parent.chain[parent.chain.index(ks.key) :], ks.key]
            raise GitopsError(f"{cluster}: Flux Kustomization cycle: {' -> '.join(loop)}")
        if (cluster, ks.key) in self.states:
            return
        self._add(cluster, ks, parent.target.name, parent.chain)


def _may_build(doc: dict[str, Any], path: str) -> bool:
    """Whether a Flux Kustomization object may have spec.path `path` (a malformed one may: parsing names it)."""
    spec = doc.get("spec")
    written = spec.get("path") if isinstance(spec, dict) else None
    return not isinstance(written, str) or normalise_path(written) == path


def _capture(function: Any) -> Any:
    def call(argument: Any) -> Any:
        try:
            return function(argument)
        except GitopsError as exc:
            return exc

    return call


def object_key(doc: dict[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name) as substituteFrom looks an object up (no namespace: `default`)."""
    metadata = doc.get("metadata") or {}
    return (str(doc.get("kind", "")), str(metadata.get("namespace") or "default"), str(metadata.get("name", "")))
