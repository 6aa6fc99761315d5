"""Every rule `gitops check` can report, in one literal list: "where is X registered?" is one grep.

Rule modules only define their rules; this module imports them by name, so import order never matters and
nothing registers itself. `--explain`, `gitops/ignore` and docs/rules.md read from here.
"""

from __future__ import annotations

from gitops.check import coverage, integrity, object_size, schema, secret_gate, sourcemap
from gitops.check.rules import AREAS, Rule
from gitops.policy import (
    budget,
    routing,
    rules_client_ip,
    rules_config,
    rules_database,
    rules_environments,
    rules_flux,
    rules_generic,
    rules_images,
    rules_pods,
    rules_sidekiq,
    rules_tls,
    suppress,
)

STAGE_RULES: tuple[Rule, ...] = (
    *schema.RULES,
    *object_size.RULES,
    *sourcemap.RULES,
    *secret_gate.RULES,
    *integrity.RULES,
    *coverage.RULES,
)
"""Reported by a pipeline stage on every target (schema validation, the source scan, the secret gate, coverage)."""

POLICY_RULES: tuple[Rule, ...] = (
    *rules_images.RULES,
    *rules_sidekiq.RULES,
    *budget.RULES,
    *rules_database.RULES,
    *rules_config.RULES,
    *rules_environments.RULES,
    *rules_tls.RULES,
    *rules_pods.RULES,
    *routing.RULES,
    *rules_client_ip.RULES,
    *rules_flux.RULES,
    *rules_generic.RULES,
    *suppress.RULES,
)
"""The Mastodon policy pack: judged on the policy context of whole environments."""


def index_rules(rules: tuple[Rule, ...]) -> dict[str, Rule]:
    by_id: dict[str, Rule] = {}
    for rule in rules:
        if rule.id in by_id:
            raise ValueError(f"rule {rule.id} defined twice")
        by_id[rule.id] = rule
    return by_id


RULES: dict[str, Rule] = index_rules(STAGE_RULES + POLICY_RULES)

RETIRED: dict[str, str] = {"SEC-1": secret_gate.SECRET_IN_CONFIG.id}
"""Retired id -> the rule that reports its fact now; `--explain` and `gitops/ignore` still accept the old id."""


def get_rule(rule_id: str) -> Rule | None:
    key = rule_id.strip().upper()
    return RULES.get(RETIRED.get(key, key))


def rule_sort_key(rule_id: str) -> tuple[int, str, int]:
    """Areas in documentation order, then IMG-1 < IMG-2 < ... < IMG-10."""
    found = RULES.get(rule_id)
    area = AREAS.index(found.area) if found is not None else len(AREAS)
    prefix, _, number = rule_id.rpartition("-")
    return (area, prefix if number.isdigit() else rule_id, int(number) if number.isdigit() else 0)


def all_rules() -> list[Rule]:
    return sorted(RULES.values(), key=lambda r: rule_sort_key(r.id))


def policy_rules() -> list[Rule]:
    return sorted(POLICY_RULES, key=lambda r: rule_sort_key(r.id))
