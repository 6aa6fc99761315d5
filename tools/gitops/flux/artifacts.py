"""ExternalArtifacts an ArtifactGenerator makes out of this repository, as the repository path they mirror.

Flux 2.7's ArtifactGenerator (source.extensions.fluxcd.io) copies files of its sources into ExternalArtifacts
that Kustomizations then build from (the official flux2-kustomize-helm-example does this). An artifact maps to
one repository directory R when every copy operation keeps the layout below R:
- `@alias/S/**` (or `@alias/S/*.yaml`) to `@artifact/D/` puts the files under S at D: S must be R/D;
- `@alias/S/` to `@artifact/D/` puts directory S at D/<last part of S>: its parent must be R/D.
The alias must name a source that is itself a repository path (the sync GitRepository, or one mapped in
`sources:`). Anything else (a file copied to a new name, `pathPattern`, the Merge or Extract strategy, copies
that do not line up under one directory) leaves the artifact unmapped, with the reason. Files a copy leaves out
(`exclude`, or outside the copied patterns) are still visible to the build here.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitops.flux.objects import SourceRef, normalise_path

GENERATOR_GROUP = "source.extensions.fluxcd.io"
_ALIAS_PREFIX = "@"
_ARTIFACT = "@artifact"


@dataclass(frozen=True)
class GeneratedArtifact:
    namespace: str
    name: str
    path: str | None
    """Repository-relative directory ("" for the root); None when it cannot be mapped (see `reason`)."""
    reason: str | None = None


def is_artifact_generator(body: dict[str, Any]) -> bool:
    return body.get("kind") == "ArtifactGenerator" and str(body.get("apiVersion", "")).startswith(f"{GENERATOR_GROUP}/")


def generated_artifacts(
    body: dict[str, Any], source_path: Callable[[SourceRef], str | None]
) -> list[GeneratedArtifact]:
    """The artifacts of one ArtifactGenerator. `source_path` gives the repository path of a source, or None."""
    metadata: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    namespace = str(metadata.get("namespace") or "default")
    generator = f"ArtifactGenerator/{namespace}/{metadata.get('name')}"
    spec: dict[str, Any] = body["spec"] if isinstance(body.get("spec"), dict) else {}
    aliases: dict[str, str | None] = {}
    for source in spec.get("sources") or []:
        if isinstance(source, dict) and source.get("alias"):
            ref = SourceRef(str(source.get("kind")), str(source.get("name")), str(source.get("namespace") or namespace))
            aliases[str(source["alias"])] = source_path(ref)
    out = []
    for artifact in spec.get("artifacts") or []:
        if not isinstance(artifact, dict) or not artifact.get("name"):
            continue
        name = str(artifact["name"])
        if spec.get("pathPattern"):
            out.append(GeneratedArtifact(namespace, name, None, f"{generator} uses pathPattern"))
            continue
        root, problem = _common_root(artifact.get("copy") or [], aliases)
        reason = None if problem is None else f"{generator} artifact {name}: {problem}"
        out.append(GeneratedArtifact(namespace, name, root, reason))
    return out


def _common_root(copies: list[Any], aliases: dict[str, str | None]) -> tuple[str | None, str | None]:
    roots = set()
    for copy in copies:
        if not isinstance(copy, dict):
            return None, "a copy operation is not a mapping"
        if copy.get("strategy") not in (None, "Overwrite"):
            return None, f"copy strategy {copy.get('strategy')} rewrites files"
        root, problem = _root_of(str(copy.get("from") or ""), str(copy.get("to") or ""), aliases)
        if root is None:
            return None, problem
        roots.add(root)
    if len(roots) != 1:
        return None, "its copy operations do not mirror one repository directory" if roots else "nothing is copied"
    return roots.pop(), None


def _root_of(source: str, destination: str, aliases: dict[str, str | None]) -> tuple[str | None, str | None]:
    alias, _, pattern = source.partition("/")
    if not alias.startswith(_ALIAS_PREFIX) or alias[1:] not in aliases:
        return None, f"copy from {source!r} names no source alias"
    base = aliases[alias[1:]]
    if base is None:
        return None, f"source alias {alias} is not a repository path"
    head, _, target = destination.partition("/")
    if head != _ARTIFACT or not (destination == _ARTIFACT + "/" or destination.endswith("/")):
        return None, f"copy to {destination!r} is not a directory of the artifact"
    into = normalise_path(target)
    directory, _, last = pattern.rstrip("/").rpartition("/") if not pattern.endswith("/") else (pattern, "", "")
    if pattern.endswith("/"):  # `@alias/S/`: S itself lands in `into`
        copied = normalise_path(pattern)
        if not copied:
            return None, f"copy from {source!r} copies the whole source"
        mirrored = posixpath.dirname(copied)
    elif last == "**" or (last.startswith("*") and "/" not in last and "*" not in last[1:]):
        if "*" in directory or "?" in directory or "[" in directory:
            return None, f"copy from {source!r} has a pattern above its last part"
        mirrored = normalise_path(directory)
    else:
        return None, f"copy from {source!r} copies single files"
    if into and not (mirrored == into or mirrored.endswith("/" + into)):
        return None, f"copy from {source!r} to {destination!r} does not keep the repository layout"
    root = mirrored[: len(mirrored) - len(into)].rstrip("/") if into else mirrored
    return normalise_path(posixpath.join(base, root)), None
