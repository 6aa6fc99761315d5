"""What kustomize-controller builds for one Flux Kustomization, before postBuild.

The controller edits the kustomization in `spec.path` (generating one when there is none) and runs kustomize
with LoadRestrictionsNone. We never touch the repository: the edit lives in a private scratch directory.
- no kustomization file: the scratch kustomization *is* the generated one (its resources are the files the
  controller would list, as paths relative to the scratch directory) plus the Flux fields - the controller's
  exact kustomization;
- a kustomization file exists and the Flux Kustomization sets build fields: the scratch kustomization lists
  `spec.path` as its one resource and adds the fields. This equals the controller's in-place edit except when
  the directory's own kustomization already sets namePrefix/nameSuffix or the same image (the controller
  overrides those, the wrapper applies both) or patches select by names its own transformers change;
- otherwise the scratch kustomization lists `spec.path` as its one resource and adds nothing else.
Every scratch kustomization turns on `buildMetadata: [originAnnotations]` when origins are asked for (check:
each object knows the source file it came from, findings name it); the annotations are stripped before
anything else sees the object. render and diff build without them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import count
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

from gitops.cache import RunCache
from gitops.errors import GitopsError
from gitops.flux.files import RepoFiles, generated_resources
from gitops.flux.gather import gathered_documents
from gitops.flux.objects import FluxKustomization
from gitops.kustomize import Kustomize
from gitops.manifests import load_documents, origin_path, strip_build_metadata
from gitops.targets import Tree, kustomization_file

_REMOTE_PREFIXES = ("git::", "gh:", "ssh://", "https://", "http://", "git@", "github.com:", "github.com/")
# Flux's placeholder for an empty generated kustomization: it builds to nothing.
_EMPTY_NAMESPACE = "_placeholder"


@dataclass
class Scratch:
    """A private directory for generated kustomizations, one sub-directory per build."""

    root: Path
    _numbers: Iterator[int]

    def new_dir(self) -> Path:
        directory = self.root / str(next(self._numbers))
        directory.mkdir()
        return directory


@contextmanager
def scratch_space() -> Iterator[Scratch]:
    with TemporaryDirectory(prefix="gitops-flux-") as root:
        yield Scratch(Path(root), count())


def is_local_relative(path: str) -> bool:
    """Flux's rule for component paths: no remote URL and not absolute."""
    lowered = path.lower()
    if any(len(prefix) < len(path) and lowered.startswith(prefix) for prefix in _REMOTE_PREFIXES):
        return False
    return not (os.path.isabs(path) or os.path.isabs(lowered.removeprefix("file://")))


def flux_kustomization_file(
    ks: FluxKustomization, directory: Path, wrapper: Path, files: RepoFiles, label: str
) -> dict[str, Any]:
    """The kustomization the controller would build for `ks` in `directory`, written for `wrapper`."""
    existing = kustomization_file(directory) is not None
    document: dict[str, Any] = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
    if existing:
        document["resources"] = [os.path.relpath(directory, wrapper)]
    else:
        resources = [os.path.relpath(path, wrapper) for path in generated_resources(directory, files)]
        if resources:
            document["resources"] = resources
        else:
            document["namespace"] = _EMPTY_NAMESPACE
    if ks.target_namespace is not None:
        document["namespace"] = ks.target_namespace
    if ks.name_prefix is not None:
        document["namePrefix"] = ks.name_prefix
    if ks.name_suffix is not None:
        document["nameSuffix"] = ks.name_suffix
    if ks.patches:
        document["patches"] = [_patch(patch) for patch in ks.patches]
    # v1beta2's patch fields, as the controller's generator writes them: each patch as JSON text.
    if ks.patches_strategic_merge:
        document["patchesStrategicMerge"] = [json.dumps(patch) for patch in ks.patches_strategic_merge]
    if ks.patches_json6902:
        document["patchesJson6902"] = [
            {"patch": json.dumps(patch["patch"]), "target": patch["target"]} for patch in ks.patches_json6902
        ]
    components = []
    for component in ks.components:
        if not is_local_relative(component):
            raise GitopsError(f"{label}: component path '{component}' must be local and relative")
        if not (directory / component).exists() and ks.ignore_missing_components:
            continue
        components.append(os.path.relpath(directory / component, wrapper))
    if components:
        document["components"] = components
    if ks.images:
        document["images"] = _merged_images(ks.images)
    document["buildMetadata"] = ["originAnnotations"]
    return document


def _patch(patch: dict[str, Any]) -> dict[str, Any]:
    """A Flux patch (inline `patch` and optional `target` selector) as a kustomize patch."""
    out: dict[str, Any] = {"patch": patch.get("patch", "")}
    if isinstance(patch.get("target"), dict):
        out["target"] = patch["target"]
    return out


def _merged_images(images: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """spec.images by name: a later entry for the same name updates newName, and newTag/digest together."""
    merged: dict[str, dict[str, Any]] = {}
    for image in images:
        name = str(image.get("name", ""))
        current = merged.setdefault(name, {"name": name})
        if image.get("newName"):
            current["newName"] = image["newName"]
        if image.get("newTag") or image.get("digest"):
            current.pop("newTag", None)
            current.pop("digest", None)
            for key in ("newTag", "digest"):
                if image.get(key):
                    current[key] = image[key]
    return list(merged.values())


def scratch_kustomization(
    ks: FluxKustomization, directory: Path, wrapper: Path, files: RepoFiles, label: str, *, origins: bool = True
) -> dict[str, Any]:
    """The scratch kustomization for `ks` at `directory`, its paths written relative to `wrapper`.

    Without `origins`, no buildMetadata: kustomize's origin bookkeeping costs about a fifth of a small build,
    and only findings need to name source files (the annotations are stripped from the output either way)."""
    if kustomization_file(directory) is not None and not ks.changes_build:
        document = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": [os.path.relpath(directory, wrapper)],
            "buildMetadata": ["originAnnotations"],
        }
    else:
        document = flux_kustomization_file(ks, directory, wrapper, files, label)
    if not origins:
        del document["buildMetadata"]
    return document


def build_inputs(ks: FluxKustomization, directory: Path, files: RepoFiles, tree: Tree) -> set[Path]:
    """Every file the build of `ks` at `directory` reads: what the scratch kustomization lists (a generated
    kustomization's files, or spec.path and the components) and everything those walk to.

    A GitopsError or ValueError when the walk cannot tell (a remote base, a path outside the repository)."""
    read: set[Path] = set()
    for path in _listed(ks, directory, files):
        read |= tree.inputs(path) if path.is_dir() else {path}
    return read


def _listed(ks: FluxKustomization, directory: Path, files: RepoFiles) -> list[Path]:
    """What the scratch kustomization lists: spec.path (or the files a generated kustomization lists) and the
    components."""
    if kustomization_file(directory) is not None:
        listed = [directory]
    else:
        listed = generated_resources(directory, files, check=False)
    for component in ks.components:
        if not is_local_relative(component):
            raise GitopsError(f"{ks.key}: component path '{component}' must be local and relative")
        path = Path(os.path.normpath(directory / component))
        if path.exists() or not ks.ignore_missing_components:
            listed.append(path)
    return listed


def refuse_outside_artifact(ks: FluxKustomization, directory: Path, files: RepoFiles, tree: Tree, label: str) -> None:
    """A GitopsError when a kustomization the build walks names a file the source artifact leaves out
    (.sourceignore, spec.ignore or source-controller's defaults, e.g. `*.png`): the file exists in the
    checkout, so kustomize would build here, but kustomize-controller reads the artifact and fails.

    Only what kustomizations name counts (not every file beside them); a walk that cannot finish (a remote
    base) is kustomize's to report."""
    problem = _outside_artifact(ks, directory, files, tree)
    if problem is not None:
        raise GitopsError(f"{label}: {problem}")


def _outside_artifact(ks: FluxKustomization, directory: Path, files: RepoFiles, tree: Tree) -> str | None:
    try:
        for listed in _listed(ks, directory, files):
            if not listed.is_dir():
                continue
            for _directory, node in tree.walk(listed):
                for path in (node.file, *node.files):
                    rel = files.rel(path)
                    why = files.ignore.explain(rel)
                    if why is not None:
                        return (
                            f"{rel} (named in {files.rel(node.file)}) is not in the source artifact, excluded by "
                            f"{why}: Flux's build cannot read it"
                        )
    except (GitopsError, ValueError, OSError):
        return None
    return None


def _cached_build(
    cache: RunCache,
    ks: FluxKustomization,
    directory: Path,
    wrapper: Path,
    files: RepoFiles,
    label: str,
    run: Callable[[], str],
    origins: bool,
) -> str:
    """`run()` through the render cache. The key: the scratch kustomization's text with repository-relative
    paths (the same wherever the scratch directory lies) and the files everything it lists reads.

    An input the key cannot cover (a path outside the repository, a kustomization the walk refuses) builds
    uncached: kustomize then reports the problem in its own words, as without a cache."""
    try:
        portable = scratch_kustomization(ks, directory, files.root, files, label, origins=origins)
        digest = cache.tree.digest_files(build_inputs(ks, directory, files, cache.tree))
        name = files.rel(directory)
    except (GitopsError, ValueError):
        return run()
    text = json.dumps(portable)  # the same document as the scratch file's YAML, at a fraction of the cost
    prefix = os.path.relpath(files.root, wrapper) + "/"
    return cache.build(name, run, origin_prefix=prefix, extra=("flux", text), inputs_digest=digest)


_PARSED = b"gitops-parsed-documents-1\0"


def _parsed(cache: RunCache, output: str, label: str) -> list[dict[str, Any]]:
    """kustomize's output parsed, remembered in the render cache as JSON by the output's digest: parsing
    YAML in Python costs about as much as a small build, loading the same documents as JSON a fiftieth of it.
    Only documents JSON keeps exactly are remembered (not dates, non-string keys, NaN)."""
    key = hashlib.sha256(_PARSED + output.encode("utf-8")).hexdigest()
    stored = cache.store.get(key)
    if stored is not None:
        with contextlib.suppress(ValueError):
            documents = json.loads(stored)
            if isinstance(documents, list) and all(isinstance(doc, dict) for doc in documents):
                return documents
    documents = load_documents(output, label)
    with contextlib.suppress(TypeError, ValueError):
        text = json.dumps(documents, ensure_ascii=False, separators=(",", ":"))
        if json.loads(text) == documents:
            cache.store.put(key, text.encode("utf-8"))
    return documents


def scratch_text(document: dict[str, Any]) -> str:
    """The scratch kustomization file's text: JSON, which is YAML to kustomize, written many times faster
    than PyYAML's pure-Python emitter would (raw UTF-8: escaped surrogate pairs are not YAML)."""
    return json.dumps(document, ensure_ascii=False, indent=1) + "\n"


def gathered_build(ks: FluxKustomization, directory: Path, files: RepoFiles, tree: Tree, label: str) -> Built | None:
    """For listing: the objects of a build that only gathers files, read without kustomize (flux.gather), after
    the checks build_documents makes; None when kustomize must build it."""
    _refuse_unbuildable(ks, directory, files, tree, label)
    gathered = gathered_documents(ks, directory, files, tree)
    return Built(gathered, [None] * len(gathered)) if gathered is not None else None


def _refuse_unbuildable(
    ks: FluxKustomization, directory: Path, files: RepoFiles, tree: Tree | None, label: str
) -> None:
    if not directory.is_dir():
        raise GitopsError(
            f"{label}: spec.path '{ks.path or '.'}' not found ({files.rel(directory)} is not a directory)"
        )
    if tree is not None:
        refuse_outside_artifact(ks, directory, files, tree, label)


@dataclass
class Built:
    """kustomize's output for one Flux Kustomization: plain documents and, in step, their source files."""

    documents: list[dict[str, Any]]
    origins: list[str | None]


def build_documents(
    ks: FluxKustomization,
    directory: Path,
    *,
    files: RepoFiles,
    scratch: Scratch,
    kustomize: Kustomize,
    label: str,
    cache: RunCache | None = None,
    origins: bool = True,
    tree: Tree | None = None,
) -> Built:
    """kustomize's output for `ks` at `directory` (its resolved spec.path), with each object's origin (all
    None without `origins`).

    With `cache`, kustomize's output comes from the render cache when the same inputs were built before. Only
    kustomize's output is stored: postBuild substitution (decrypted values included) happens later.
    With `tree` (the run's walk of kustomizations), a file named that the source artifact leaves out is an
    error, as it is for kustomize-controller.
    """
    _refuse_unbuildable(ks, directory, files, tree, label)
    target = scratch.new_dir()
    document = scratch_kustomization(ks, directory, target, files, label, origins=origins)
    (target / "kustomization.yaml").write_text(scratch_text(document), encoding="utf-8")

    def run() -> str:
        try:
            return kustomize.build(target)
        except GitopsError as exc:
            raise GitopsError(f"{label}: kustomize build failed: {exc}") from None

    output = run() if cache is None else _cached_build(cache, ks, directory, target, files, label, run, origins)
    documents = load_documents(output, label) if cache is None else _parsed(cache, output, label)
    for doc in documents:
        metadata = doc.get("metadata")
        if (
            not doc.get("apiVersion")
            or not doc.get("kind")
            or not isinstance(metadata, dict)
            or not metadata.get("name")
        ):
            raise GitopsError(f"{label}: failed to decode Kubernetes apiVersion, kind and name from a built object")
    sources = []
    for doc in documents:
        raw = strip_build_metadata(doc)  # also without origins: the same empty-annotations cleanup
        sources.append(origin_path(raw, target, files.root) if raw else None)
    return Built(documents, sources)
