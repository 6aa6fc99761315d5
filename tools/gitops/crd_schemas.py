"""Schemas of custom resources: CustomResourceDefinition → strict JSON schema, and where check finds them.

A CRD version's openAPIV3Schema becomes a draft 2020-12 schema with the API server's pruning made strict: an
object accepts only the properties it declares (unknown fields are errors) unless the CRD marks it
`x-kubernetes-preserve-unknown-fields`; `x-kubernetes-int-or-string` accepts both; `nullable` admits null;
`metadata` (at the root and in `x-kubernetes-embedded-resource` objects) is the Kubernetes ObjectMeta of the
pinned release. CEL rules (`x-kubernetes-validations`) are not evaluated.

Where a custom kind's schema comes from, first match wins:
1. a CustomResourceDefinition in the rendered output being checked (what this repository installs);
2. the `schemas:` directories of gitops.yaml, in the order listed (the repository's own choice);
3. the committed catalog schemas/crds (generated from the upstream CRDs listed in schemas/crds/SOURCES.md).
Catalog directories use kubeconform's layout: `{group}/{kind lowercased}_{version}.json`.

Regenerate the committed catalog: python -m gitops.crd_schemagen CRD_PATH... (make crd-schemas CRDS="...").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops.errors import GitopsError

CRD_API_VERSION = "apiextensions.k8s.io/v1"
CRD_KIND = "CustomResourceDefinition"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
OBJECT_META_SOURCE = "namespace-v1.json"
"""The Kubernetes bundle whose `$defs` supply ObjectMeta (any bundle would do; a Namespace has little else)."""

_STRUCTURAL = ("properties", "items", "additionalProperties")
_BRANCHES = ("allOf", "anyOf", "oneOf")
# Annotations and Kubernetes extensions: the validator does not use them, and dropping them keeps files small.
_DROPPED = frozenset({"description", "example", "externalDocs", "nullable"})


def catalog_file_name(group: str, kind: str, version: str) -> str:
    """kubeconform's catalog layout, e.g. gateway.networking.k8s.io/httproute_v1.json."""
    name = f"{kind.lower()}_{version}.json"
    return f"{group}/{name}" if group else name


def object_meta_defs(kubernetes_bundle: Mapping[str, Any]) -> dict[str, Any]:
    """ObjectMeta and the definitions it reaches, taken from a committed Kubernetes bundle's `$defs`."""
    defs = kubernetes_bundle.get("$defs", {})
    if OBJECT_META not in defs:
        raise GitopsError(f"{OBJECT_META_SOURCE}: no {OBJECT_META} definition")
    reached: dict[str, Any] = {}
    pending = [OBJECT_META]
    while pending:
        name = pending.pop()
        if name not in reached:
            reached[name] = defs[name]
            pending.extend(_refs(defs[name]))
    return dict(sorted(reached.items()))


def _refs(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


_META_REF = {"$ref": f"#/$defs/{OBJECT_META}"}


def _convert(node: Any, structural: bool = True) -> Any:
    """One openAPIV3Schema node as strict JSON schema. `structural` is false inside allOf/anyOf/oneOf/not,
    where Kubernetes allows only value validations, so nothing that changes what is accepted is added there."""
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED or key.startswith("x-kubernetes-"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: _convert(sub, structural) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not") and isinstance(value, dict):
            out[key] = _convert(value, structural and key != "not")
        elif key in _BRANCHES and isinstance(value, list):
            out[key] = [_convert(sub, False) for sub in value]
        else:
            out[key] = value
    if not structural:
        return out
    if node.get("x-kubernetes-embedded-resource"):
        props = out.setdefault("properties", {})
        props.setdefault("apiVersion", {"type": "string"})
        props.setdefault("kind", {"type": "string"})
        props["metadata"] = dict(_META_REF)
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["type"] = ["integer", "string"]
    preserve = bool(node.get("x-kubernetes-preserve-unknown-fields"))
    if out.get("type") == "object" and not preserve and "additionalProperties" not in out:
        out["additionalProperties"] = False
    if node.get("nullable") and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def to_json_schema(
    open_api: Mapping[str, Any], group: str, version: str, kind: str, meta_defs: Mapping[str, Any], origin: str
) -> dict[str, Any]:
    """The strict JSON schema of one served CRD version."""
    api_version = f"{group}/{version}" if group else version
    body = _convert(dict(open_api))
    body.pop("$schema", None)
    props = body.setdefault("properties", {})
    props["apiVersion"] = {"type": "string", "enum": [api_version]}
    props["kind"] = {"type": "string", "enum": [kind]}
    props["metadata"] = dict(_META_REF)
    body["type"] = "object"
    body["required"] = sorted({"apiVersion", "kind", *body.get("required", [])})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{kind} ({api_version}) from {origin}",
        "$comment": f"Generated by gitops.crd_schemas from {origin}; strict: unknown fields are errors.",
        **body,
        "$defs": dict(meta_defs),
    }


@dataclass(frozen=True)
class CrdVersion:
    """One served version of one CRD, converted."""

    group: str
    kind: str
    version: str
    schema: dict[str, Any]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def is_crd(body: Mapping[str, Any]) -> bool:
    return body.get("apiVersion") == CRD_API_VERSION and body.get("kind") == CRD_KIND


def served_versions(crd: Mapping[str, Any], meta_defs: Mapping[str, Any], origin: str) -> list[CrdVersion]:
    """Every served version of a CRD with an openAPIV3Schema; a CRD too malformed to read is a GitopsError."""
    spec = crd.get("spec")
    names = spec.get("names") if isinstance(spec, dict) else None
    kind = names.get("kind") if isinstance(names, dict) else None
    group = spec.get("group") if isinstance(spec, dict) else None
    versions = spec.get("versions") if isinstance(spec, dict) else None
    if not isinstance(kind, str) or not isinstance(group, str) or not isinstance(versions, list):
        raise GitopsError(f"{origin}: CustomResourceDefinition without spec.group, spec.names.kind or spec.versions")
    out = []
    for entry in versions:
        if not isinstance(entry, dict) or not entry.get("served", False) or not isinstance(entry.get("name"), str):
            continue
        open_api = (entry.get("schema") or {}).get("openAPIV3Schema")
        if isinstance(open_api, dict):
            schema = to_json_schema(open_api, group, entry["name"], kind, meta_defs, origin)
            out.append(CrdVersion(group, kind, entry["name"], schema))
    return out


def _names_a_kind(crd: Mapping[str, Any]) -> bool:
    spec = crd.get("spec")
    names = spec.get("names") if isinstance(spec, dict) else None
    return (
        isinstance(spec, dict)
        and isinstance(names, dict)
        and isinstance(names.get("kind"), str)
        and isinstance(spec.get("group"), str)
        and isinstance(spec.get("versions"), list)
    )


def _group_of(api_version: str) -> str:
    return api_version.rpartition("/")[0]


@dataclass
class CrdSchemas:
    """Custom kinds' schemas from in-repo CRDs, then catalog directories (extra dirs first, committed last)."""

    meta_defs: dict[str, Any]
    catalogs: list[Path] = field(default_factory=list)
    _in_repo: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def learn(self, documents: Iterable[tuple[Mapping[str, Any], str]]) -> set[tuple[str, str]]:
        """Take every CRD among (body, origin) pairs as the schema of its kind; returns the (apiVersion, kind)s.

        A CRD without group, kind or versions teaches nothing: its own schema (apiextensions.k8s.io/v1) reports it.
        """
        learned = set()
        for body, origin in documents:
            if is_crd(body) and _names_a_kind(body):
                for version in served_versions(body, self.meta_defs, origin):
                    key = (version.api_version, version.kind)
                    self._in_repo[key] = version.schema
                    learned.add(key)
        return learned

    def schema(self, api_version: str, kind: str) -> dict[str, Any] | Path | None:
        """The in-repo schema (a dict) or the catalog file holding it, or None."""
        found = self._in_repo.get((api_version, kind))
        if found is not None:
            return found
        group, _, version = api_version.rpartition("/")
        name = catalog_file_name(group, kind, version)
        for catalog in self.catalogs:
            if (catalog / name).is_file():
                return catalog / name
        return None

    def served_elsewhere(self, api_version: str, kind: str) -> list[str]:
        """Other apiVersions of the same group whose schema we hold for `kind`: the version asked for is not
        served. In-repo CRDs are authoritative for their kinds; otherwise every catalog is consulted."""
        group = _group_of(api_version)
        in_repo = sorted(v for v, k in self._in_repo if k == kind and _group_of(v) == group)
        if in_repo:
            return in_repo
        versions: set[str] = set()
        prefix = f"{kind.lower()}_"
        for catalog in self.catalogs:
            directory = catalog / group if group else catalog
            if directory.is_dir():
                for file in directory.glob(f"{prefix}*.json"):
                    versions.add(f"{group}/{file.stem.removeprefix(prefix)}" if group else file.stem)
        return sorted(versions)


def check_schema_dirs(repo_root: Path, dirs: Iterable[str], config_text: str, config_name: str) -> list[Path]:
    """The gitops.yaml `schemas:` directories as paths; a missing one is a GitopsError naming file and line."""
    out = []
    for index, relative in enumerate(dirs):
        path = repo_root / relative
        if not path.is_dir():
            line = _item_line(config_text, index)
            raise GitopsError(
                f"{config_name}:{line}: schemas: {relative}: no such directory (relative to the repo root)"
            )
        out.append(path)
    return out


def _item_line(config_text: str, index: int) -> int:
    from ruamel.yaml import YAML  # only on this error path: the round-trip loader knows line numbers

    data = YAML(typ="rt").load(config_text)
    line, _column = data["schemas"].lc.item(index)
    return int(line) + 1
