"""The Mastodon policy pack as a library.

Public API:
  run_policy(repo_root, rendered, config, *, previous=None, rule_ids=None) -> list[Finding]
  explain(rule_id, repo_root=None, rendered=None, config=None) -> str
  new_findings(base, head) -> list[Finding]           (for --new-only --base REF)
  rules() -> list[Rule]                               (id, severity, title, rationale, area)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from gitops.check.registry import get_rule, policy_rules
from gitops.check.rules import Rule
from gitops.errors import GitopsError
from gitops.manifests import Manifest
from gitops.policy.baseline import finding_key, new_findings
from gitops.policy.runner import build_context, evaluate, run_policy, validate_config
from gitops.render import RenderedTarget

__all__ = [
    "Rule",
    "build_context",
    "evaluate",
    "explain",
    "finding_key",
    "new_findings",
    "rules",
    "run_policy",
    "validate_config",
]


def rules() -> list[Rule]:
    """The policy pack's rules (every rule check can report: gitops.check.registry.all_rules)."""
    return policy_rules()


def explain(
    rule_id: str,
    repo_root: Path | None = None,
    rendered: Iterable[RenderedTarget] | dict[str, list[Manifest]] | None = None,
    config: dict[str, Any] | None = None,
    *,
    flux: bool = False,
) -> str:
    """Any rule's title and rationale; for DB-1 with rendered targets, also the budget arithmetic per environment."""
    key = rule_id.strip().upper()
    found = get_rule(key)
    if found is None:
        raise GitopsError(f"--explain {rule_id}: no such rule (see docs/rules.md)")
    text = [f"{found.id} ({found.severity}): {found.title}", "", found.rationale]
    if key == "DB-1" and rendered is not None:
        from gitops.policy.budget import compute_budget, explain_budget

        ctx = build_context(repo_root, rendered, config, flux=flux)
        for env in sorted(ctx.environments.values(), key=lambda e: e.name):
            budget = compute_budget(ctx, env)
            if budget.lines:
                text += ["", explain_budget(budget)]
    return "\n".join(text)
