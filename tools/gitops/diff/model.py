"""What `gitops diff` found: per target, the resources that changed and how, with redacted bodies.

Plain data that the formatters read; nothing here renders, compares or prints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gitops.diff.fields import FieldChange
from gitops.diff.secrets import SecretChange
from gitops.manifests import Identity


class Status(StrEnum):
    """What happened to one resource, in the order reports list the counts."""

    ADDED = "added"
    CHANGED = "changed"
    REMOVED = "removed"
    MOVED = "moved"
    """Left one target and appeared in another (recorded at its destination)."""
    ROLLING = "rolling"
    """Its only change is a new generated ConfigMap/Secret name: the pods restart, nothing else differs."""


class TargetStatus(StrEnum):
    CHANGED = "changed"
    ADDED = "added"
    """The target exists only on the head side."""
    REMOVED = "removed"


@dataclass
class ResourceChange:
    status: Status
    target: str
    identity: Identity
    """The object as the head side names it (the base side's name when removed)."""
    api_version_before: str | None = None
    api_version_after: str | None = None
    from_target: str | None = None
    """For MOVED: the target the object left."""
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
        ns = f"{self.identity.namespace}/" if self.identity.namespace else ""
        return f"{self.identity.kind}/{ns}{self.identity.name}"

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return self.identity.group_kind_key


@dataclass
class TargetDiff:
    target: str
    status: TargetStatus
    changes: list[ResourceChange] = field(default_factory=list)

    def count(self, status: Status) -> int:
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
    skipped: dict[str, str] = field(default_factory=dict)
    """Flux targets not rendered on a side (their source is not mapped to a repository path): name -> why."""
    warnings: list[str] = field(default_factory=list)
    """What the render of either side warned about (e.g. a Flux target building to zero documents)."""

    @property
    def changed(self) -> bool:
        return bool(self.targets)

    def totals(self) -> dict[Status, int]:
        return {s: sum(t.count(s) for t in self.targets) for s in Status}
