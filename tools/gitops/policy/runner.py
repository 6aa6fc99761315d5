"""Running the policy rules over rendered targets: context building, findings, suppressions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gitops.check.findings import Finding
from gitops.check.registry import RETIRED, RULES, policy_rules, rule_sort_key
from gitops.manifests import Manifest
from gitops.policy.config_schema import SCHEMA_FILE as SCHEMA_FILE
from gitops.policy.config_schema import validate_config
from gitops.policy.context import PolicyContext, build_environments, build_flux
from gitops.policy.rule import Hit
from gitops.render import RenderedTarget


def targets_of(rendered: Iterable[RenderedTarget]) -> dict[str, list[Manifest]]:
    return {r.target: r.manifests for r in rendered}


def build_context(
    repo_root: Path | None,
    rendered: Iterable[RenderedTarget] | dict[str, list[Manifest]],
    config: dict[str, Any] | None = None,
    *,
    previous: Iterable[RenderedTarget] | dict[str, list[Manifest]] | None = None,
    flux: bool = False,
) -> PolicyContext:
    """The policy context from rendered targets (or {target: manifests} for tests and in-memory use);
    `flux`: the targets are Flux Kustomizations, whose environment is their cluster."""
    config = dict(config or {})
    validate_config(config)
    targets = rendered if isinstance(rendered, dict) else targets_of(rendered)
    base = None
    if previous is not None:
        base = build_environments(previous if isinstance(previous, dict) else targets_of(previous), flux=flux)
    return PolicyContext(
        build_environments(targets, flux=flux),
        build_flux(targets, flux=flux),
        config,
        repo_root,
        base,
        frozenset(RULES) | frozenset(RETIRED),
    )


def evaluate(ctx: PolicyContext, rule_ids: Sequence[str] | None = None) -> list[Finding]:
    """Findings of the selected rules (all by default), after suppressions."""
    from gitops.policy.suppress import apply_suppressions

    selected = [RULES[r] for r in rule_ids] if rule_ids is not None else policy_rules()
    raw: list[tuple[Finding, Manifest | None]] = []
    for rule in sorted(selected, key=lambda r: rule_sort_key(r.id)):
        seen: set[tuple[Any, ...]] = set()
        assert rule.check is not None, f"{rule.id} is reported by a pipeline stage, not the policy pack"
        for hit in rule.check(ctx):
            finding = to_finding(rule.id, rule.severity, hit)
            key = (finding.identity, finding.target, finding.path, finding.message)
            if key not in seen:
                seen.add(key)
                raw.append((finding, hit.manifest))
    findings = apply_suppressions(raw, RETIRED)
    return sorted(findings, key=_order)


def _order(finding: Finding) -> tuple[Any, ...]:
    ident = finding.identity
    return (
        finding.target or "",
        rule_sort_key(finding.rule),
        (ident.kind, ident.namespace or "", ident.name) if ident else ("", "", ""),
        finding.path,
        finding.message,
    )


def to_finding(rule_id: str, severity: Any, hit: Hit) -> Finding:
    manifest = hit.manifest
    return Finding(
        rule=rule_id,
        severity=hit.severity or severity,
        message=hit.message,
        identity=manifest.identity if manifest else None,
        target=manifest.target if manifest else None,
        path=hit.path,
        file=(manifest.origin if manifest else None) or hit.file,
    )


def run_policy(
    repo_root: Path | None,
    rendered: Iterable[RenderedTarget] | dict[str, list[Manifest]],
    config: dict[str, Any] | None = None,
    *,
    previous: Iterable[RenderedTarget] | dict[str, list[Manifest]] | None = None,
    rule_ids: Sequence[str] | None = None,
    flux: bool = False,
) -> list[Finding]:
    """Policy findings for rendered targets (render them with origins=True so findings name source files).

    `previous` is the same repository rendered at the base ref; rules about changes (IMG-2 minor-series
    skips, SEC-4 domain changes) use it when given.
    """
    ctx = build_context(repo_root, rendered, config, previous=previous, flux=flux)
    return evaluate(ctx, rule_ids)
