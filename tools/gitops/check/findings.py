"""Findings: plain data produced by checks (schema, secret hygiene, policy) and consumed by formatters."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from gitops.manifests import Identity


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
