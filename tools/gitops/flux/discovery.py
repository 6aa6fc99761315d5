"""Clusters and targets of a Flux repository: every Flux Kustomization reached from a cluster entry path.

Entry paths (clusters) come from the caller (gitops.yaml `clusters:` or `--cluster PATH`) or are found by
`find_clusters`, whose rule needs no configuration on the `flux bootstrap` layout and on Flux Operator layouts
(see docs/flux.md). From each entry, `render_flux` builds the entry path, collects the Flux Kustomizations in
its output, builds each one's spec.path, and so on: a Kustomization is built once per cluster, a chain that
comes back to one of its own ancestors is an error naming the chain.

A target is named `<cluster path>/<namespace>/<name>`. Its source is the GitRepository syncing this repository
(`flux-system` unless configured), which is the repository root, or another source mapped to a repository
path by name; a target whose source is not mapped is kept as *skipped*, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops import cache
from gitops.errors import GitopsError
from gitops.flux.artifacts import GeneratedArtifact, generated_artifacts, is_artifact_generator
from gitops.flux.build import Built, Scratch, build_documents, scratch_space
from gitops.flux.files import RepoFiles
from gitops.flux.objects import (
    DEFAULT_SYNC_SOURCE,
    FluxKustomization,
    SourceRef,
    flux_instance_sync_path,
    is_flux_instance,
    is_flux_kustomization,
    normalise_path,
    parse_kustomization,
)
from gitops.flux.postbuild import load_variables, set_metadata, substitute_objects
from gitops.kustomize import Kustomize, find_kustomize
from gitops.render import default_jobs
from gitops.targets import Tree

# The Kustomization `flux bootstrap` and the Flux Operator create for the entry path.
ENTRY_NAMESPACE = ENTRY_NAME = "flux-system"
FLUX_MARKERS = ("kustomize.toolkit.fluxcd.io", "FluxInstance")
SOURCE_GROUP = "source.toolkit.fluxcd.io"
SYNC_SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket")
BOOTSTRAP_SYNC_FILE = "gotk-sync.yaml"


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

    @property
    def key(self) -> str:
        return self.kustomization.key


@dataclass
class FluxRender:
    clusters: list[str]
    targets: list[FluxTarget]
    warnings: list[str]


@dataclass
class _State:
    target: FluxTarget
    chain: tuple[str, ...]
    raw: list[dict[str, Any]] | None = None
    origins: list[str | None] = field(default_factory=list)


def inside(path: str, ancestor: str) -> bool:
    """Whether repository-relative `path` is `ancestor` or below it (\"\" is the root)."""
    return ancestor == "" or path == ancestor or path.startswith(ancestor + "/")


def find_clusters(root: Path, files: RepoFiles | None = None, sync_source: str | None = None) -> list[str] | None:
    """Cluster entry paths found without configuration; None when the repository has no Flux Kustomization.

    The rule (docs/flux.md): a sync Kustomization (sourceRef: the sync GitRepository) defined inside its own
    spec.path makes that path an entry (bootstrap's gotk-sync.yaml in clusters/<name>/flux-system). Other
    candidates are the directories of files defining sync Kustomizations and a FluxInstance's
    spec.sync.path; such a candidate is an entry unless a sync Kustomization defined outside its own path
    builds it (its spec.path is the candidate or above it). Entries inside another entry, and paths that
    do not exist, are dropped. Directories holding gitops.yaml or .git are other repositories: not walked.
    """
    files = files or RepoFiles(root)
    sync_source = sync_source or infer_sync_source(files)
    any_kustomization = False
    declared: set[str] = set()
    candidates: set[str] = set()
    covering: list[str] = []
    bootstrapped: set[str] = set()
    for path in files.yaml_files():
        try:
            if not any(marker in path.read_text(encoding="utf-8", errors="replace") for marker in FLUX_MARKERS):
                if path.name == BOOTSTRAP_SYNC_FILE and path.parent.name == ENTRY_NAMESPACE and path.parent != root:
                    # `flux bootstrap --path=P` writes P/flux-system/gotk-sync.yaml syncing P; a repository may
                    # commit a placeholder there (the official example does) and leave the sync to bootstrap.
                    bootstrapped.add(files.rel(path.parent.parent) if path.parent.parent != root else "")
                continue
            documents = files.documents(path)
        except (GitopsError, OSError):
            continue  # a file no build reads cannot stop discovery; one that is read fails its build
        directory = files.rel(path.parent) if path.parent != root else ""
        for doc in documents:
            if not isinstance(doc, dict):
                continue
            if is_flux_instance(doc):
                sync_path = flux_instance_sync_path(doc)
                if sync_path is not None:
                    candidates.add(sync_path)
            if not is_flux_kustomization(doc):
                continue
            any_kustomization = True
            try:
                ks = parse_kustomization(doc, files.rel(path))
            except GitopsError:
                continue
            if not _is_sync_source(ks.source_ref, sync_source):
                continue
            if inside(directory, ks.path):
                declared.add(ks.path)
            else:
                candidates.add(directory)
                covering.append(ks.path)
    # A placeholder gotk-sync.yaml declares no sync Kustomization: its cluster path is the entry bootstrap makes.
    candidates |= {p for p in bootstrapped if p not in declared and not any(inside(p, d) for d in covering)}
    if not any_kustomization and not candidates:
        return None
    unreached = declared | {c for c in candidates if not any(inside(c, p) for p in covering)}
    existing = sorted(c for c in unreached if (root / c).is_dir())
    return [c for c in existing if not any(o != c and inside(c, o) for o in existing)]


def infer_sync_source(files: RepoFiles) -> str:
    """The name of the GitRepository syncing this repository when gitops.yaml does not say (`syncSource:`).

    `flux-system` (bootstrap's and the Flux Operator's name) unless no Kustomization of the repository builds
    from it and exactly one GitRepository defined in the repository (namespace flux-system) is what its
    Kustomizations build from: repositories that define their own sync source (e.g. `home-ops-kubernetes`)."""
    referenced: set[str] = set()
    defined: set[str] = set()
    for path in files.yaml_files():
        try:
            if not any(marker in path.read_text(encoding="utf-8", errors="replace") for marker in FLUX_MARKERS):
                continue
            documents = files.documents(path)
        except (GitopsError, OSError):
            continue
        for doc in documents:
            if not isinstance(doc, dict):
                continue
            metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
            if doc.get("kind") == "GitRepository" and str(doc.get("apiVersion", "")).startswith(SOURCE_GROUP + "/"):
                if (metadata or {}).get("namespace", ENTRY_NAMESPACE) == ENTRY_NAMESPACE:
                    defined.add(str((metadata or {}).get("name")))
            elif is_flux_kustomization(doc):
                try:
                    ref = parse_kustomization(doc, files.rel(path)).source_ref
                except GitopsError:
                    continue
                if ref.kind == "GitRepository" and ref.namespace == ENTRY_NAMESPACE:
                    referenced.add(ref.name)
    if DEFAULT_SYNC_SOURCE in referenced:
        return DEFAULT_SYNC_SOURCE
    candidates = referenced & defined
    return candidates.pop() if len(candidates) == 1 else DEFAULT_SYNC_SOURCE


def _is_sync_source(ref: SourceRef, sync_source: str) -> bool:
    """The source syncing this repository, which bootstrap and the Flux Operator create in flux-system: a
    GitRepository, or the OCIRepository/Bucket a FluxInstance's `spec.sync.kind` asks for (the artifact CI
    pushes from this repository, e.g. the Flux Operator's d2 reference architecture)."""
    return ref.kind in SYNC_SOURCE_KINDS and ref.name == sync_source and ref.namespace == ENTRY_NAMESPACE


def _resolve_dir(root: Path, rel: str, what: str) -> Path:
    directory = (root / rel).resolve()
    if directory != root and root not in directory.parents:
        raise GitopsError(f"{what} '{rel}' is outside the repository")
    if not directory.is_dir():
        raise GitopsError(f"{what} '{rel}' is not a directory in the repository")
    return directory


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
) -> FluxRender | None:
    """Every target of every cluster, built and post-processed; None when the repository has no Flux
    Kustomization and no cluster was given (the caller keeps plain kustomize directory targets).

    A failed build raises, unless `keep_going`: then the target keeps its error in `failed` (check reports
    targets that read an unparsable file and judges the others)."""
    root = root.resolve()
    files = RepoFiles(root)
    sync_source = sync_source or infer_sync_source(files)
    entries = [normalise_path(c) for c in clusters] if clusters else find_clusters(root, files, sync_source)
    if entries is None:
        return None
    if not entries:
        raise GitopsError(
            "Flux Kustomizations found, but no cluster entry path: none is synced by "
            f"GitRepository/{sync_source}; set gitops.yaml clusters: or pass --cluster PATH"
        )
    source_dirs = {name: normalise_path(path) for name, path in (sources or {}).items()}
    for name, path in source_dirs.items():
        _resolve_dir(root, path, f"source {name}: path")
    for entry in entries:
        _resolve_dir(root, entry, "cluster entry path")
    tool = kustomize or find_kustomize()
    with scratch_space() as scratch:
        run = _Run(root, files, scratch, tool, source_dirs, sync_source, identities, strict)
        run.cache = cache.for_run(tool, Tree(root))
        run.keep_going = keep_going
        run.workers = max(1, jobs or default_jobs())
        for entry in entries:
            run.add_entry(entry)
        run.run()
    if run.cache is not None:
        run.cache.store.trim()
    targets = sorted((s.target for s in run.states.values()), key=lambda t: t.name)
    warnings = [w for t in targets for w in t.warnings]
    return FluxRender(entries, targets, warnings)


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
        if _is_sync_source(ref, self.sync_source):
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
                batch, self.to_build = self.to_build, []
                self._build(batch)
                self.waiting.extend(s for s in batch if s.target.failed is None)
            if self._finish_ready():
                continue
            if self.to_build:
                continue
            if self.waiting:
                self._finish(self.waiting.pop(0), stuck=True)

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
            if not _is_sync_source(ks.source_ref, self.sync_source) or ks.path != target.kustomization.path:
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
