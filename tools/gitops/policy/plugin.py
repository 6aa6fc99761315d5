"""Plugs the policy pack into `gitops check` (imported through gitops.check.PLUGIN_MODULES)."""

from __future__ import annotations

from gitops.check import CheckContext, register_check
from gitops.findings import Finding
from gitops.manifests import group_by_target
from gitops.policy.runner import run_policy
from gitops.targets import discover


@register_check("policy")
def policy(context: CheckContext) -> list[Finding]:
    """Mastodon policy rules. They judge whole environments (migration chain, connection budget, one
    scheduler across all layers), so they run only when the check covers every target."""
    if sorted(context.targets) != discover(context.repo_root):
        return []
    previous = context.options.extra.get("previous")  # the base ref's manifests, with --new-only
    return run_policy(context.repo_root, group_by_target(context.manifests), context.config.raw, previous=previous)
