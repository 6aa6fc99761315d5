"""Suppressions: `gitops/ignore: "RULE-ID: reason"` on the resource a finding is about.

Several entries are separated by newlines or ";". An entry without a reason does not suppress anything
and is itself a finding (IGNORE-1): a silenced rule must say why, so the next reviewer can judge it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping

from gitops.check.findings import Finding, Severity
from gitops.manifests import Identity, Manifest
from gitops.policy.context import PolicyContext
from gitops.policy.rule import Hit, rule

ANNOTATION = "gitops/ignore"
POINTER = "/metadata/annotations/gitops~1ignore"
# Entries are separated by newlines, or by ";" when a rule id follows (a reason may contain ";").
# Rule ids: policy ids (SEC-1) and stage ids (SCHEMA-UNKNOWN-FIELD, SEC-SECRET-IN-CONFIG).
_RULE_ID = r"[A-Za-z]+(?:-[A-Za-z0-9]+)+"
_SEPARATOR = re.compile(rf"\n|;(?=\s*{_RULE_ID}\s*(?::|$))")
_ENTRY = re.compile(rf"^\s*({_RULE_ID})\s*(?::(.*))?$", re.DOTALL)


def parse_ignore(value: str) -> list[tuple[str, str]]:
    """[(RULE-ID or the raw entry when malformed, reason)] of an annotation value."""
    entries: list[tuple[str, str]] = []
    for raw in _SEPARATOR.split(value):
        if not raw.strip():
            continue
        match = _ENTRY.match(raw)
        if match is None:
            entries.append((raw.strip(), ""))
        else:
            entries.append((match[1].upper(), (match[2] or "").strip()))
    return entries


def _annotation(manifest: Manifest) -> str | None:
    annotations = (manifest.body.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(ANNOTATION) if isinstance(annotations, dict) else None
    return str(value) if value is not None else None


def suppressed_rules(manifest: Manifest) -> set[str]:
    value = _annotation(manifest)
    if value is None:
        return set()
    return {rule_id for rule_id, reason in parse_ignore(value) if reason and _ENTRY.match(rule_id)}


def _all_manifests(ctx: PolicyContext) -> Iterator[Manifest]:
    for env in ctx.environments.values():
        yield from env.manifests
    yield from (k.manifest for k in ctx.flux)


@rule(
    "IGNORE-1",
    Severity.ERROR,
    "Suppressions",
    "A gitops/ignore entry names a rule and gives a reason",
    """A suppression is a decision someone will have to revisit; without the reason, nobody can tell whether
    it still holds. Entries have the form `RULE-ID: reason`. An entry without a reason (or not of that form)
    suppresses nothing.""",
)
def check_reasons(ctx: PolicyContext) -> Iterator[Hit]:
    for manifest in _all_manifests(ctx):
        value = _annotation(manifest)
        if value is None:
            continue
        for rule_id, reason in parse_ignore(value):
            if not _ENTRY.match(rule_id):
                yield Hit(f"gitops/ignore entry {rule_id!r} is not of the form 'RULE-ID: reason'", manifest, POINTER)
            elif not reason:
                yield Hit(f"gitops/ignore of {rule_id} gives no reason; it suppresses nothing", manifest, POINTER)


@rule(
    "IGNORE-2",
    Severity.WARNING,
    "Suppressions",
    "A gitops/ignore entry names an existing rule",
    """A suppression of a rule id that does not exist (a typo, or a retired rule) silences nothing and
    misleads the reader into thinking a check is disabled on purpose.""",
)
def check_known(ctx: PolicyContext) -> Iterator[Hit]:
    for manifest in _all_manifests(ctx):
        value = _annotation(manifest)
        if value is None:
            continue
        for rule_id, _ in parse_ignore(value):
            if _ENTRY.match(rule_id) and rule_id not in ctx.known_rules:
                yield Hit(f"gitops/ignore names unknown rule {rule_id}", manifest, POINTER)


def apply_suppressions(
    raw: Iterable[tuple[Finding, Manifest | None]], retired: Mapping[str, str] | None = None
) -> list[Finding]:
    """Findings minus those the resource they are about suppresses (IGNORE-* themselves are never suppressed).
    `retired` maps a retired rule id to the rule now reporting its fact, so old suppressions keep working."""
    renamed = retired or {}
    kept: list[Finding] = []
    for finding, manifest in raw:
        meta = finding.rule in ("IGNORE-1", "IGNORE-2")
        if (
            manifest is not None
            and not meta
            and finding.rule in {renamed.get(r, r) for r in suppressed_rules(manifest)}
        ):
            continue
        kept.append(finding)
    return kept


def suppress_findings(
    findings: Iterable[Finding], manifests: Iterable[Manifest], retired: Mapping[str, str] | None = None
) -> list[Finding]:
    """apply_suppressions for findings of any rule on rendered resources, found by (target, identity)."""
    by_resource: dict[tuple[str | None, Identity | None], Manifest] = {(m.target, m.identity): m for m in manifests}
    return apply_suppressions(((f, by_resource.get((f.target, f.identity))) for f in findings), retired)


RULES = (check_reasons, check_known)
