"""The repository configuration file gitops.yaml, validated against schemas/gitops-config.schema.json."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from gitops.errors import GitopsError

CONFIG_FILE = "gitops.yaml"
CONFIG_SCHEMA = "gitops-config.schema.json"
DEFAULT_KUBERNETES_VERSION = "1.33"


@dataclass(frozen=True)
class RepoConfig:
    """gitops.yaml as data. `raw` keeps the validated document for settings other modules own (environments)."""

    kubernetes_version: str = DEFAULT_KUBERNETES_VERSION
    ignore_missing_schemas: bool = False
    env_configmaps: tuple[str, ...] | None = None
    environments: dict[str, Any] = field(default_factory=dict)
    disabled_checks: frozenset[str] = frozenset()
    raw: dict[str, Any] = field(default_factory=dict)


def _schemas_dir() -> Path:
    from gitops.check.schema import SCHEMAS_DIR  # keeps `import gitops.check.config` light

    return SCHEMAS_DIR


def parse_config(text: str, source: str, schemas_dir: Path | None = None) -> RepoConfig:
    """Parse and validate gitops.yaml content; any problem is a GitopsError naming `source`."""
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GitopsError(f"{source}: not valid YAML: {first}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise GitopsError(f"{source}: must be a mapping")
    data = json.loads(json.dumps(data, default=str))  # plain JSON types for the validator
    schema_file = (schemas_dir or _schemas_dir()) / CONFIG_SCHEMA
    try:
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GitopsError(f"{schema_file}: cannot read schema: {exc}") from None
    validator = jsonschema_rs.validator_for(schema)
    errors = list(validator.iter_errors(data))
    if errors:
        error = min(errors, key=lambda e: len(e.instance_path))
        where = "".join(f"/{p}" for p in error.instance_path) or "/"
        raise GitopsError(f"{source}: {where}: {error.message}")
    if "environments" in data:
        from gitops.policy.runner import validate_config  # the policy pack owns the environments schema

        validate_config(data)
    check = data.get("check") or {}
    prefixes = check.get("envConfigMaps")
    return RepoConfig(
        kubernetes_version=data.get("kubernetesVersion", DEFAULT_KUBERNETES_VERSION),
        ignore_missing_schemas=bool(check.get("ignoreMissingSchemas", False)),
        env_configmaps=tuple(prefixes) if prefixes is not None else None,
        environments=dict(data.get("environments") or {}),
        disabled_checks=frozenset(check.get("disable") or ()),
        raw=data,
    )


def load_config(repo_root: Path, schemas_dir: Path | None = None) -> RepoConfig:
    """gitops.yaml at the repository root; defaults when the file does not exist."""
    path = repo_root / CONFIG_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RepoConfig()
    except (OSError, UnicodeDecodeError) as exc:
        raise GitopsError(f"{CONFIG_FILE}: cannot read: {exc}") from None
    return parse_config(text, CONFIG_FILE, schemas_dir)
