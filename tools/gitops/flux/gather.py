"""kustomize's output without kustomize, for a build that only gathers files: what listing needs.

Listing reads the Flux Kustomizations (and the ConfigMaps and Secrets substituteFrom names) in the output of
the entries and of the targets that are not leaves. Those builds are usually plain aggregations: bootstrap's
`flux-system/kustomization.yaml` lists `gotk-components.yaml` and `gotk-sync.yaml`, a cluster directory without
a kustomization file gets one generated that lists its files. When the Flux Kustomization sets no build field
and every kustomization on the way only lists `resources:` (local paths, nothing else), kustomize outputs the
objects of those files as written: their documents, already parsed for discovery, are that output.

Anything else, or any doubt, answers None and the caller runs kustomize: a transformer, generator or
component anywhere, a file that does not parse, an object without apiVersion, kind or name, a `List`,
two objects with the same identity (kustomize refuses them), more unparsed text than a build costs, a plain
scalar Go's YAML reads differently from PyYAML (`yes`, `1:30`, a timestamp, a float: kustomize writes them
back as strings or other numbers, yaml_objects.load_all tells).
Objects come out in the files' order, not kustomize's kind order: listing does not depend on the order.
Render, check and diff always run kustomize: their output is the build's own text and objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gitops.errors import GitopsError
from gitops.flux.files import RepoFiles, generated_resources
from gitops.flux.objects import FluxKustomization
from gitops.manifests import identity_of
from gitops.targets import Tree, kustomization_file

# Parsing YAML in Python costs more than kustomize's whole build beyond about this much text not parsed yet
# (discovery has parsed every file holding Flux's markers, bootstrap's gotk-components.yaml among them).
MAX_UNPARSED_BYTES = 256 * 1024


def gathered_documents(
    ks: FluxKustomization, directory: Path, files: RepoFiles, tree: Tree
) -> list[dict[str, Any]] | None:
    """The documents kustomize would output for `ks` at `directory` when the build only gathers files
    (module docstring); None when kustomize must run."""
    if ks.changes_build:
        return None
    try:
        if kustomization_file(directory) is not None:
            paths = _gathered_files(tree, directory)
        else:
            paths = []
            for listed in generated_resources(directory, files, check=False):
                found = _gathered_files(tree, listed) if listed.is_dir() else [listed]
                if found is None:
                    return None
                paths.extend(found)
        if paths is None or sum(path.stat().st_size for path in paths if not files.parsed(path)) > MAX_UNPARSED_BYTES:
            return None
        documents = [doc for path in paths for doc in files.documents(path)]
    except (GitopsError, ValueError, OSError):
        return None  # kustomize says what is wrong, in its own words
    if not all(files.read_alike_by_go(path) for path in paths):
        return None  # kustomize would write `yes` back as the string "yes", which we read as a boolean
    if not _as_kustomize_outputs(documents):
        return None
    return [_own_metadata(doc) for doc in documents]


def _own_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    """The object with metadata of its own: the parsed files are shared, and Flux's labels are set on every
    built object (postbuild.set_metadata changes metadata, its labels and annotations, nothing else)."""
    metadata = dict(doc["metadata"])
    for key in ("labels", "annotations"):
        if isinstance(metadata.get(key), dict):
            metadata[key] = dict(metadata[key])
    return {**doc, "metadata": metadata}


def _gathered_files(tree: Tree, directory: Path, within: tuple[Path, ...] = ()) -> list[Path] | None:
    """The files the kustomization at `directory` gathers, through gathering kustomizations; None when one
    of them transforms anything, the walk refuses a path or comes back to a kustomization it is in."""
    node = tree.load(directory)
    if node.gathered is None or directory in within:
        return None
    found: list[Path] = []
    for path in node.gathered:
        if path.is_dir():
            below = _gathered_files(tree, path, (*within, directory))
            if below is None:
                return None
            found.extend(below)
        elif path.is_file():
            found.append(path)
        else:
            return None
    return found


def _as_kustomize_outputs(documents: list[Any]) -> bool:
    """Whether kustomize would output these objects unchanged: each a mapping with apiVersion, kind and a
    name, none a List or a kustomize configuration, no identity twice."""
    seen: set[tuple[str, str, str, str]] = set()
    for doc in documents:
        if not isinstance(doc, dict):
            return False
        api_version, kind, metadata = doc.get("apiVersion"), doc.get("kind"), doc.get("metadata")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not isinstance(metadata, dict):
            return False
        name, namespace = metadata.get("name"), metadata.get("namespace")
        if not isinstance(name, str) or not name or not isinstance(namespace, str | None):
            return False
        if not api_version or kind.endswith("List") or api_version.startswith("kustomize.config.k8s.io/"):
            return False
        identity = identity_of(doc).group_kind_key
        if identity in seen:
            return False
        seen.add(identity)
    return True
