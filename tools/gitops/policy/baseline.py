"""`--new-only`: the findings a change introduces, comparing head against the base ref's findings.

Findings are matched on what survives an unrelated edit: rule, kind, namespace, name and message with
kustomize's content-hash suffixes removed, target and JSON path. Line numbers and source files are left out
(moving a resource between files is not a new problem). Matching counts duplicates: if base had one finding
with a key and head has two, one is new.
"""

from __future__ import annotations

from collections import Counter

from gitops.check.findings import Finding
from gitops.k8s import without_generated_hashes

FindingKey = tuple[str, str, str, str, str, str, str]


def _unhash(text: str) -> str:
    return without_generated_hashes(text)


def finding_key(finding: Finding) -> FindingKey:
    ident = finding.identity
    return (
        finding.rule,
        ident.kind if ident else "",
        (ident.namespace or "") if ident else "",
        _unhash(ident.name) if ident else "",
        finding.target or "",
        finding.path,
        _unhash(finding.message),
    )


def new_findings(base: list[Finding], head: list[Finding]) -> list[Finding]:
    """Head findings without a counterpart in base, in head's order."""
    available = Counter(finding_key(f) for f in base)
    out = []
    for finding in head:
        key = finding_key(finding)
        if available[key] > 0:
            available[key] -= 1
        else:
            out.append(finding)
    return out
