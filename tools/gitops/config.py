"""The repository configuration file gitops.yaml, validated against schemas/gitops-config.schema.json."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gitops import __version__
from gitops.atomic import write_text_atomically
from gitops.bounded_yaml import decode_source, refuse_alias_bombs, yaml_error
from gitops.cache_location import caching_enabled, memo_directory
from gitops.errors import GitopsError
from gitops.limits import DEFAULT_LIMITS, Limits, limits_from
from gitops.paths import CONFIG_FILE, SCHEMAS_DIR, TARGET_ROOTS

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
    schema_dirs: tuple[Path, ...] = ()
    limits: Limits = DEFAULT_LIMITS
    clusters: tuple[str, ...] = ()
    """Flux cluster entry paths (gitops.yaml clusters:); empty: found automatically."""
    sources: dict[str, str] = field(default_factory=dict)
    """Flux source name -> repository path (gitops.yaml sources:)."""
    sync_source: str | None = None
    """gitops.yaml `syncSource:`; None: inferred (flux.clusters.infer_sync_source)."""
    """The GitRepository syncing this repository (gitops.yaml syncSource:)."""
    target_roots: tuple[str, ...] = TARGET_ROOTS
    """Where plain kustomize directory targets live (gitops.yaml targets.roots:)."""
    raw: dict[str, Any] = field(default_factory=dict)


def parse_config(text: str, source: str, schemas_dir: Path | None = None) -> RepoConfig:
    """Parse and validate gitops.yaml content; any problem is a GitopsError naming `source`."""
    if not text.strip(" \r\n"):  # an empty YAML stream, as most gitops.yaml files that only mark the root:
        return RepoConfig(limits=limits_from({}))  # no parser and no validator to load (nothing is remembered)
    schema_file = (schemas_dir or SCHEMAS_DIR) / CONFIG_SCHEMA
    memo_key = _memo_key(text, schema_file)
    data = _remembered(memo_key) if memo_key is not None else None
    if data is None:
        data = _validated(text, source, schema_file)
        if memo_key is not None and data is not None:
            _remember(memo_key, data)
    if data is None:  # an empty gitops.yaml only marks the repository root
        return RepoConfig(limits=limits_from({}))
    check = data.get("check") or {}
    prefixes = check.get("envConfigMaps")
    return RepoConfig(
        kubernetes_version=data.get("kubernetesVersion", DEFAULT_KUBERNETES_VERSION),
        ignore_missing_schemas=bool(check.get("ignoreMissingSchemas", False)),
        env_configmaps=tuple(prefixes) if prefixes is not None else None,
        environments=dict(data.get("environments") or {}),
        disabled_checks=frozenset(check.get("disable") or ()),
        limits=limits_from(data),
        clusters=tuple(data.get("clusters") or ()),
        sources=dict(data.get("sources") or {}),
        sync_source=data.get("syncSource"),
        target_roots=tuple((data.get("targets") or {}).get("roots") or TARGET_ROOTS),
        raw=data,
    )


def _validated(text: str, source: str, schema_file: Path) -> dict[str, Any] | None:
    """gitops.yaml as plain JSON data that passed its schemas; None for an empty file."""
    import jsonschema_rs  # a fifth of a small command's start-up: only for content not validated before
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    refuse_alias_bombs(text, source)  # json.dumps below would expand them
    yaml = YAML(typ="safe", pure=True)
    yaml.allow_duplicate_keys = False
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise yaml_error(exc, source) from None
    if data is None:
        return None
    if not isinstance(data, dict):
        raise GitopsError(f"{source}: must be a mapping")
    data = json.loads(json.dumps(data, default=str))  # plain JSON types for the validator
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
        from gitops.policy.config_schema import validate_config  # the policy pack owns the environments schema

        validate_config(data)
    return dict(data)


# Contents that passed validation, remembered by a digest of everything the verdict depends on: the text, both
# schemas (gitops.yaml's and the policy pack's environments part) and our version. A few entries: one per repository
# and version a user works with; any problem reading or writing the memo only costs a validation.
_MEMO_FILE = "configs.json"
_MEMO_FORMAT = "gitops-config-memo-1"
_MEMO_ENTRIES = 32


def _memo_key(text: str, schema_file: Path) -> str | None:
    if not caching_enabled():
        return None
    from gitops.policy.config_schema import SCHEMA_FILE as POLICY_SCHEMA_FILE

    try:
        schemas = [schema_file.read_bytes(), POLICY_SCHEMA_FILE.read_bytes()]
    except OSError:
        return None  # validation names the problem
    parts = (_MEMO_FORMAT.encode(), __version__.encode(), *schemas, text.encode("utf-8"))
    return hashlib.sha256(b"\0".join(b"%d:%s" % (len(p), p) for p in parts)).hexdigest()


def _memo() -> dict[str, Any]:
    try:
        memo = json.loads((memo_directory() / _MEMO_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    entries = memo.get("entries") if isinstance(memo, dict) and memo.get("format") == _MEMO_FORMAT else None
    return entries if isinstance(entries, dict) else {}


def _remembered(key: str) -> dict[str, Any] | None:
    data = _memo().get(key)
    return data if isinstance(data, dict) else None


def _remember(key: str, data: dict[str, Any]) -> None:
    entries = _memo()
    entries.pop(key, None)
    entries[key] = data
    kept = dict(list(entries.items())[-_MEMO_ENTRIES:])
    with contextlib.suppress(OSError):
        write_text_atomically(memo_directory() / _MEMO_FILE, json.dumps({"format": _MEMO_FORMAT, "entries": kept}))


def load_config(repo_root: Path, schemas_dir: Path | None = None) -> RepoConfig:
    """gitops.yaml at the repository root; defaults when the file does not exist."""
    path = repo_root / CONFIG_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return RepoConfig(limits=limits_from({}))
    except OSError as exc:
        raise GitopsError(f"{CONFIG_FILE}: cannot read: {exc.strerror}") from None
    text = decode_source(data, CONFIG_FILE, limits_from({}))
    config = parse_config(text, CONFIG_FILE, schemas_dir)
    if "schemas" not in config.raw:
        return config
    from gitops.crd_schemas import check_schema_dirs

    dirs = check_schema_dirs(repo_root, config.raw["schemas"], text, CONFIG_FILE)
    return replace(config, schema_dirs=tuple(dirs))
