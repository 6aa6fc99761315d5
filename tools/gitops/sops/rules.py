"""Which values get encrypted (sops' shouldBeEncrypted) and `.sops.yaml` creation rules."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gitops.bounded_yaml import refuse_alias_bombs
from gitops.errors import GitopsError

CONFIG_NAME = ".sops.yaml"
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
SELECTOR_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex")
UNSUPPORTED_SELECTORS = ("unencrypted_comment_regex", "encrypted_comment_regex")
_OTHER_MASTER_KEYS = ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "hckms", "key_groups")


@dataclass(frozen=True)
class Scope:
    """The one value selector a file uses (sops allows at most one) plus mac_only_encrypted."""

    selector: str = "unencrypted_suffix"
    pattern: str = DEFAULT_UNENCRYPTED_SUFFIX
    mac_only_encrypted: bool = False

    def __post_init__(self) -> None:
        if self.selector not in SELECTOR_KEYS:
            raise ValueError(self.selector)
        if self.selector.endswith("_regex"):
            re.compile(self.pattern)

    def should_encrypt(self, path: Sequence[str]) -> bool:
        """Any component of the key path counts (Go regexp.Match is unanchored, like re.search)."""
        if self.selector == "unencrypted_suffix":
            return not any(part.endswith(self.pattern) for part in path)
        if self.selector == "encrypted_suffix":
            return any(part.endswith(self.pattern) for part in path)
        if self.selector == "unencrypted_regex":
            return not any(re.search(self.pattern, part) for part in path)
        return any(re.search(self.pattern, part) for part in path)


def scope_from_mapping(data: dict[str, Any], source: str) -> Scope:
    """The Scope named by a creation rule or a sops metadata block (default: unencrypted_suffix)."""
    for key in UNSUPPORTED_SELECTORS:
        if data.get(key):
            raise GitopsError(f"{source}: {key} is not supported")
    present = [key for key in SELECTOR_KEYS if data.get(key) not in (None, "")]
    if len(present) > 1:
        raise GitopsError(f"{source}: cannot use more than one of {', '.join(present)}")
    mac_only = data.get("mac_only_encrypted", False)
    mac_only = mac_only if isinstance(mac_only, bool) else str(mac_only).lower() == "true"
    if not present:
        return Scope(mac_only_encrypted=mac_only)
    selector = present[0]
    try:
        return Scope(selector, str(data[selector]), mac_only)
    except re.error:
        raise GitopsError(f"{source}: {selector} is not a valid regular expression") from None


@dataclass(frozen=True)
class CreationRule:
    path_regex: str | None
    age: tuple[str, ...]
    scope: Scope
    index: int
    config: Path

    def describe(self) -> str:
        return f"{self.config} creation_rules[{self.index}]"


def find_config(file: Path, stop_at: Path | None = None) -> Path | None:
    """The nearest .sops.yaml at or above the file's directory (not above `stop_at`)."""
    here = file.resolve().parent
    stop = stop_at.resolve() if stop_at else None
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
        if stop is not None and candidate == stop:
            break
    return None


def load_rules(config: Path) -> list[CreationRule]:
    try:
        text = config.read_text(encoding="utf-8")
        refuse_alias_bombs(text, str(config))
        data = yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise GitopsError(f"{config}: cannot read sops config: {str(exc).splitlines()[0]}") from None
    rules = (data or {}).get("creation_rules") if isinstance(data, dict) else None
    if not isinstance(rules, list):
        raise GitopsError(f"{config}: creation_rules must be a list")
    out = []
    for index, rule in enumerate(rules):
        where = f"{config}: creation_rules[{index}]"
        if not isinstance(rule, dict):
            raise GitopsError(f"{where} is not a mapping")
        for key in _OTHER_MASTER_KEYS:
            if rule.get(key):
                raise GitopsError(f"{where}: {key} is not supported (age recipients only)")
        age = rule.get("age") or []
        recipients = age.split(",") if isinstance(age, str) else [str(r) for r in age]
        regex = rule.get("path_regex")
        if regex is not None:
            try:
                re.compile(str(regex))
            except re.error:
                raise GitopsError(f"{where}: path_regex is not a valid regular expression") from None
        out.append(
            CreationRule(
                path_regex=None if regex is None else str(regex),
                age=tuple(r.strip() for r in recipients if r.strip()),
                scope=scope_from_mapping(rule, where),
                index=index,
                config=config,
            )
        )
    return out


def rule_for(file: Path, config: Path) -> CreationRule | None:
    """The first rule whose path_regex matches the file path relative to the config's directory."""
    try:
        relative = file.resolve().relative_to(config.resolve().parent).as_posix()
    except ValueError:
        relative = file.as_posix()
    for rule in load_rules(config):
        if rule.path_regex is None or re.search(rule.path_regex, relative):
            return rule
    return None
