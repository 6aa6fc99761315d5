"""The `sops:` metadata block: reading any sops version's layout, writing the 3.9 layout.

We write what sops 3.9.0 writes (the layout of Flux's own test fixtures): empty master-key lists, then
age, lastmodified, mac, pgp, the selector, mac_only_encrypted (only when true) and version.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import Any

from gitops.errors import GitopsError
from gitops.sops.keys import AgeStanza
from gitops.sops.rules import Scope, scope_from_mapping
from gitops.sops.scalars import Typed

SOPS_VERSION = "3.9.0"
EMPTY_KEY_LISTS_BEFORE_AGE = ("kms", "gcp_kms", "azure_kv", "hc_vault")
_SEMVER = re.compile(r"^\d+\.\d+\.\d+([-+].*)?$")
OTHER_KEY_TYPES = ("kms", "gcp_kms", "azure_kv", "hc_vault", "hckms", "pgp", "key_groups")


@dataclass(frozen=True)
class Metadata:
    age: tuple[AgeStanza, ...]
    lastmodified: str
    mac: str
    scope: Scope
    version: str = SOPS_VERSION
    other_keys: tuple[str, ...] = field(default=())
    """Names of non-age master-key lists that are present and non-empty (pgp, kms...): kept for messages."""
    groups: tuple[tuple[AgeStanza, ...], ...] = ()
    """The age stanzas of each of several `key_groups` (each wraps one Shamir share); () for the flat layout."""
    threshold: int = 0
    """`shamir_threshold`: how many groups rebuild the data key (0: all of them, as sops defaults)."""

    @property
    def recipients(self) -> tuple[str, ...]:
        grouped = tuple(stanza.recipient for group in self.groups for stanza in group)
        return tuple(stanza.recipient for stanza in self.age) + grouped

    def with_keys(self, age: tuple[AgeStanza, ...]) -> Metadata:
        return replace(self, age=age, other_keys=())


def now_lastmodified(now: dt.datetime | None = None) -> str:
    """RFC3339 in UTC with a Z, exactly the string sops uses as the MAC's AAD."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    if isinstance(value, Typed):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat().replace("+00:00", "Z")
    return "" if value is None else str(value)


def parse_metadata(raw: Any, source: str) -> Metadata:
    if not isinstance(raw, dict):
        raise GitopsError(f"{source}: sops metadata not found")
    if not raw.get("lastmodified"):
        raise GitopsError(f"{source}: sops metadata has no lastmodified")
    stanzas = _stanzas(raw.get("age"), source)
    groups = raw.get("key_groups") or []
    if not isinstance(groups, list) or not all(isinstance(group, dict) for group in groups):
        raise GitopsError(f"{source}: sops key_groups is not a list of mappings")
    try:
        threshold = int(_text(raw.get("shamir_threshold")) or 0)
    except ValueError:
        raise GitopsError(f"{source}: sops shamir_threshold is not a number") from None
    version = _text(raw.get("version"))
    if version and not _SEMVER.match(version):
        raise GitopsError(f"{source}: sops metadata version {version!r} is not semver")
    return Metadata(
        age=tuple(stanzas),
        lastmodified=_text(raw.get("lastmodified")),
        mac=_text(raw.get("mac")),
        scope=scope_from_mapping({k: _plain(v) for k, v in raw.items() if isinstance(k, str)}, source),
        version=version or "",
        other_keys=tuple(k for k in OTHER_KEY_TYPES if raw.get(k)),
        groups=tuple(tuple(_stanzas(group.get("age"), source)) for group in groups),
        threshold=threshold,
    )


def _stanzas(entries: Any, source: str) -> list[AgeStanza]:
    stanzas = []
    for entry in entries or []:
        if not isinstance(entry, dict) or not entry.get("enc"):
            raise GitopsError(f"{source}: malformed sops age entry")
        stanzas.append(AgeStanza(_text(entry.get("recipient")), _text(entry.get("enc"))))
    return stanzas


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Typed) else value


def metadata_fields(meta: Metadata, *, empty_lists: bool) -> list[tuple[str, Any]]:
    """(key, value) pairs in sops 3.9 order. Values are plain Python; formats decide the styling."""
    pairs: list[tuple[str, Any]] = []
    if meta.groups:  # sops 3.11's layout for several groups: no flat key lists at all
        pairs.append(("shamir_threshold", meta.threshold or len(meta.groups)))
        pairs.append(("key_groups", [{"age": _entries(group)} for group in meta.groups]))
        empty_lists = False
    else:
        if empty_lists:
            pairs += [(name, []) for name in EMPTY_KEY_LISTS_BEFORE_AGE]
        pairs.append(("age", _entries(meta.age)))
    pairs += [("lastmodified", meta.lastmodified), ("mac", meta.mac)]
    if empty_lists:
        pairs.append(("pgp", []))
    pairs.append((meta.scope.selector, meta.scope.pattern))
    if meta.scope.mac_only_encrypted:
        pairs.append(("mac_only_encrypted", True))
    pairs.append(("version", meta.version or SOPS_VERSION))
    return pairs


def _entries(stanzas: tuple[AgeStanza, ...]) -> list[dict[str, str]]:
    return [{"recipient": s.recipient, "enc": s.enc} for s in stanzas]


def flatten_for_dotenv(meta: Metadata) -> list[tuple[str, str]]:
    """sops' dotenv flattening (stores/flatten.go): sops_<key>, then __list_<i> and __map_<key> for every level
    of nesting (key groups nest twice); keys sorted as sops emits them."""
    flat: list[tuple[str, str]] = []
    for key, value in metadata_fields(meta, empty_lists=False):
        flat += _flatten(f"sops_{key}", value)
    return sorted(flat)


def _flatten(prefix: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, list):
        return [pair for index, item in enumerate(value) for pair in _flatten(f"{prefix}__list_{index}", item)]
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in _flatten(f"{prefix}__map_{key}", item)]
    if isinstance(value, bool):
        return [(prefix, "true" if value else "false")]
    return [(prefix, str(value))]


_STEP = re.compile(r"(list|map)_(.+)")


def unflatten_dotenv(items: dict[str, str]) -> dict[str, Any]:
    """Inverse of flatten_for_dotenv (the `sops_` prefix already removed): nested lists and mappings rebuilt."""
    raw: dict[str, Any] = {}
    for flat_key, value in items.items():
        name, *steps = flat_key.split("__")
        parsed = [_STEP.fullmatch(step) for step in steps]
        if not all(parsed):
            raw[flat_key] = value  # not a flattened key: kept as it is
            continue
        # lists are built as index-keyed mappings (indices may come in any order) and converted at the end
        node: dict[Any, Any] = raw
        key: Any = name
        for match in parsed:
            assert match is not None
            node = node.setdefault(key, {})
            key = match[2] if match[1] == "map" else int(match[2])
        node[key] = value
    return _lists(raw)


def _lists(node: Any) -> Any:
    """Mappings whose keys are all list indices (ints) become lists in index order."""
    if isinstance(node, dict):
        converted = {key: _lists(value) for key, value in node.items()}
        if converted and all(isinstance(key, int) for key in converted):
            return [converted[index] for index in sorted(converted)]
        return converted
    return node
