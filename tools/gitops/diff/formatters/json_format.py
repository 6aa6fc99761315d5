"""`-o json`: the stable machine-readable format documented in docs/diff-json.md (format "gitops-diff/v1")."""

from __future__ import annotations

import json
from typing import Any

from gitops.diff.model import DiffResult, ResourceChange, Side, Status, TargetDiff
from gitops.diff.secrets import shown

FORMAT = "gitops-diff/v1"


def _side(side: Side) -> dict[str, Any]:
    return {"label": side.label, "ref": side.ref, "commit": side.commit, "dirty": side.dirty}


def _resource(change: ResourceChange) -> dict[str, Any]:
    out: dict[str, Any] = {
        "status": change.status.value,
        "group": change.identity.group,
        "kind": change.identity.kind,
        "namespace": change.identity.namespace,
        "name": change.identity.name,
        "apiVersion": {"base": change.api_version_before, "head": change.api_version_after},
        "apiVersionChanged": change.api_version_changed,
        "origin": {"base": change.origin_before, "head": change.origin_after},
        "movedFrom": change.from_target,
        "previousName": change.previous_name,
        "rollsFor": list(change.rolls_for),
        "fields": [
            {"path": f.path, "change": f.change.value, "base": shown(f.before), "head": shown(f.after)}
            for f in change.fields
        ],
        "secret": None,
    }
    if change.secret is not None:
        s = change.secret
        out["secret"] = {
            "encrypted": s.encrypted,
            "comparedBy": s.compared_by.value,
            "reencrypted": s.reencrypted,
            "recipients": {"base": list(s.recipients_before), "head": list(s.recipients_after)},
            "keys": [{"field": k.field, "key": k.key, "change": k.change.value} for k in s.keys],
        }
    return out


def _target(target: TargetDiff) -> dict[str, Any]:
    return {
        "target": target.target,
        "status": target.status.value,
        "counts": {s.value: target.count(s) for s in Status},
        "resources": [_resource(c) for c in target.changes],
    }


def as_data(result: DiffResult) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "base": _side(result.base),
        "head": _side(result.head),
        "changed": result.changed,
        "summary": {
            "targetsChanged": len(result.targets),
            "targetsRendered": len(result.rendered),
            "targetsUnchanged": result.unchanged,
            "resources": {s.value: n for s, n in result.totals().items()},
        },
        "targets": [_target(t) for t in result.targets],
        "skipped": [{"target": name, "reason": reason} for name, reason in sorted(result.skipped.items())],
    }


def format_diff_json(result: DiffResult) -> str:
    return json.dumps(as_data(result), indent=2, sort_keys=False, default=str) + "\n"
