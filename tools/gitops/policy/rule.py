"""How a policy rule is written: a `Hit` is one violation as a rule sees it; `@rule(...)` turns the check
function into a `gitops.check.rules.Rule` (nothing is registered: the module lists it in its RULES tuple).

The runner turns hits into Findings (adding the rule id, severity, target and source file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitops.check.findings import Severity
from gitops.check.rules import Rule
from gitops.manifests import Manifest

if TYPE_CHECKING:
    from gitops.policy.context import PolicyContext


@dataclass(frozen=True)
class Hit:
    """One violation as a rule sees it: which resource, where in it, and what is wrong."""

    message: str
    manifest: Manifest | None = None
    path: str = ""
    severity: Severity | None = None
    """Overrides the rule's severity (used for heuristics that can only warn)."""
    file: str | None = None
    """Source file when there is no manifest (e.g. gitops.yaml)."""


PolicyCheck = Callable[["PolicyContext"], Iterable[Hit]]


def rule(rule_id: str, severity: Severity, area: str, title: str, rationale: str) -> Callable[[PolicyCheck], Rule]:
    """The decorated check becomes the Rule `rule_id` (ids are stable: retired, never renamed)."""

    def make(check: PolicyCheck) -> Rule:
        return Rule(rule_id, severity, title, rationale, area, check)

    return make
