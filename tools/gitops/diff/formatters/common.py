"""What every format says about one changed resource, as (role, text) lines the formats decorate.

Only redacted data reaches this module: field values of Secrets never enter a FieldChange, bodies are
redacted by the engine, and secret comparisons are reported by status words.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from gitops.diff.fields import FieldChangeKind
from gitops.diff.model import DiffResult, ResourceChange, Status, TargetDiff, TargetStatus
from gitops.diff.secrets import ComparedBy, KeyStatus, is_hidden, shown

SYMBOLS = {Status.ADDED: "+", Status.REMOVED: "-", Status.CHANGED: "~", Status.MOVED: ">", Status.ROLLING: "^"}


class LineRole(StrEnum):
    PATH = "path"
    """A field path; the value lines under it follow."""
    DEL = "del"
    ADD = "add"
    NOTE = "note"
    ORDER = "order"


@dataclass(frozen=True)
class Line:
    role: LineRole
    text: str


def scalar_text(value: Any) -> str:
    """A one-line rendering: YAML-ish scalars, JSON for small collections."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        plain = value and "\n" not in value and value.strip() == value and value[0] not in "{[*&!|>'\"%@`#,?:-"
        return value if plain and value not in ("true", "false", "null", "~") else json.dumps(value)
    return json.dumps(value, sort_keys=True, default=str)


def value_lines(value: Any) -> list[str]:
    """A value as one or more lines (nested data as block YAML)."""
    if isinstance(value, dict | list) and value:
        text = yaml.safe_dump(value, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 20)
        return text.rstrip("\n").splitlines()
    if isinstance(value, str) and "\n" in value:
        return ["|", *("  " + line for line in value.rstrip("\n").splitlines())]
    return [scalar_text(value)]


def heading(change: ResourceChange) -> str:
    version = change.api_version_after or change.api_version_before or ""
    return f"{SYMBOLS[change.status]} {change.title} ({version})"


def notes(change: ResourceChange) -> list[str]:
    out: list[str] = []
    if change.status is Status.ADDED:
        out.append("added" + (f" (from {change.origin_after})" if change.origin_after else ""))
    elif change.status is Status.REMOVED:
        out.append("removed" + (f" (was in {change.origin_before})" if change.origin_before else ""))
    if change.from_target:
        out.append(f"moved from target {change.from_target}")
    if change.api_version_changed:
        out.append(f"apiVersion changed: {change.api_version_before} -> {change.api_version_after}")
    if change.previous_name:
        out.append(f"generated name changed (content hash): {change.previous_name} -> {change.identity.name}")
    if change.rolls_for:
        reason = "only because of" if change.status is Status.ROLLING else "also because of"
        out.append(f"rolling: pods restart {reason} new generated name(s) for {', '.join(change.rolls_for)}")
    out.extend(secret_notes(change))
    return out


def secret_notes(change: ResourceChange) -> list[str]:
    secret = change.secret
    if secret is None:
        return []
    out = []
    kind = "SOPS-encrypted" if secret.encrypted else "plain"
    how = {
        ComparedBy.PLAINTEXT: "values compared by decrypted digest",
        ComparedBy.VALUE: "values compared by digest",
        ComparedBy.KEYS: "no decryption identity: compared by key set",
    }[secret.compared_by]
    shown = [k for k in secret.keys if k.change is not KeyStatus.UNCHANGED]
    if shown or secret.reencrypted or secret.recipients_before != secret.recipients_after:
        out.append(f"secret ({kind}, {how}); values are never shown")
    for key in shown:
        word = (
            "encrypted value differs (cannot tell whether the plaintext changed)"
            if key.change is KeyStatus.UNKNOWN
            else key.change
        )
        out.append(f"  {key.field}.{key.key}: {word}")
    if secret.reencrypted:
        out.append("  re-encrypted without a value change")
    if secret.recipients_before != secret.recipients_after:
        before = ", ".join(secret.recipients_before) or "none"
        after = ", ".join(secret.recipients_after) or "none"
        out.append(f"  recipients: {before} -> {after}")
    return out


def detail_lines(change: ResourceChange) -> list[Line]:
    lines = [Line(LineRole.NOTE, text) for text in notes(change)]
    for field in change.fields:
        if field.change is FieldChangeKind.ORDER:
            order = f"{scalar_text(field.before)} -> {scalar_text(field.after)}"
            lines.append(Line(LineRole.ORDER, f"{field.path}: order changed: {order}"))
            continue
        if is_hidden(field.before) or is_hidden(field.after):
            word = "value changed" if field.change is FieldChangeKind.CHANGED else field.change.value
            lines.append(Line(LineRole.NOTE, f"{field.path}: {word} (secret-class value, never shown)"))
            continue
        lines.append(Line(LineRole.PATH, field.path))
        if field.change in (FieldChangeKind.CHANGED, FieldChangeKind.REMOVED):
            lines.extend(Line(LineRole.DEL, text) for text in value_lines(shown(field.before)))
        if field.change in (FieldChangeKind.CHANGED, FieldChangeKind.ADDED):
            lines.extend(Line(LineRole.ADD, text) for text in value_lines(shown(field.after)))
    return lines


def side_text(result: DiffResult) -> tuple[str, str]:
    head = result.head.label + (" (uncommitted changes included)" if result.head.dirty else "")
    return result.base.label, head


def target_summary(target: TargetDiff) -> str:
    parts = [f"{target.count(s)} {s}" for s in SYMBOLS if target.count(s)]
    prefix = {TargetStatus.ADDED: "new target: ", TargetStatus.REMOVED: "target removed: "}.get(target.status, "")
    return prefix + (", ".join(parts) or "no resources")


def overall_summary(result: DiffResult) -> str:
    if not result.changed:
        return f"no changes ({len(result.rendered)} target(s) rendered, {result.unchanged} unchanged)"
    totals = result.totals()
    parts = ", ".join(f"{n} {s}" for s, n in totals.items() if n)
    return f"{len(result.targets)} target(s) changed, {result.unchanged} unchanged; resources: {parts}"


def skipped_lines(result: DiffResult) -> list[str]:
    """One line per Flux target not rendered (its source is not mapped), so no report hides it."""
    return [f"skipped {name}: {reason}" for name, reason in sorted(result.skipped.items())]
