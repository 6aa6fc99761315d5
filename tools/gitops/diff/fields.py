"""Field-level differences between two objects, with readable paths (dyff style).

Paths read like `spec.template.spec.containers[name=web].image`: mapping keys joined by dots (quoted in
brackets when they contain other characters), list items by their identifying field where every item has
one (`name`, else `containerPort`, else `key`), by index otherwise. A reordering of identified items is one
"order" change, not a churn of every item.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

LIST_KEYS = ("name", "containerPort", "key")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


class FieldChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    ORDER = "order"
    """Identified list items were reordered: before/after are then the lists of item identifiers."""


@dataclass(frozen=True)
class FieldChange:
    """One difference. `before`/`after` are plain data (None for an added/removed side)."""

    path: str
    change: FieldChangeKind
    before: Any = None
    after: Any = None


def key_segment(path: str, key: str) -> str:
    if _PLAIN_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _item_segment(path: str, field: str, value: Any) -> str:
    shown = value if isinstance(value, int) or _PLAIN_KEY.match(str(value)) else json.dumps(value)
    return f"{path}[{field}={shown}]"


def same(a: Any, b: Any) -> bool:
    """Equality that tells 1 from True and 1 from 1.0 (YAML distinguishes them, so does the API)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def list_key(before: Sequence[Any], after: Sequence[Any]) -> str | None:
    """The field identifying the items of both lists, if every item has a unique scalar one."""
    items = [*before, *after]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for field in LIST_KEYS:
        identified = all(
            isinstance(item.get(field), str | int) and not isinstance(item.get(field), bool) for item in items
        )
        if identified and all(len({item[field] for item in side}) == len(side) for side in (before, after)):
            return field
    return None


def diff_values(before: Any, after: Any, path: str = "") -> list[FieldChange]:
    """Every difference from `before` to `after`, in document order."""
    if isinstance(before, dict) and isinstance(after, dict):
        return _diff_mappings(before, after, path)
    if isinstance(before, list) and isinstance(after, list):
        return _diff_lists(before, after, path)
    if same(before, after):
        return []
    return [FieldChange(path, FieldChangeKind.CHANGED, before, after)]


def _diff_mappings(before: dict[str, Any], after: dict[str, Any], path: str) -> list[FieldChange]:
    changes: list[FieldChange] = []
    keys = list(before) + [k for k in after if k not in before]
    for key in keys:
        sub = key_segment(path, str(key))
        if key not in after:
            changes.append(FieldChange(sub, FieldChangeKind.REMOVED, before[key], None))
        elif key not in before:
            changes.append(FieldChange(sub, FieldChangeKind.ADDED, None, after[key]))
        else:
            changes.extend(diff_values(before[key], after[key], sub))
    return changes


def _diff_lists(before: list[Any], after: list[Any], path: str) -> list[FieldChange]:
    field = list_key(before, after)
    if field is None:
        if len(before) == len(after):
            changes: list[FieldChange] = []
            for index, (old, new) in enumerate(zip(before, after, strict=True)):
                changes.extend(diff_values(old, new, f"{path}[{index}]"))
            return changes
        return [] if same(before, after) else [FieldChange(path, FieldChangeKind.CHANGED, before, after)]
    old_items = {item[field]: item for item in before}
    new_items = {item[field]: item for item in after}
    changes = []
    for ident, item in old_items.items():
        sub = _item_segment(path, field, ident)
        if ident not in new_items:
            changes.append(FieldChange(sub, FieldChangeKind.REMOVED, item, None))
        else:
            changes.extend(diff_values(item, new_items[ident], sub))
    for ident, item in new_items.items():
        if ident not in old_items:
            changes.append(FieldChange(_item_segment(path, field, ident), FieldChangeKind.ADDED, None, item))
    old_order = [i for i in old_items if i in new_items]
    new_order = [i for i in new_items if i in old_items]
    if old_order != new_order:
        changes.append(FieldChange(path, FieldChangeKind.ORDER, old_order, new_order))
    return changes
