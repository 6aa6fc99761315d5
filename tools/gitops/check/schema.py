"""Strict schema validation of rendered manifests: Kubernetes (pinned version), Flux, SOPS metadata, Mastodon env.

Schemas come from the committed schemas/ directory (nothing is downloaded). Each schema is compiled once with
jsonschema-rs on first use and reused for every later document of that (apiVersion, kind). Errors become
`Violation`s with a JSON pointer and a short message; `validate_manifests` turns them into Findings.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from gitops.check.findings import Finding, Severity
from gitops.check.rules import Rule
from gitops.crd_schemas import OBJECT_META_SOURCE, CrdSchemas, object_meta_defs
from gitops.errors import GitopsError
from gitops.k8s import pointer
from gitops.manifests import Manifest
from gitops.paths import SCHEMAS_DIR

ENV_SCHEMA = "mastodon/env-configmap.schema.json"
SOPS_SCHEMA = "sops-metadata.schema.json"
DEFAULT_ENV_CONFIGMAPS = ("mastodon-env", "mastodon-db-direct")
AREA = "Schema"

UNKNOWN_FIELD = Rule(
    "SCHEMA-UNKNOWN-FIELD",
    Severity.ERROR,
    "Field not in the schema",
    "The API server drops unknown fields (or rejects them with server-side field validation), so a typo such as"
    " `imagePullPolcy` or `replica` silently does nothing. Strict schemas make it an error.",
    area=AREA,
)
WRONG_TYPE = Rule(
    "SCHEMA-TYPE",
    Severity.ERROR,
    "Value has the wrong type",
    'A string where an integer belongs (`replicas: "3"`), or a map where a list belongs, is rejected at apply time.',
    area=AREA,
)
REQUIRED = Rule(
    "SCHEMA-REQUIRED",
    Severity.ERROR,
    "Required field missing",
    "The API server (or the Flux controller) refuses an object without its required fields, e.g. a Deployment"
    " without `selector` or a Flux Kustomization without `prune` or `sourceRef`.",
    area=AREA,
)
BAD_VALUE = Rule(
    "SCHEMA-VALUE",
    Severity.ERROR,
    "Value not allowed by the schema",
    "Enumerations, patterns and other constraints of the schema (e.g. an unknown `DB_SSLMODE`, a Flux interval"
    " that is not a Go duration).",
    area=AREA,
)
UNKNOWN_API_VERSION = Rule(
    "SCHEMA-UNKNOWN-API-VERSION",
    Severity.ERROR,
    "apiVersion not served",
    "The pinned Kubernetes release (or the CRD of a custom kind: Flux, Gateway API, ...) does not serve this kind"
    " under this apiVersion, e.g. `apps/v1beta2`"
    " or `policy/v1beta1` PodDisruptionBudget: the apply fails. --ignore-missing-schemas does not change this.",
    area=AREA,
)
MISSING_SCHEMA = Rule(
    "SCHEMA-MISSING",
    Severity.ERROR,
    "No schema for this kind",
    "Check fails closed: a resource nothing can validate is an error, so a new CRD does not slip through"
    " unchecked. --ignore-missing-schemas (or gitops.yaml check.ignoreMissingSchemas) makes it a warning.",
    area=AREA,
)
NOT_AN_OBJECT = Rule(
    "SCHEMA-NO-KIND",
    Severity.ERROR,
    "Document without apiVersion or kind",
    "Every Kubernetes object needs apiVersion and kind; without them nothing can apply or validate it.",
    area=AREA,
)
SOPS_METADATA = Rule(
    "SCHEMA-SOPS",
    Severity.ERROR,
    "Malformed SOPS metadata",
    "The `sops` block of an encrypted resource is checked against the SOPS v3 metadata format before it is"
    " stripped for Kubernetes validation; kustomize-controller cannot decrypt a document with a broken block.",
    area=AREA,
)
ENV_VALUE = Rule(
    "MASTODON-ENV",
    Severity.ERROR,
    "Invalid Mastodon environment value",
    "Known Mastodon settings in the env ConfigMap are checked for type and allowed values (e.g. DB_SSLMODE must"
    " be one of libpq's modes or `no-verify`, booleans are `true`/`false`, ports are numbers).",
    area=AREA,
)
ENV_UNKNOWN_KEY = Rule(
    "MASTODON-ENV-UNKNOWN-KEY",
    Severity.WARNING,
    "Unknown key in the Mastodon env ConfigMap",
    "Mastodon ignores variables it does not know, so a misspelt or removed setting (STREAMING_CLUSTER_NUM,"
    " REDIS_NAMESPACE) has no effect. A warning: new Mastodon releases add settings before this list knows them.",
    area=AREA,
)

RULES = (
    UNKNOWN_FIELD,
    WRONG_TYPE,
    REQUIRED,
    BAD_VALUE,
    UNKNOWN_API_VERSION,
    MISSING_SCHEMA,
    NOT_AN_OBJECT,
    SOPS_METADATA,
    ENV_VALUE,
    ENV_UNKNOWN_KEY,
)


@dataclass(frozen=True)
class Violation:
    """One schema error inside one document: rule id, severity, JSON pointer, message."""

    rule: str
    severity: Severity
    path: str
    message: str


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else type(value).__name__


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Validator:
    """A compiled schema plus what it takes to turn its errors into readable violations."""

    def __init__(self, schema: dict[str, Any], *, rules: dict[str, str] | None = None) -> None:
        self.schema = schema
        try:
            self._compiled = jsonschema_rs.validator_for(schema)
        except (ValueError, jsonschema_rs.ValidationError, jsonschema_rs.ReferencingError) as exc:
            raise GitopsError(f"{schema.get('title', 'schema')}: cannot compile: {str(exc).splitlines()[0]}") from None
        # keyword group (unknown, required, type, value) -> rule id, plus "noun" for unknown-field messages
        self._rules = rules or {}
        unknown = schema.get("x-gitops-unknown-key-severity", "error")
        self._unknown_severity = Severity(unknown)

    def _rule(self, group: str, default: str) -> str:
        return self._rules.get(group, default)

    def is_valid(self, instance: Any) -> bool:
        return bool(self._compiled.is_valid(instance))

    def violations(self, instance: Any, prefix: Sequence[str | int] = ()) -> list[Violation]:
        if self._compiled.is_valid(instance):
            return []
        out: list[Violation] = []
        for error in self._compiled.iter_errors(instance):
            out.extend(self._translate(error, [*prefix, *error.instance_path]))
        return out

    def _schema_node(self, schema_path: Sequence[str | int]) -> Any:
        node: Any = self.schema
        for part in schema_path:
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[int(part)]
            else:
                return None
        return node

    def _translate(self, error: Any, where: list[str | int]) -> list[Violation]:
        kind = error.kind
        name = kind.name
        if name == "additionalProperties":
            parent = self._schema_node(list(error.schema_path)[:-1])
            known = sorted((parent or {}).get("properties", {})) if isinstance(parent, dict) else []
            severity = self._unknown_severity
            rule = self._rule("unknown", UNKNOWN_FIELD.id)
            out = []
            for field_name in kind.unexpected:
                hint = difflib.get_close_matches(field_name, known, n=1, cutoff=0.75)
                suffix = f" (did you mean '{hint[0]}'?)" if hint else ""
                noun = self._rules.get("noun", "field")
                message = f"unknown {noun} '{field_name}'{suffix}"
                out.append(Violation(rule, severity, pointer([*where, field_name]), message))
            return out
        if name == "required":
            return [
                Violation(
                    self._rule("required", REQUIRED.id),
                    Severity.ERROR,
                    pointer([*where, kind.property]),
                    f"missing required field '{kind.property}'",
                )
            ]
        if name == "type":
            expected = [t for t in kind.types if t != "null"] or list(kind.types)
            message = f"expected {' or '.join(expected)}, got {_json_type(error.instance)} {_short(error.instance)}"
            return [Violation(self._rule("type", WRONG_TYPE.id), Severity.ERROR, pointer(where), message)]
        if name == "enum":
            options = ", ".join(str(o) for o in kind.options) if hasattr(kind, "options") else ""
            message = f"{_short(error.instance)} is not one of: {options}" if options else error.message
            return [Violation(self._rule("value", BAD_VALUE.id), Severity.ERROR, pointer(where), message)]
        if name == "oneOf":
            message = f"{_short(error.instance)} matches none of the allowed forms"
            return [Violation(self._rule("value", BAD_VALUE.id), Severity.ERROR, pointer(where), message)]
        return [Violation(self._rule("value", BAD_VALUE.id), Severity.ERROR, pointer(where), error.message)]


@dataclass(frozen=True)
class Resolution:
    """Where the schema of an (apiVersion, kind) lives, or why there is none."""

    file: Path | None
    problem: str | None = None
    rule: str | None = None


@dataclass
class SchemaSet:
    """The committed schemas for one Kubernetes version (plus Flux), compiled lazily and cached."""

    schemas_dir: Path
    kubernetes_version: str
    _files: dict[tuple[str, str], Path] = field(default_factory=dict)
    _served: dict[str, set[str]] = field(default_factory=dict)
    _cache: dict[object, Validator] = field(default_factory=dict)
    crds: CrdSchemas = field(default_factory=lambda: CrdSchemas({}))

    @classmethod
    def load(
        cls, kubernetes_version: str, schemas_dir: Path | None = None, extra_dirs: Sequence[Path] = ()
    ) -> SchemaSet:
        """Kubernetes bundles of one release, then custom kinds (see gitops.crd_schemas for the precedence)."""
        root = schemas_dir or SCHEMAS_DIR
        version = kubernetes_version.removeprefix("v")
        k8s_dir = root / "kubernetes" / f"v{version}"
        if not (k8s_dir / "index.json").is_file():
            have = sorted(p.name.removeprefix("v") for p in (root / "kubernetes").glob("v*") if p.is_dir())
            raise GitopsError(
                f"{k8s_dir}: no schemas for Kubernetes {version} (committed: {', '.join(have) or 'none'};"
                " add the version to gitops.schemagen and run `make schemas`)"
            )
        schema_set = cls(root, version)
        schema_set._add_index(k8s_dir)
        meta_defs = object_meta_defs(_read_schema(k8s_dir / OBJECT_META_SOURCE))
        schema_set.crds = CrdSchemas(meta_defs, [*extra_dirs, root / "crds"])
        return schema_set

    def learn_crds(self, manifests: Iterable[Manifest]) -> None:
        """CustomResourceDefinitions in the output being checked become the schemas of their kinds."""
        learned = self.crds.learn((m.body, m.origin or m.target) for m in manifests)
        for key in learned:
            self._cache.pop(key, None)

    def _add_index(self, directory: Path) -> None:
        index_file = directory / "index.json"
        try:
            index = json.loads(index_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GitopsError(f"{index_file}: cannot read schema index: {exc}") from None
        for api_version, kinds in index.get("schemas", {}).items():
            for kind, name in kinds.items():
                self._files[(api_version, kind)] = directory / name
        for api_version, kinds in index.get("served", {}).items():
            self._served.setdefault(api_version, set()).update(kinds)

    def resolve(self, api_version: str, kind: str) -> Resolution:
        found = self._files.get((api_version, kind))
        if found is not None:
            return Resolution(found)
        group = api_version.rpartition("/")[0]
        custom = self.crds.served_elsewhere(api_version, kind)
        if custom:
            where = "Flux" if group.endswith(".toolkit.fluxcd.io") else f"The {group} CRD"
            return Resolution(
                None,
                f"{where} does not serve {kind} in {api_version} (served: {', '.join(custom)})",
                UNKNOWN_API_VERSION.id,
            )
        if kind in self._served.get(api_version, set()):
            return Resolution(None, f"no schema for {kind} ({api_version})", MISSING_SCHEMA.id)
        elsewhere = sorted(v for v, kinds in self._served.items() if kind in kinds and v.rpartition("/")[0] == group)
        if elsewhere or (self._is_builtin_group(group) and api_version not in self._served):
            where = f"Kubernetes {self.kubernetes_version}"
            hint = f" (served: {', '.join(elsewhere)})" if elsewhere else ""
            return Resolution(None, f"{where} does not serve {kind} in {api_version}{hint}", UNKNOWN_API_VERSION.id)
        return Resolution(None, f"no schema for {kind} ({api_version})", MISSING_SCHEMA.id)

    def _is_builtin_group(self, group: str) -> bool:
        served_groups = {v.rpartition("/")[0] for v in self._served}
        # Only groups the pinned release serves (plus the retired `extensions`): a `*.k8s.io` group may as well
        # be a CRD's (snapshot.storage.k8s.io, externaldns.k8s.io), whose missing schema is SCHEMA-MISSING.
        return group in served_groups or group == "extensions"

    def validator(self, api_version: str, kind: str) -> Validator | None:
        key = (api_version, kind)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        file = self._files.get(key)
        source = file or self.crds.schema(api_version, kind)
        if source is None:
            return None
        validator = Validator(source if isinstance(source, dict) else _read_schema(source))
        self._cache[key] = validator
        return validator

    def named(self, relative: str, rules: dict[str, str] | None = None) -> Validator:
        """A schema of our own (SOPS metadata, Mastodon env), by path under schemas/."""
        cached = self._cache.get(relative)
        if cached is None:
            cached = Validator(_read_schema(self.schemas_dir / relative), rules=rules)
            self._cache[relative] = cached
        return cached


def _read_schema(file: Path) -> dict[str, Any]:
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GitopsError(f"{file}: cannot read schema: {exc}") from None
    if not isinstance(data, dict):
        raise GitopsError(f"{file}: a schema must be a JSON object")
    return data


@dataclass(frozen=True)
class ValidationOptions:
    ignore_missing_schemas: bool = False
    env_configmaps: tuple[str, ...] = DEFAULT_ENV_CONFIGMAPS


_ENV_RULES = {
    "unknown": ENV_UNKNOWN_KEY.id,
    "required": ENV_VALUE.id,
    "type": ENV_VALUE.id,
    "value": ENV_VALUE.id,
    "noun": "key",
}
_SOPS_RULES = dict.fromkeys(("unknown", "required", "type", "value"), SOPS_METADATA.id)


def validate_body(
    body: dict[str, Any], schema_set: SchemaSet, options: ValidationOptions = ValidationOptions()
) -> list[Violation]:
    """All violations of one document: SOPS block, then Kubernetes/Flux schema, then the Mastodon env schema."""
    api_version, kind = body.get("apiVersion"), body.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str) or not api_version or not kind:
        return [Violation(NOT_AN_OBJECT.id, Severity.ERROR, "", "document has no apiVersion or kind")]
    out: list[Violation] = []
    if "sops" in body:
        out.extend(schema_set.named(SOPS_SCHEMA, _SOPS_RULES).violations(body["sops"], ("sops",)))
        body = {k: v for k, v in body.items() if k != "sops"}
    validator = schema_set.validator(api_version, kind)
    if validator is None:
        resolution = schema_set.resolve(api_version, kind)
        severity = Severity.ERROR
        if resolution.rule == MISSING_SCHEMA.id and options.ignore_missing_schemas:
            severity = Severity.WARNING
        out.append(Violation(resolution.rule or MISSING_SCHEMA.id, severity, "", resolution.problem or ""))
    else:
        out.extend(validator.violations(body))
    if kind == "ConfigMap" and api_version == "v1" and _is_env_configmap(body, options.env_configmaps):
        out.extend(schema_set.named(ENV_SCHEMA, _ENV_RULES).violations(body))
    return out


def _is_env_configmap(body: dict[str, Any], prefixes: Sequence[str]) -> bool:
    metadata = body.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    return isinstance(name, str) and any(name == p or name.startswith(p + "-") for p in prefixes)


def validate_manifests(
    manifests: Iterable[Manifest], schema_set: SchemaSet, options: ValidationOptions = ValidationOptions()
) -> list[Finding]:
    """Schema findings for rendered manifests, each carrying identity, target and source file."""
    findings: list[Finding] = []
    for manifest in manifests:
        for violation in validate_body(manifest.body, schema_set, options):
            findings.append(
                Finding(
                    rule=violation.rule,
                    severity=violation.severity,
                    message=violation.message,
                    identity=manifest.identity,
                    target=manifest.target,
                    path=violation.path,
                    file=manifest.origin,
                )
            )
    return findings
