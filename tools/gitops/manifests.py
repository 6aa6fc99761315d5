"""Rendered Kubernetes objects with identity (apiVersion, kind, namespace, name) and origin (source file)."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

from gitops.errors import GitopsError
from gitops.origins import ORIGIN_ANNOTATION, origin_source
from gitops.yaml_objects import DirectConstruction

# Annotations kustomize adds when buildMetadata is on; none of them may reach rendered files.
BUILD_METADATA_ANNOTATIONS = (
    ORIGIN_ANNOTATION,
    "alpha.config.kubernetes.io/transformations",
)

_SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# YAML 1.1 tags the Go YAML libraries kustomize, Flux and the API server use do not have: a plain `=` is the
# string "=" to them (PyYAML would fail: no constructor for the `value` tag).
_NOT_IN_GO_YAML = frozenset({"tag:yaml.org,2002:value"})


class _GoCompatibleLoader(DirectConstruction, _SAFE_LOADER):  # type: ignore[valid-type,misc]
    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, Any]]]] = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag not in _NOT_IN_GO_YAML]
        for first, resolvers in _SAFE_LOADER.yaml_implicit_resolvers.items()
    }


# libyaml-backed safe loader: machine-written YAML (kustomize output, kustomizations) parses ~10x faster.
YAML_LOADER: type[yaml.SafeLoader] = _GoCompatibleLoader


class _AnchorRedefiningLoader(DirectConstruction, yaml.SafeLoader):
    """Pure-Python twin of YAML_LOADER for text that defines an anchor twice: YAML allows it (an alias refers
    to the latest definition; yaml.v3 does so), PyYAML's composer refuses it and libyaml's cannot be hooked."""

    yaml_implicit_resolvers = _GoCompatibleLoader.yaml_implicit_resolvers

    def compose_node(self, parent: Any, index: Any) -> Any:
        if not self.check_event(yaml.AliasEvent):
            anchor = self.peek_event().anchor
            if anchor is not None:
                self.anchors.pop(anchor, None)
        return super().compose_node(parent, index)


# An anchor where a node can start: after a space, a line start or a flow indicator (over-matching only costs
# the slower loader).
_ANCHOR = re.compile(r"(?:^|[\s\[{,])&([^\s,\[\]{}]+)", re.MULTILINE)


def source_loader(text: str) -> type[yaml.SafeLoader]:
    """The loader for a hand-written source file: YAML_LOADER unless `text` defines an anchor twice."""
    if "&" in text:
        anchors = _ANCHOR.findall(text)
        if len(anchors) != len(set(anchors)):
            return _AnchorRedefiningLoader
    return YAML_LOADER


@dataclass(frozen=True, order=True)
class Identity:
    """What the API server keys an object by (plus apiVersion, which the diff treats separately)."""

    api_version: str
    kind: str
    namespace: str | None
    name: str

    @property
    def group(self) -> str:
        """API group: "" for the core group, e.g. "apps" for apps/v1."""
        return self.api_version.rpartition("/")[0] if "/" in self.api_version else ""

    @property
    def group_kind_key(self) -> tuple[str, str, str, str]:
        """Identity without the version: (group, kind, namespace, name)."""
        return (self.group, self.kind, self.namespace or "", self.name)

    def __str__(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name} ({self.api_version})"


@dataclass
class Manifest:
    """One rendered object. `body` is plain data (dict/list/str/int/float/bool/None), without build metadata."""

    identity: Identity
    body: dict[str, Any]
    target: str
    origin: str | None = None
    """Repository-relative path of the source file (under base/, overlays/ or clusters/), when known."""
    index: int = field(default=0, compare=False)
    """Position of the document in the target's rendered output."""


def group_by_target(manifests: Iterable[Manifest]) -> dict[str, list[Manifest]]:
    """{target: its manifests in rendered order}, for code that judges targets (or environments) whole."""
    grouped: dict[str, list[Manifest]] = {}
    for manifest in manifests:
        grouped.setdefault(manifest.target, []).append(manifest)
    return grouped


def identity_of(body: dict[str, Any]) -> Identity:
    metadata = body.get("metadata") or {}
    return Identity(
        api_version=str(body.get("apiVersion", "")),
        kind=str(body.get("kind", "")),
        namespace=metadata.get("namespace") if isinstance(metadata, dict) else None,
        name=str(metadata.get("name", "")) if isinstance(metadata, dict) else "",
    )


def load_documents(text: str, source: str) -> list[dict[str, Any]]:
    """Parse multi-document YAML written by a machine (kustomize). Empty documents are dropped."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=YAML_LOADER) if d is not None]
    except yaml.YAMLError as exc:
        raise GitopsError(f"{source}: not valid YAML: {str(exc).splitlines()[0]}") from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise GitopsError(f"{source}: a document is not a mapping")
    return docs


def origin_path(annotation: str, build_root: Path, repo_root: Path) -> str | None:
    """Turn kustomize's origin annotation (paths relative to the build root) into a repo-relative path."""
    rel: object = origin_source(annotation)
    if rel is None:  # quoted or special: only the YAML parser reads it right
        try:
            data = yaml.load(annotation, Loader=YAML_LOADER)
        except yaml.YAMLError:
            return None
        if not isinstance(data, dict):
            return None
        rel = data.get("path") or data.get("configuredIn")
    if not isinstance(rel, str) or "://" in rel:
        return None
    absolute = posixpath.normpath(posixpath.join(build_root.as_posix(), rel))
    try:
        return Path(absolute).relative_to(repo_root).as_posix()
    except ValueError:
        return None


def strip_build_metadata(body: dict[str, Any]) -> str | None:
    """Remove kustomize build annotations in place; return the raw origin annotation, if any."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        return None
    annotations = metadata.get("annotations")
    if not isinstance(annotations, dict):
        return None
    origin = annotations.get(ORIGIN_ANNOTATION)
    for key in BUILD_METADATA_ANNOTATIONS:
        annotations.pop(key, None)
    if not annotations:
        del metadata["annotations"]
    return origin if isinstance(origin, str) else None


def manifests_from_build(
    text: str, target: str, *, build_root: Path | None = None, repo_root: Path | None = None
) -> list[Manifest]:
    """Manifests from kustomize output. With build_root/repo_root, origins are resolved and stripped."""
    out: list[Manifest] = []
    for index, body in enumerate(load_documents(text, target)):
        raw_origin = strip_build_metadata(body)
        origin = None
        if raw_origin and build_root is not None and repo_root is not None:
            origin = origin_path(raw_origin, build_root, repo_root)
        out.append(Manifest(identity_of(body), body, target, origin, index))
    return out


def dump_documents(bodies: Iterable[dict[str, Any]]) -> str:
    """Serialise documents the way kustomize does (sorted keys, block style, '---' between documents)."""
    dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump_all(
        bodies, Dumper=dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 30
    )
