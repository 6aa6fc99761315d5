"""`-o unified`: a unified diff of the (redacted) rendered YAML, one hunk set per changed resource."""

from __future__ import annotations

import difflib

from gitops.diff.model import DiffResult, ResourceChange
from gitops.diff.secrets import label_hidden
from gitops.manifests import dump_documents


def _label(target: str, change: ResourceChange, name: str) -> str:
    ns = change.identity.namespace or "_cluster"
    return f"{target}/{change.identity.kind}/{ns}/{name}"


def resource_diff(change: ResourceChange) -> list[str]:
    before_text = dump_documents([change.before]) if change.before is not None else ""
    after_text = dump_documents([change.after]) if change.after is not None else ""
    before_text, after_text = label_hidden(before_text, after_text)
    before, after = before_text.splitlines(keepends=True), after_text.splitlines(keepends=True)
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
