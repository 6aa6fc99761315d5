"""The rule registry: every finding's rule id has one entry here (id, severity, summary, rationale).

Checks register their rules at import time with `register_rule`; docs (e.g. docs/rules.md) are generated
from `all_rules()`. Ids are stable: a rule may be retired, never renamed.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops.findings import Severity


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    """Default severity; a finding may carry a different one when an option downgrades it."""
    summary: str
    rationale: str


_RULES: dict[str, Rule] = {}


def register_rule(rule_id: str, severity: Severity, summary: str, rationale: str) -> Rule:
    """Add a rule; registering the same id twice with different content is a programming error."""
    rule = Rule(rule_id, severity, summary, rationale)
    existing = _RULES.get(rule_id)
    if existing is not None and existing != rule:
        raise ValueError(f"rule {rule_id} registered twice with different content")
    _RULES[rule_id] = rule
    return rule


def get_rule(rule_id: str) -> Rule | None:
    return _RULES.get(rule_id)


def all_rules() -> list[Rule]:
    return sorted(_RULES.values(), key=lambda r: r.id)
