"""Flux objects as typed data: Kustomization (kustomize.toolkit.fluxcd.io v1 and v1beta2) and FluxInstance.

Defaults are the API's: sourceRef.namespace is the Kustomization's own namespace, a Kustomization without a
namespace lives in `default` (as `kubectl apply` would put it), `prune` and `force` are false, `wait` false.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from gitops import k8s
from gitops.errors import GitopsError
from gitops.k8s import FLUX_KUSTOMIZATION_GROUP

KUSTOMIZE_GROUP = FLUX_KUSTOMIZATION_GROUP
KUSTOMIZATION_VERSIONS = ("v1", "v1beta2")
FLUX_INSTANCE_GROUP = "fluxcd.controlplane.io"
DEFAULT_NAMESPACE = "default"
SUBSTITUTE_KEY = "kustomize.toolkit.fluxcd.io/substitute"
OWNER_NAME_LABEL = "kustomize.toolkit.fluxcd.io/name"
OWNER_NAMESPACE_LABEL = "kustomize.toolkit.fluxcd.io/namespace"
DEFAULT_SYNC_SOURCE = "flux-system"
"""The GitRepository `flux bootstrap` and the Flux Operator create to sync the repository."""
SOURCE_KINDS = ("GitRepository", "OCIRepository", "Bucket", "ExternalArtifact")


@dataclass(frozen=True)
class SourceRef:
    kind: str
    name: str
    namespace: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class SubstituteReference:
    """One postBuild.substituteFrom entry: a ConfigMap or Secret in the Kustomization's namespace."""

    kind: str
    name: str
    optional: bool = False

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True)
class FluxKustomization:
    """The fields of a Flux Kustomization that decide what it builds and applies."""

    name: str
    namespace: str
    source_ref: SourceRef
    path: str
    """Normalised, relative to the source root: "" for the root, never starting with "./" or "/"."""
    depends_on: tuple[str, ...] = ()
    """`namespace/name` of each dependency (namespace defaulted to this Kustomization's)."""
    target_namespace: str | None = None
    name_prefix: str | None = None
    name_suffix: str | None = None
    common_labels: dict[str, str] = field(default_factory=dict)
    common_annotations: dict[str, str] = field(default_factory=dict)
    patches: tuple[dict[str, Any], ...] = ()
    patches_strategic_merge: tuple[dict[str, Any], ...] = ()
    """v1beta2's spec.patchesStrategicMerge (removed in v1; the controller's generator still writes them)."""
    patches_json6902: tuple[dict[str, Any], ...] = ()
    """v1beta2's spec.patchesJson6902: each a `target` selector and a `patch` list of JSON 6902 operations."""
    images: tuple[dict[str, Any], ...] = ()
    components: tuple[str, ...] = ()
    ignore_missing_components: bool = False
    substitute: dict[str, str] | None = None
    substitute_from: tuple[SubstituteReference, ...] = ()
    post_build: bool = False
    """spec.postBuild is present: substitution runs only then."""
    decryption: str | None = None
    """The decryption provider (sops) when spec.decryption is set."""
    prune: bool = False
    force: bool = False
    wait: bool = False
    suspend: bool = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def flux_fields(self) -> dict[str, Any]:
        """The build-affecting fields this Kustomization sets, for listings."""
        fields: dict[str, Any] = {
            "targetNamespace": self.target_namespace,
            "namePrefix": self.name_prefix,
            "nameSuffix": self.name_suffix,
            "commonMetadata": bool(self.common_labels or self.common_annotations) or None,
            "patches": len(self.patches) or None,
            "patchesStrategicMerge": len(self.patches_strategic_merge) or None,
            "patchesJson6902": len(self.patches_json6902) or None,
            "images": len(self.images) or None,
            "components": list(self.components) or None,
            "substitute": sorted(self.substitute) if self.substitute else None,
            "substituteFrom": [str(r) for r in self.substitute_from] or None,
            "decryption": self.decryption,
        }
        return {key: value for key, value in fields.items() if value is not None}

    @property
    def changes_build(self) -> bool:
        """Whether kustomize must see a generated wrapper (fields the controller writes into kustomization)."""
        return bool(
            self.target_namespace is not None
            or self.name_prefix is not None
            or self.name_suffix is not None
            or self.patches
            or self.patches_strategic_merge
            or self.patches_json6902
            or self.images
            or self.components
        )


def is_flux_kustomization(body: dict[str, Any]) -> bool:
    """A Flux Kustomization in a version Flux builds from (k8s.is_flux_kustomization: in any version)."""
    return k8s.is_flux_kustomization(body) and str(body["apiVersion"]).partition("/")[2] in KUSTOMIZATION_VERSIONS


def is_flux_instance(body: dict[str, Any]) -> bool:
    return body.get("kind") == "FluxInstance" and str(body.get("apiVersion", "")).startswith(f"{FLUX_INSTANCE_GROUP}/")


def normalise_path(path: str) -> str:
    """A source-relative path as Flux reads spec.path ("./a/b", "a/b/", "/a/b" are all "a/b")."""
    cleaned = posixpath.normpath("/" + path.strip()).lstrip("/")
    return "" if cleaned in (".", "") else cleaned


def _mapping(value: Any, where: str, source: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise GitopsError(f"{source}: {where} must be a mapping")
    return value


def _strings(value: Any, where: str, source: str) -> dict[str, str]:
    mapping = _mapping(value, where, source)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise GitopsError(f"{source}: {where}.{key} must be a string")
    return {str(key): item for key, item in mapping.items()}


def _list(value: Any, where: str, source: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise GitopsError(f"{source}: {where} must be a list")
    return value


def _optional_string(value: Any, where: str, source: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise GitopsError(f"{source}: {where} must be a string")
    return value


def parse_kustomization(body: dict[str, Any], source: str) -> FluxKustomization:
    """A Flux Kustomization object as data; a malformed one is a GitopsError naming `source` and the field."""
    metadata = _mapping(body.get("metadata"), "metadata", source)
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise GitopsError(f"{source}: Flux Kustomization without metadata.name")
    where = f"{source}: Kustomization {name}"
    namespace = _optional_string(metadata.get("namespace"), "metadata.namespace", where) or DEFAULT_NAMESPACE
    spec = _mapping(body.get("spec"), "spec", where)
    ref = _mapping(spec.get("sourceRef"), "spec.sourceRef", where)
    if not isinstance(ref.get("kind"), str) or not isinstance(ref.get("name"), str):
        raise GitopsError(f"{where}: spec.sourceRef needs kind and name")
    source_ref = SourceRef(
        ref["kind"], ref["name"], _optional_string(ref.get("namespace"), "sourceRef", where) or namespace
    )
    depends_on = []
    for entry in _list(spec.get("dependsOn"), "spec.dependsOn", where):
        entry = _mapping(entry, "spec.dependsOn[]", where)
        if not isinstance(entry.get("name"), str):
            raise GitopsError(f"{where}: spec.dependsOn entry without name")
        depends_on.append(f"{entry.get('namespace') or namespace}/{entry['name']}")
    common = _mapping(spec.get("commonMetadata"), "spec.commonMetadata", where)
    post_build = spec.get("postBuild")
    post = _mapping(post_build, "spec.postBuild", where)
    substitute = _strings(post.get("substitute"), "spec.postBuild.substitute", where) if "substitute" in post else None
    references = []
    for entry in _list(post.get("substituteFrom"), "spec.postBuild.substituteFrom", where):
        entry = _mapping(entry, "spec.postBuild.substituteFrom[]", where)
        kind, ref_name = entry.get("kind"), entry.get("name")
        if kind not in ("ConfigMap", "Secret") or not isinstance(ref_name, str):
            raise GitopsError(f"{where}: spec.postBuild.substituteFrom needs kind ConfigMap or Secret and a name")
        references.append(SubstituteReference(kind, ref_name, bool(entry.get("optional", False))))
    decryption = _mapping(spec.get("decryption"), "spec.decryption", where)
    patches = [_mapping(p, "spec.patches[]", where) for p in _list(spec.get("patches"), "spec.patches", where)]
    strategic = [
        _mapping(p, "spec.patchesStrategicMerge[]", where)
        for p in _list(spec.get("patchesStrategicMerge"), "spec.patchesStrategicMerge", where)
    ]
    json6902 = []
    for entry in _list(spec.get("patchesJson6902"), "spec.patchesJson6902", where):
        entry = _mapping(entry, "spec.patchesJson6902[]", where)
        operations = _list(entry.get("patch"), "spec.patchesJson6902[].patch", where)
        json6902.append({"patch": operations, "target": _mapping(entry.get("target"), "target", where)})
    images = [_mapping(i, "spec.images[]", where) for i in _list(spec.get("images"), "spec.images", where)]
    components = [str(c) for c in _list(spec.get("components"), "spec.components", where)]
    path = _optional_string(spec.get("path"), "spec.path", where) or ""
    return FluxKustomization(
        name=name,
        namespace=namespace,
        source_ref=source_ref,
        path=normalise_path(path),
        depends_on=tuple(depends_on),
        target_namespace=_optional_string(spec.get("targetNamespace"), "spec.targetNamespace", where),
        name_prefix=_optional_string(spec.get("namePrefix"), "spec.namePrefix", where),
        name_suffix=_optional_string(spec.get("nameSuffix"), "spec.nameSuffix", where),
        common_labels=_strings(common.get("labels"), "spec.commonMetadata.labels", where),
        common_annotations=_strings(common.get("annotations"), "spec.commonMetadata.annotations", where),
        patches=tuple(patches),
        patches_strategic_merge=tuple(strategic),
        patches_json6902=tuple(json6902),
        images=tuple(images),
        components=tuple(components),
        ignore_missing_components=bool(spec.get("ignoreMissingComponents", False)),
        substitute=substitute,
        substitute_from=tuple(references),
        post_build=post_build is not None,
        decryption=str(decryption.get("provider", "sops")) if decryption else None,
        prune=bool(spec.get("prune", False)),
        force=bool(spec.get("force", False)),
        wait=bool(spec.get("wait", False)),
        suspend=bool(spec.get("suspend", False)),
    )


def flux_instance_sync_path(body: dict[str, Any]) -> str | None:
    """The repository path a Flux Operator FluxInstance syncs (spec.sync.path), if it syncs one."""
    spec = body.get("spec")
    sync = spec.get("sync") if isinstance(spec, dict) else None
    path = sync.get("path") if isinstance(sync, dict) else None
    return normalise_path(path) if isinstance(path, str) else None
