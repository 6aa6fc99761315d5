"""`-o unified`: a unified diff of the (redacted) rendered YAML, one hunk set per changed resource."""

from __future__ import annotations

import difflib

from gitops.diff.model import DiffResult, ResourceChange
from gitops.manifests import dump_documents


def _label(target: str, change: ResourceChange, name: str) -> str:
    ns = change.identity.namespace or "_cluster"
    return f"{target}/{change.identity.kind}/{ns}/{name}"


def resource_diff(change: ResourceChange) -> list[str]:
    before = dump_documents([change.before]).splitlines(keepends=True) if change.before is not None else []
    after = dump_documents([change.after]).splitlines(keepends=True) if change.after is not None else []
    old_label = (
        "/dev/null"
        if change.before is None
        else "a/" + _label(change.from_target or change.target, change, change.previous_name or change.identity.name)
    )
    new_label = "/dev/null" if change.after is None else "b/" + _label(change.target, change, change.identity.name)
    lines = list(difflib.unified_diff(before, after, old_label, new_label, n=3))
    if not lines:  # a pure rename or move with identical content still gets its header
        lines = [f"--- {old_label}\n", f"+++ {new_label}\n"]
    return [line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines]


def format_unified(result: DiffResult) -> str:
    return "".join(line for target in result.targets for change in target.changes for line in resource_diff(change))
