"""Which values get encrypted (sops' shouldBeEncrypted) and `.sops.yaml` creation rules."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops.bounded_yaml import refuse_alias_bombs
from gitops.errors import GitopsError

CONFIG_NAME = ".sops.yaml"
# sops 3.10+ notices this name only to say it ignores it (config.LookupConfigFile): so do we.
IGNORED_CONFIG_NAME = ".sops.yml"
DEFAULT_UNENCRYPTED_SUFFIX = "_unencrypted"
COMMENT_SELECTORS = ("unencrypted_comment_regex", "encrypted_comment_regex")
SELECTOR_KEYS = ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex", *COMMENT_SELECTORS)
_OTHER_MASTER_KEYS = ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "hckms")
# Master-key types a key group may hold besides age (config/config.go keyGroup).
_OTHER_GROUP_KEYS = ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault", "hckms")


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

    @property
    def by_comments(self) -> bool:
        """Whether the comments before a value decide (gitops.sops.comment_scope), not its key path."""
        return self.selector in COMMENT_SELECTORS

    def should_encrypt(self, path: Sequence[str]) -> bool:
        """Any component of the key path counts (Go regexp.Match is unanchored, like re.search). A comment
        selector answers for a value with no comment before it (JSON, binary): see should_encrypt_after."""
        if self.by_comments:
            return self.should_encrypt_after([], is_comment=False)
        if self.selector == "unencrypted_suffix":
            return not any(part.endswith(self.pattern) for part in path)
        if self.selector == "encrypted_suffix":
            return any(part.endswith(self.pattern) for part in path)
        search = _compiled(self.pattern).search
        if self.selector == "unencrypted_regex":
            return not any(search(part) for part in path)
        return any(search(part) for part in path)

    def should_encrypt_after(self, comments: Sequence[Sequence[str]], *, is_comment: bool) -> bool:
        """sops' shouldBeEncrypted for the comment selectors. `comments` holds, per nesting level from the top,
        the comments met since that level's last value (a comment being decided is the last one of the last
        level). unencrypted_comment_regex: plaintext when any of them matches, the comment itself included.
        encrypted_comment_regex: encrypted only when one matches, the comment itself excluded (the marker stays
        readable)."""
        texts = [text for level in comments for text in level]
        search = _compiled(self.pattern).search
        if self.selector == "unencrypted_comment_regex":
            return not any(search(text) for text in texts)
        if is_comment and comments and comments[-1]:
            texts.pop()
        return any(search(text) for text in texts)


@functools.lru_cache(maxsize=16)
def _compiled(pattern: str) -> re.Pattern[str]:
    """re.search(pattern, ...) looks the pattern up in re's cache on every call: once per value adds up."""
    return re.compile(pattern)


def scope_from_mapping(data: dict[str, Any], source: str) -> Scope:
    """The Scope named by a creation rule or a sops metadata block (default: unencrypted_suffix)."""
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
    groups: tuple[tuple[str, ...], ...] = ()
    """Several `key_groups`: the data key is split into one Shamir share per group. () for one group."""
    threshold: int = 0

    @property
    def key_groups(self) -> tuple[tuple[str, ...], ...]:
        """The rule's recipients as sops groups them (a flat `age:` list is one group)."""
        return self.groups or ((self.age,) if self.age else ())

    def describe(self) -> str:
        return f"{self.config} creation_rules[{self.index}]"


def find_config(file: Path, stop_at: Path | None = None) -> Path | None:
    """The repository's view (the hygiene gate, ca-cert): the nearest .sops.yaml at or above the file's
    directory, not above `stop_at`. `gitops secrets` looks the way sops does instead (lookup_config)."""
    here = file.resolve().parent
    stop = stop_at.resolve() if stop_at else None
    for candidate in (here, *here.parents):
        if (candidate / CONFIG_NAME).is_file():
            return candidate / CONFIG_NAME
        if stop is not None and candidate == stop:
            return None
    return None


# sops' config.maxDepth: how many directories LookupConfigFile tries, the working directory first.
MAX_CONFIG_DEPTH = 100


@dataclass(frozen=True)
class ConfigLookup:
    path: Path | None
    warning: str | None
    """sops' warning (its wording) when a .sops.yml came before any .sops.yaml."""


def lookup_config(start: str = ".") -> ConfigLookup:
    """sops 3.11's config search (config.LookupConfigFile): `.sops.yaml` in the working directory `start`, then
    `../.sops.yaml`, `../../.sops.yaml`, ... for at most 100 directories. Where the file lies plays no part.
    Paths are named as sops names them (`.sops.yaml`, `../.sops.yaml`)."""
    ignored = None
    for depth in range(MAX_CONFIG_DEPTH):
        directory = os.path.join(start, *([os.pardir] * depth))
        candidate = os.path.normpath(os.path.join(directory, CONFIG_NAME))
        if os.path.exists(candidate):
            return ConfigLookup(Path(candidate), _ignored_warning(ignored, candidate))
        alternate = os.path.normpath(os.path.join(directory, IGNORED_CONFIG_NAME))
        if ignored is None and os.path.exists(alternate):
            ignored = alternate
    return ConfigLookup(None, _ignored_warning(ignored, None))


def _ignored_warning(ignored: str | None, using: str | None) -> str | None:
    if ignored is None:
        return None
    warning = f'ignoring "{ignored}" when searching for config file; the config file must be called "{CONFIG_NAME}"'
    return warning + (f'; using "{using}" instead' if using is not None else "")


def load_rules(config: Path) -> list[CreationRule]:
    import yaml  # not at import: decrypting needs no config, and PyYAML's import is a large part of a small run

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
        recipients = _age_list(rule.get("age"))
        groups: list[list[str]] = []
        if rule.get("key_groups"):
            groups = _key_groups(rule["key_groups"], where)
            recipients = [recipient for group in groups for recipient in group]
        threshold = _threshold(rule.get("shamir_threshold"), len(groups), where)
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
                groups=tuple(tuple(g) for g in groups) if len(groups) > 1 else (),
                threshold=threshold,
            )
        )
    return out


def _age_list(age: Any) -> list[str]:
    if not age:
        return []
    return age.split(",") if isinstance(age, str) else [str(r) for r in age]


def _key_groups(groups: Any, where: str) -> list[list[str]]:
    """The age recipients of each of a rule's key_groups (sops writes one group as the flat layout)."""
    if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
        raise GitopsError(f"{where}: key_groups must be a list of mappings")
    for number, group in enumerate(groups):
        for key in _OTHER_GROUP_KEYS:
            if group.get(key):
                raise GitopsError(f"{where}: key_groups[{number}] uses {key}, which is not supported (age only)")
        if not group.get("age"):
            raise GitopsError(f"{where}: key_groups[{number}] has no age recipients")
    return [[r.strip() for r in _age_list(group.get("age")) if r.strip()] for group in groups]


def _threshold(value: Any, groups: int, where: str) -> int:
    """sops: 0 means every group; with several groups at least 2 (a Shamir split) and at most their number."""
    if value in (None, "", 0):
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or (groups > 1 and not 2 <= value <= groups):
        raise GitopsError(f"{where}: shamir_threshold must be a number from 2 to the number of key groups")
    return value


def rule_for(file: Path, config: Path) -> CreationRule | None:
    """The first rule whose path_regex matches the file path relative to the config's directory."""
    # As sops compares (config.parseCreationRuleForFile): absolute paths, symlinks not resolved; a file outside
    # the config's directory is matched by its absolute path.
    config_dir = os.path.abspath(os.path.dirname(config))
    absolute = os.path.abspath(file)
    relative = absolute.removeprefix(config_dir + os.sep)
    if relative == absolute:  # one of them reached through a symlink (find_config resolves): compare real paths
        real = str(file.resolve())
        real_dir = str(config.resolve().parent) + os.sep
        relative = real.removeprefix(real_dir) if real.startswith(real_dir) else absolute
    for rule in load_rules(config):
        if rule.path_regex is None or re.search(rule.path_regex, relative):
            return rule
    return None
