"""The comparison engine: rendered manifests of two sides -> a DiffResult's targets (gitops.diff.model).

Objects are paired by (API group, kind, namespace, name) within a target. What is left over is then
explained before being called added/removed: a configMapGenerator/secretGenerator hash-suffix rename in one
target is one content change (and the objects whose only change is the new name are "rolling"), and an
object that left one target and appeared in another is "moved".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gitops.diff.fields import FieldChange, FieldChangeKind, diff_values
from gitops.diff.model import ResourceChange, Status, TargetDiff, TargetStatus
from gitops.diff.secrets import (
    Decrypt,
    compare_secret,
    mask_encrypted,
    redact,
    sops_plaintext_digests,
    without_secret_material,
)
from gitops.k8s import GENERATED_KINDS, generated_base
from gitops.manifests import Manifest


def _by_identity(manifests: Sequence[Manifest]) -> dict[tuple[str, str, str, str], Manifest]:
    return {m.identity.group_kind_key: m for m in manifests}


def _compare_pair(
    status: Status,
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
        identity=new.identity,
        api_version_before=old.identity.api_version,
        api_version_after=new.identity.api_version,
        origin_before=old.origin,
        origin_after=new.origin,
        fields=fields,
        secret=secret,
        before=redact(old.body, secret, "before"),
        after=redact(new.body, secret, "after"),
    )


def _one_sided(status: Status, target: str, m: Manifest) -> ResourceChange:
    removed = status is Status.REMOVED
    return ResourceChange(
        status=status,
        target=target,
        identity=m.identity,
        api_version_before=m.identity.api_version if removed else None,
        api_version_after=None if removed else m.identity.api_version,
        origin_before=m.origin if removed else None,
        origin_after=None if removed else m.origin,
        before=redact(m.body) if removed else None,
        after=None if removed else redact(m.body),
    )


def _generator_key(m: Manifest) -> tuple[str, str, str, str] | None:
    if m.identity.kind not in GENERATED_KINDS or m.identity.group:
        return None
    base = generated_base(m.identity.name)
    if base is None:
        return None
    return (m.identity.kind, m.identity.namespace or "", base, m.origin or "")


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
        if c.change is FieldChangeKind.CHANGED and isinstance(c.before, str) and renames.get(c.before) == c.after
    ]
    if not references:
        return
    change.rolls_for = sorted({generated_base(str(c.before)) or str(c.before) for c in references})
    only_hash = len(references) == len(change.fields) and not change.api_version_changed
    if only_hash and not (change.secret and change.secret.changed):
        change.status = Status.ROLLING


def compare(
    base: Mapping[str, Sequence[Manifest]],
    head: Mapping[str, Sequence[Manifest]],
    decrypt: Decrypt | None = None,
) -> list[TargetDiff]:
    """Compare rendered targets. A target missing from one mapping was added or removed as a whole.
    `decrypt`: how Secrets' encrypted values compare (None: sops_plaintext_digests)."""
    decrypt = decrypt or sops_plaintext_digests
    names = sorted({*base, *head})
    diffs: dict[str, TargetDiff] = {}
    leftovers_removed: dict[str, dict[tuple[str, str, str, str], Manifest]] = {}
    leftovers_added: dict[str, dict[tuple[str, str, str, str], Manifest]] = {}
    for name in names:
        if name in base and name in head:
            status = TargetStatus.CHANGED
        else:
            status = TargetStatus.ADDED if name in head else TargetStatus.REMOVED
        diff = diffs[name] = TargetDiff(name, status)
        old, new = _by_identity(base.get(name, ())), _by_identity(head.get(name, ()))
        for key in old.keys() & new.keys():
            pair = _compare_pair(Status.CHANGED, name, old[key], new[key], decrypt)
            if pair is not None:
                diff.changes.append(pair)
        removed = {k: m for k, m in old.items() if k not in new}
        added = {k: m for k, m in new.items() if k not in old}
        renames: dict[str, str] = {}
        for was, now in _pair_generator_renames(removed, added):
            del removed[was.identity.group_kind_key], added[now.identity.group_kind_key]
            renames[was.identity.name] = now.identity.name
            change = _compare_pair(Status.CHANGED, name, was, now, decrypt, ignore_name=True, keep=True)
            assert change is not None
            change.previous_name = was.identity.name
            diff.changes.append(change)
        for change in diff.changes:
            if renames and change.previous_name is None:
                _mark_rolling(change, renames)
        leftovers_removed[name], leftovers_added[name] = removed, added
    _pair_moves(leftovers_removed, leftovers_added, diffs, decrypt)
    for name in names:
        diffs[name].changes.extend(_one_sided(Status.REMOVED, name, m) for m in leftovers_removed[name].values())
        diffs[name].changes.extend(_one_sided(Status.ADDED, name, m) for m in leftovers_added[name].values())
        diffs[name].changes.sort(key=lambda c: c.sort_key)
    return [d for d in diffs.values() if d.changes or d.status is not TargetStatus.CHANGED]


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
            change = _compare_pair(Status.MOVED, destination, old, new, decrypt, keep=True)
            assert change is not None
            change.from_target = source
            diffs[destination].changes.append(change)
