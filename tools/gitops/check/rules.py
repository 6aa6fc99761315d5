"""The rule model: every finding's rule id is one `Rule` (schema, source, secret-gate and policy rules alike).

A rule module defines its rules as module constants and exports them in a `RULES` tuple; `gitops.check.registry`
lists those tuples by name, so nothing registers itself at import time. Ids are stable: a rule may be
retired, never renamed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gitops.check.findings import Severity

AREAS = (
    "Schema",
    "Source files",
    "Secret hygiene",
    "Check coverage",
    "Images and versions",
    "Sidekiq topology",
    "Connection budget and database",
    "Secrets and configuration",
    "TLS",
    "Probes, resources and security",
    "Routing",
    "Flux and GitOps",
    "Generic workload hygiene",
    "Suppressions",
)
"""Documentation order of docs/rules.md; every rule names one."""

Check = Callable[[Any], Iterable[Any]]
"""A policy rule's check: PolicyContext -> Hits. Stage rules (schema, source, gate) are reported by their stage."""


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    """Default severity; a finding may carry a different one when an option or heuristic downgrades it."""
    title: str
    rationale: str
    area: str
    check: Check | None = None
    """The function judging the rule, for rules that run on the policy context; None when a pipeline stage
    (schema validation, the source scan, the secret gate, coverage) reports it."""

    def __post_init__(self) -> None:
        if self.area not in AREAS:
            raise ValueError(f"{self.id}: unknown area {self.area!r}")
        object.__setattr__(self, "rationale", " ".join(self.rationale.split()))
