"""The policy rule registry: stable ids, severity, title and rationale next to the function that checks them.

Rules register themselves at import time with the `rule` decorator; docs/rules.md is generated from `RULES`.
A rule function takes the policy context and yields `Hit`s; the runner turns hits into Findings (adding the
rule id, severity, target and source file) and applies suppressions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitops.findings import Severity
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


Check = Callable[["PolicyContext"], Iterable[Hit]]


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    title: str
    rationale: str
    check: Check
    area: str


RULES: dict[str, Rule] = {}

AREAS = (
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


def rule(rule_id: str, severity: Severity, area: str, title: str, rationale: str) -> Callable[[Check], Check]:
    """Register `check` under `rule_id`. Ids are stable: a rule may be retired, never renamed."""
    if area not in AREAS:
        raise ValueError(f"{rule_id}: unknown area {area!r}")

    def register(check: Check) -> Check:
        if rule_id in RULES:
            raise ValueError(f"rule {rule_id} registered twice")
        RULES[rule_id] = Rule(rule_id, severity, title, " ".join(rationale.split()), check, area)
        return check

    return register


def rule_sort_key(rule_id: str) -> tuple[int, str, int]:
    """IMG-1 < IMG-2 < ... < IMG-10, areas in documentation order."""
    prefix, _, number = rule_id.partition("-")
    order = {r.id.partition("-")[0]: AREAS.index(r.area) for r in RULES.values()}
    return (order.get(prefix, len(AREAS)), prefix, int(number) if number.isdigit() else 0)


def ordered_rules() -> list[Rule]:
    return sorted(RULES.values(), key=lambda r: rule_sort_key(r.id))


def ensure_loaded() -> None:
    """Import every rule module so the registry is complete."""
    from gitops.policy import (  # noqa: F401
        budget,
        routing,
        rules_config,
        rules_database,
        rules_flux,
        rules_generic,
        rules_images,
        rules_pods,
        rules_sidekiq,
        rules_tls,
        suppress,
    )


def all_rule_ids() -> Iterable[str]:
    ensure_loaded()
    return [r.id for r in ordered_rules()]
