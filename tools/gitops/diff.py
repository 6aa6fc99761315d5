"""The comparison engine: rendered manifests of two sides -> plain data describing what the cluster sees change.

Objects are paired by (API group, kind, namespace, name) within a target. What is left over is then
explained before being called added/removed: a configMapGenerator/secretGenerator hash-suffix rename in one
target is one content change (and the objects whose only change is the new name are "rolling"), and an
object that left one target and appeared in another is "moved".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gitops.diff_fields import FieldChange, diff_values
from gitops.diff_secrets import (
    Decrypt,
    SecretChange,
    compare_secret,
    mask_encrypted,
    redact,
    sops_plaintext_digests,
    without_secret_material,
)
from gitops.manifests import Manifest

STATUSES = ("added", "changed", "removed", "moved", "rolling")
GENERATED_KINDS = ("ConfigMap", "Secret")
# kustomize appends "-" and 10 characters of an encoded content hash to generated names.
_HASH_SUFFIX = re.compile(r"^(?P<base>.+)-(?P<hash>[a-z0-9]{10})$")


@dataclass
class ResourceChange:
    status: str
    """One of STATUSES."""
    target: str
    group: str
    kind: str
    namespace: str | None
    name: str
    api_version_before: str | None = None
    api_version_after: str | None = None
    from_target: str | None = None
    """For "moved": the target the object left."""
    previous_name: str | None = None
    """For a generator hash rename: the old generated name."""
    origin_before: str | None = None
    origin_after: str | None = None
    fields: list[FieldChange] = field(default_factory=list)
    secret: SecretChange | None = None
    rolls_for: list[str] = field(default_factory=list)
    """Generators (base names, hash suffix removed) whose new generated name this object picks up."""
    before: dict[str, Any] | None = field(default=None, repr=False)
    """Redacted body on the base side (safe to print); None when added."""
    after: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def api_version_changed(self) -> bool:
        return bool(self.api_version_before and self.api_version_after) and (
            self.api_version_before != self.api_version_after
        )

    @property
    def title(self) -> str:
        ns = f"{self.namespace}/" if self.namespace else ""
        return f"{self.kind}/{ns}{self.name}"

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.group, self.kind, self.namespace or "", self.name)


@dataclass
class TargetDiff:
    target: str
    status: str
    """"changed", "added" (the target exists only on the head side) or "removed"."""
    changes: list[ResourceChange] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for c in self.changes if c.status == status)


@dataclass(frozen=True)
class Side:
    """One side of the comparison, for display: `label` is what a person reads (ref or "working tree")."""

    label: str
    ref: str | None = None
    commit: str | None = None
    dirty: bool = False


@dataclass
class DiffResult:
    base: Side
    head: Side
    targets: list[TargetDiff]
    rendered: list[str] = field(default_factory=list)
    """Targets whose inputs changed (rendered on at least one side)."""
    unchanged: int = 0
    """Targets without a difference (inputs identical, or rendering to the same objects)."""

    @property
    def changed(self) -> bool:
        return bool(self.targets)

    def totals(self) -> dict[str, int]:
        return {s: sum(t.count(s) for t in self.targets) for s in STATUSES}


def _by_identity(manifests: Sequence[Manifest]) -> dict[tuple[str, str, str, str], Manifest]:
    return {m.identity.group_kind_key: m for m in manifests}


def _compare_pair(
    status: str,
    target: str,
    old: Manifest,
    new: Manifest,
    decrypt: Decrypt,
    *,
    ignore_name: bool = False,
    keep: bool = False,
) -> ResourceChange | None:
    before, after = old.body, new.body
    if ignore_name:
        before = {**before, "metadata": {**before.get("metadata", {}), "name": new.identity.name}}
    fields = [
        FieldChange(c.path, c.change, mask_encrypted(c.before), mask_encrypted(c.after))
        for c in diff_values(without_secret_material(before), without_secret_material(after))
        if c.path != "apiVersion"
    ]
    secret = None
    if new.identity.kind == "Secret" or "sops" in before or "sops" in after:
        secret = compare_secret(old.body, new.body, f"{target}: {new.identity}", decrypt)
    api_changed = old.identity.api_version != new.identity.api_version
    if not keep and not fields and not api_changed and not (secret and secret.changed):
        return None
    return ResourceChange(
        status=status,
        target=target,
        group=new.identity.group,
        kind=new.identity.kind,
        namespace=new.identity.namespace,
        name=new.identity.name,
        api_version_before=old.identity.api_version,
        api_version_after=new.identity.api_version,
        origin_before=old.origin,
        origin_after=new.origin,
        fields=fields,
        secret=secret,
        before=redact(old.body, secret, "before"),
        after=redact(new.body, secret, "after"),
    )


def _one_sided(status: str, target: str, m: Manifest) -> ResourceChange:
    return ResourceChange(
        status=status,
        target=target,
        group=m.identity.group,
        kind=m.identity.kind,
        namespace=m.identity.namespace,
        name=m.identity.name,
        api_version_before=m.identity.api_version if status == "removed" else None,
        api_version_after=m.identity.api_version if status == "added" else None,
        origin_before=m.origin if status == "removed" else None,
        origin_after=m.origin if status == "added" else None,
        before=redact(m.body) if status == "removed" else None,
        after=redact(m.body) if status == "added" else None,
    )


def _generator_key(m: Manifest) -> tuple[str, str, str, str] | None:
    if m.identity.kind not in GENERATED_KINDS or m.identity.group:
        return None
    match = _HASH_SUFFIX.match(m.identity.name)
    if match is None:
        return None
    return (m.identity.kind, m.identity.namespace or "", match["base"], m.origin or "")


def _generator_base(name: str) -> str:
    match = _HASH_SUFFIX.match(name)
    return match["base"] if match else name


def _pair_generator_renames(
    removed: dict[tuple[str, str, str, str], Manifest], added: dict[tuple[str, str, str, str], Manifest]
) -> list[tuple[Manifest, Manifest]]:
    """Old/new generated objects with the same kind, namespace, base name and origin (one of each only)."""
    olds: dict[tuple[str, str, str, str], list[Manifest]] = {}
    news: dict[tuple[str, str, str, str], list[Manifest]] = {}
    for pool, into in ((removed, olds), (added, news)):
        for m in pool.values():
            key = _generator_key(m)
            if key is not None:
                into.setdefault(key, []).append(m)
    pairs = []
    for key, old_list in olds.items():
        new_list = news.get(key, [])
        if len(old_list) == 1 and len(new_list) == 1:
            pairs.append((old_list[0], new_list[0]))
    return pairs


def _mark_rolling(change: ResourceChange, renames: Mapping[str, str]) -> None:
    """An object whose changes include picking up a renamed generated object rolls because of the hash."""
    references = [
        c
        for c in change.fields
        if c.change == "changed" and isinstance(c.before, str) and renames.get(c.before) == c.after
    ]
    if not references:
        return
    change.rolls_for = sorted({_generator_base(str(c.before)) for c in references})
    only_hash = len(references) == len(change.fields) and not change.api_version_changed
    if only_hash and not (change.secret and change.secret.changed):
        change.status = "rolling"


def compare(
    base: Mapping[str, Sequence[Manifest]],
    head: Mapping[str, Sequence[Manifest]],
    decrypt: Decrypt = sops_plaintext_digests,
) -> list[TargetDiff]:
    """Compare rendered targets. A target missing from one mapping was added or removed as a whole."""
    names = sorted({*base, *head})
    diffs: dict[str, TargetDiff] = {}
    leftovers_removed: dict[str, dict[tuple[str, str, str, str], Manifest]] = {}
    leftovers_added: dict[str, dict[tuple[str, str, str, str], Manifest]] = {}
    for name in names:
        status = "changed" if name in base and name in head else ("added" if name in head else "removed")
        diff = diffs[name] = TargetDiff(name, status)
        old, new = _by_identity(base.get(name, ())), _by_identity(head.get(name, ()))
        for key in old.keys() & new.keys():
            pair = _compare_pair("changed", name, old[key], new[key], decrypt)
            if pair is not None:
                diff.changes.append(pair)
        removed = {k: m for k, m in old.items() if k not in new}
        added = {k: m for k, m in new.items() if k not in old}
        renames: dict[str, str] = {}
        for was, now in _pair_generator_renames(removed, added):
            del removed[was.identity.group_kind_key], added[now.identity.group_kind_key]
            renames[was.identity.name] = now.identity.name
            change = _compare_pair("changed", name, was, now, decrypt, ignore_name=True, keep=True)
            assert change is not None
            change.previous_name = was.identity.name
            diff.changes.append(change)
        for change in diff.changes:
            if renames and change.previous_name is None:
                _mark_rolling(change, renames)
        leftovers_removed[name], leftovers_added[name] = removed, added
    _pair_moves(leftovers_removed, leftovers_added, diffs, decrypt)
    for name in names:
        diffs[name].changes.extend(_one_sided("removed", name, m) for m in leftovers_removed[name].values())
        diffs[name].changes.extend(_one_sided("added", name, m) for m in leftovers_added[name].values())
        diffs[name].changes.sort(key=lambda c: c.sort_key)
    return [d for d in diffs.values() if d.changes or d.status != "changed"]


def _pair_moves(
    removed: dict[str, dict[tuple[str, str, str, str], Manifest]],
    added: dict[str, dict[tuple[str, str, str, str], Manifest]],
    diffs: dict[str, TargetDiff],
    decrypt: Decrypt,
) -> None:
    """An object removed from one target and added to another (same identity) moved; recorded at its destination."""
    arrivals: dict[tuple[str, str, str, str], list[str]] = {}
    for target in sorted(added):
        for key in added[target]:
            arrivals.setdefault(key, []).append(target)
    for source in sorted(removed):
        for key in sorted(removed[source]):
            candidates = [t for t in arrivals.get(key, []) if t != source]
            if not candidates:
                continue
            destination = candidates[0]
            arrivals[key].remove(destination)
            old, new = removed[source].pop(key), added[destination].pop(key)
            change = _compare_pair("moved", destination, old, new, decrypt, keep=True)
            assert change is not None
            change.from_target = source
            diffs[destination].changes.append(change)
