"""Findings and the check result: plain data produced by the pipeline and consumed by formatters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from gitops.manifests import Identity, Manifest


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One problem. `file` is the repository-relative source file to fix (under base/, overlays/ or clusters/)."""

    rule: str
    """Stable rule id, e.g. SCHEMA-UNKNOWN-FIELD, SEC-PLAINTEXT-SECRET, SQ-1."""
    severity: Severity
    message: str
    identity: Identity | None = None
    target: str | None = None
    """Render target the resource came out of (e.g. overlays/production/apps), for findings on rendered output."""
    path: str = ""
    """JSON pointer inside the resource (e.g. /spec/template/spec/containers/0/imagePullPolcy)."""
    file: str | None = None
    line: int | None = None

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR


@dataclass
class CheckResult:
    """What one `gitops check` run found and what it looked at: the one input of every formatter."""

    findings: list[Finding]
    targets: list[str]
    manifests: list[Manifest]
    kubernetes_version: str
    skipped_targets: list[str] = field(default_factory=list)
    """Targets not rendered because a file they read has duplicate keys or does not parse."""
    config_raw: dict[str, Any] = field(default_factory=dict)
    """gitops.yaml as validated (policy explanations need its environments)."""
    flux: bool = False
    """The targets are Flux Kustomizations (gitops.workspace): environments are their clusters."""

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.is_error)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.WARNING)
