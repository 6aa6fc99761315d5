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
EMPTY_TARGET = Rule(
    "CHECK-EMPTY-TARGET",
    Severity.WARNING,
    "A target builds to zero documents",
    "A target whose build is empty has nothing for the schema, secret-gate and policy rules to judge. That is"
    " sometimes intended (a placeholder Flux Kustomization) but more often a wrong spec.path or a kustomization"
    " listing nothing; the check says so rather than pass on nothing.",
    area="Check coverage",
)
SKIPPED_TARGET = Rule(
    "CHECK-SKIPPED-TARGET",
    Severity.WARNING,
    "A Flux Kustomization was not rendered: its source is not mapped to a repository path",
    "A Flux Kustomization whose sourceRef is another GitRepository, an OCIRepository, a Bucket or an"
    " ExternalArtifact builds files this repository may not hold. Map the source to a repository path"
    " (gitops.yaml sources: {NAME: PATH} or --source NAME=PATH) to check it; until then it is reported, not"
    " dropped.",
    area="Check coverage",
)
RULES = (NOT_RENDERED, EMPTY_TARGET, SKIPPED_TARGET)


def not_rendered_findings(
    blocked: Mapping[str, Sequence[str]], policy_skipped: Sequence[str], *, flux: bool = False
) -> list[Finding]:
    """One finding per target in `blocked` ({target: the unreadable source files it reads}); targets of an
    environment in `policy_skipped` also name the policy rules that environment did not get."""
    findings = []
    for target, files in sorted(blocked.items()):
        unchecked = "schema and secret-gate rules"
        environment = environment_of(target, flux=flux)
        if environment in policy_skipped:
            unchecked += f" on its output, and policy rules for environment {environment},"
        else:
            unchecked += " on its output"
        message = f"not rendered because {', '.join(files)} does not parse cleanly: {unchecked} were not checked"
        findings.append(Finding(NOT_RENDERED.id, NOT_RENDERED.severity, message, target=target, file=files[0]))
    return findings


def empty_target_findings(targets: Sequence[str]) -> list[Finding]:
    return [
        Finding(EMPTY_TARGET.id, EMPTY_TARGET.severity, "builds to zero documents: nothing was checked", target=t)
        for t in targets
    ]


def skipped_target_findings(skipped: Mapping[str, str]) -> list[Finding]:
    """One finding per skipped Flux target ({target: reason})."""
    return [
        Finding(SKIPPED_TARGET.id, SKIPPED_TARGET.severity, f"skipped: {reason}", target=target)
        for target, reason in sorted(skipped.items())
    ]
