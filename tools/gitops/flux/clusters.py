"""Cluster entry paths of a Flux repository, found without configuration (the rule is in docs/flux.md).

A sync Kustomization (sourceRef: the GitRepository syncing this repository) defined inside its own spec.path
makes that path an entry (bootstrap's gotk-sync.yaml); other candidates are the directories of files defining
sync Kustomizations and a Flux Operator FluxInstance's spec.sync.path, entries unless a sync Kustomization
defined elsewhere builds them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gitops.errors import GitopsError
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

# The Kustomization `flux bootstrap` and the Flux Operator create for the entry path.
ENTRY_NAMESPACE = ENTRY_NAME = "flux-system"
FLUX_MARKERS = ("kustomize.toolkit.fluxcd.io", "FluxInstance")
SOURCE_GROUP = "source.toolkit.fluxcd.io"
SYNC_SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket")
BOOTSTRAP_SYNC_FILE = "gotk-sync.yaml"


def file_mentions_flux(path: Path) -> bool:
    """Whether a file's bytes hold Flux's markers (what the Flux mode decision reads); an unreadable file
    counts as holding them, so that a caller in doubt takes the path that decides again."""
    try:
        data = path.read_bytes()
    except OSError:
        return True
    return any(marker.encode() in data for marker in FLUX_MARKERS)


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
    apply_sync_ignore(files, sync_source)
    declared: set[str] = set()
    candidates: set[str] = set()
    covering: list[str] = []
    bootstrapped: set[str] = set()
    for path in files.yaml_files():
        # `flux bootstrap --path=P` writes P/flux-system/gotk-sync.yaml syncing P; a repository may commit a
        # placeholder there (the official example does) and leave the sync to bootstrap.
        placeholder = path.name == BOOTSTRAP_SYNC_FILE and path.parent.name == ENTRY_NAMESPACE and path.parent != root
        if placeholder and not files.mentions(path, FLUX_MARKERS):
            bootstrapped.add(files.rel(path.parent.parent) if path.parent.parent != root else "")
    for _path, doc in _marked_documents(files):
        if is_flux_instance(doc):
            sync_path = flux_instance_sync_path(doc)
            if sync_path is not None:
                candidates.add(sync_path)
    written = _written_kustomizations(files)
    for path, ks in written:
        if ks is None or not is_sync_source(ks.source_ref, sync_source):
            continue
        directory = files.rel(path.parent) if path.parent != root else ""
        if inside(directory, ks.path):
            declared.add(ks.path)
        else:
            candidates.add(directory)
            covering.append(ks.path)
    any_kustomization = bool(written)
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
    return str(files.once("sync-source", lambda: _infer_sync_source(files)))


def _infer_sync_source(files: RepoFiles) -> str:
    referenced: set[str] = set()
    defined = {str(_metadata(doc).get("name")) for doc in _sync_namespace_repositories(files)}
    for _path, ks in _written_kustomizations(files):
        if ks is not None and ks.source_ref.kind == "GitRepository" and ks.source_ref.namespace == ENTRY_NAMESPACE:
            referenced.add(ks.source_ref.name)
    if DEFAULT_SYNC_SOURCE in referenced:
        return DEFAULT_SYNC_SOURCE
    candidates = referenced & defined
    return candidates.pop() if len(candidates) == 1 else DEFAULT_SYNC_SOURCE


def defined_kustomizations(files: RepoFiles) -> list[FluxKustomization]:
    """The Flux Kustomizations the repository's files define as written (before any build)."""
    return [ks for _path, ks in _written_kustomizations(files) if ks is not None]


def _written_kustomizations(files: RepoFiles) -> list[tuple[Path, FluxKustomization | None]]:
    """Every Flux Kustomization document in the repository's files, parsed once per run (None: malformed)."""

    def collect() -> list[tuple[Path, FluxKustomization | None]]:
        found: list[tuple[Path, FluxKustomization | None]] = []
        for path, doc in _marked_documents(files):
            if is_flux_kustomization(doc):
                try:
                    found.append((path, parse_kustomization(doc, files.rel(path))))
                except GitopsError:
                    found.append((path, None))
        return found

    return list(files.once("flux-kustomizations", collect))


def apply_sync_ignore(files: RepoFiles, sync_source: str) -> None:
    """source-controller adds the sync GitRepository's `spec.ignore` to the `.sourceignore` patterns. When the
    repository defines that GitRepository (in a file with Flux's markers, as bootstrap's gotk-sync.yaml), and
    every definition has the same `spec.ignore`, its patterns decide the artifact's files from here on."""
    ignores: set[str | None] = set()
    for doc in _sync_namespace_repositories(files):
        if _metadata(doc).get("name") == sync_source:
            spec = doc.get("spec") if isinstance(doc.get("spec"), dict) else {}
            ignore = (spec or {}).get("ignore")
            ignores.add(ignore if isinstance(ignore, str) else None)
    if len(ignores) == 1:
        files.apply_spec_ignore(ignores.pop())


def _marked_documents(files: RepoFiles) -> list[tuple[Path, dict[str, Any]]]:
    """The documents of every file holding Flux's markers, with the file, once per run. A file that does not
    parse is left out: no build reads it yet (one that is read fails its build)."""

    def collect() -> list[tuple[Path, dict[str, Any]]]:
        found: list[tuple[Path, dict[str, Any]]] = []
        for path in files.yaml_files():
            try:
                if not files.mentions(path, FLUX_MARKERS):
                    continue
                documents = files.documents(path)
            except (GitopsError, OSError):
                continue
            found.extend((path, doc) for doc in documents if isinstance(doc, dict))
        return found

    return list(files.once("marked-documents", collect))


def _sync_namespace_repositories(files: RepoFiles) -> list[dict[str, Any]]:
    """The GitRepository objects the repository's files define in flux-system, where the sync source lives."""
    return [
        doc
        for _path, doc in _marked_documents(files)
        if doc.get("kind") == "GitRepository"
        and str(doc.get("apiVersion", "")).startswith(SOURCE_GROUP + "/")
        and _metadata(doc).get("namespace", ENTRY_NAMESPACE) == ENTRY_NAMESPACE
    ]


def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
    metadata = doc.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def is_sync_source(ref: SourceRef, sync_source: str) -> bool:
    """The source syncing this repository, which bootstrap and the Flux Operator create in flux-system: a
    GitRepository, or the OCIRepository/Bucket a FluxInstance's `spec.sync.kind` asks for (the artifact CI
    pushes from this repository, e.g. the Flux Operator's d2 reference architecture)."""
    return ref.kind in SYNC_SOURCE_KINDS and ref.name == sync_source and ref.namespace == ENTRY_NAMESPACE


def resolve_entries(
    root: Path, files: RepoFiles, clusters: Sequence[str] | None, sources: Mapping[str, str], sync_source: str
) -> tuple[list[str], dict[str, str]] | None:
    """The cluster entry paths (given, else found) and the source mappings, normalised and checked to be
    directories of the repository; None when the repository has no Flux Kustomization."""
    entries = [normalise_path(c) for c in clusters] if clusters else find_clusters(root, files, sync_source)
    if entries is None:
        return None
    if not entries:
        raise GitopsError(
            "Flux Kustomizations found, but no cluster entry path: none is synced by "
            f"GitRepository/{sync_source}; set gitops.yaml clusters: or pass --cluster PATH"
        )
    source_dirs = {name: normalise_path(path) for name, path in sources.items()}
    for name, path in source_dirs.items():
        _resolve_dir(root, path, f"source {name}: path")
    for entry in entries:
        _resolve_dir(root, entry, "cluster entry path")
    return entries, source_dirs


def _resolve_dir(root: Path, rel: str, what: str) -> Path:
    directory = (root / rel).resolve()
    if directory != root and root not in directory.parents:
        raise GitopsError(f"{what} '{rel}' is outside the repository")
    if not directory.is_dir():
        raise GitopsError(f"{what} '{rel}' is not a directory in the repository")
    return directory
