"""What a check could not judge, said as findings: a target that did not render is never a silent pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from gitops.check.findings import Finding, Severity
from gitops.check.rules import Rule
from gitops.policy.context import environment_of

NOT_RENDERED = Rule(
    "CHECK-NOT-RENDERED",
    Severity.ERROR,
    "A target could not be rendered, so its rules were not checked",
    "A source file with a duplicate key or invalid YAML stops kustomize for every target that reads it. Schema,"
    " secret-gate and policy rules cannot judge output that does not exist; rather than pass silently, the check"
    " names each such target and what it did not check. Fix the source file's own finding first.",
    area="Check coverage",
)
RULES = (NOT_RENDERED,)


def not_rendered_findings(blocked: Mapping[str, Sequence[str]], policy_skipped: Sequence[str]) -> list[Finding]:
    """One finding per target in `blocked` ({target: the unreadable source files it reads}); targets of an
    environment in `policy_skipped` also name the policy rules that environment did not get."""
    findings = []
    for target, files in sorted(blocked.items()):
        unchecked = "schema and secret-gate rules"
        environment = environment_of(target)
        if environment in policy_skipped:
            unchecked += f" on its output, and policy rules for environment {environment},"
        else:
            unchecked += " on its output"
        message = f"not rendered because {', '.join(files)} does not parse cleanly: {unchecked} were not checked"
        findings.append(Finding(NOT_RENDERED.id, NOT_RENDERED.severity, message, target=target, file=files[0]))
    return findings
