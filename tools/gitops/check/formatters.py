"""Formatters for check results: text (people), json (machines, see docs/check-json.md), junit (CI), github.

Each takes the CheckResult and returns the whole document as a string.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree as ET

from gitops.check.findings import CheckResult, Finding, Severity
from gitops.manifests import Identity

JSON_FORMAT_VERSION = 1


def _location(finding: Finding) -> str:
    if finding.file:
        return f"{finding.file}:{finding.line}" if finding.line else finding.file
    return finding.target or "-"


def finding_line(f: Finding) -> str:
    """One finding as a line of text: location, severity, rule, resource, path, message, target."""
    resource = f" {f.identity}" if f.identity else ""
    path = f" {f.path}" if f.path else ""
    target = f" [{f.target}]" if f.target else ""
    return f"{_location(f)}: {f.severity.value} {f.rule}{resource}{path}: {f.message}{target}"


def text_report(result: CheckResult) -> str:
    lines = [finding_line(f) for f in result.findings]
    skipped = f", {len(result.skipped_targets)} not rendered" if result.skipped_targets else ""
    lines.append(
        f"{len(result.targets)} targets{skipped}, {len(result.manifests)} documents checked against Kubernetes"
        f" {result.kubernetes_version}: {result.errors} errors, {result.warnings} warnings"
    )
    return "\n".join(lines) + "\n"


def _identity_json(identity: Identity | None) -> dict[str, Any] | None:
    if identity is None:
        return None
    return {
        "apiVersion": identity.api_version,
        "kind": identity.kind,
        "namespace": identity.namespace,
        "name": identity.name,
    }


def finding_json(finding: Finding) -> dict[str, Any]:
    return {
        "rule": finding.rule,
        "severity": finding.severity.value,
        "message": finding.message,
        "file": finding.file,
        "line": finding.line,
        "target": finding.target,
        "path": finding.path,
        "resource": _identity_json(finding.identity),
    }


def json_report(result: CheckResult) -> str:
    document = {
        "version": JSON_FORMAT_VERSION,
        "kubernetesVersion": result.kubernetes_version,
        "summary": {
            "targets": len(result.targets),
            "skippedTargets": list(result.skipped_targets),
            "documents": len(result.manifests),
            "errors": result.errors,
            "warnings": result.warnings,
        },
        "findings": [finding_json(f) for f in result.findings],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def _case_name(identity: Identity | None, finding: Finding | None = None) -> str:
    if identity is not None:
        return str(identity)
    return (finding.file if finding and finding.file else None) or "repository"


def junit_report(result: CheckResult) -> str:
    """One testsuite per target (plus one for source files); one testcase per resource, failures = errors.
    Every checked resource is a testcase, so passing resources show too."""
    by_case: dict[tuple[str, str], list[Finding]] = {}
    for manifest in result.manifests:
        by_case.setdefault((manifest.target, _case_name(manifest.identity)), [])
    for f in result.findings:
        by_case.setdefault((f.target or "sources", _case_name(f.identity, f)), []).append(f)

    root = ET.Element("testsuites", name="gitops check")
    suites: dict[str, ET.Element] = {}
    total = failures = 0
    for (suite_name, case_name), case_findings in sorted(by_case.items()):
        suite = suites.get(suite_name)
        if suite is None:
            suite = suites[suite_name] = ET.SubElement(root, "testsuite", name=suite_name)
        case = ET.SubElement(suite, "testcase", classname=suite_name, name=case_name)
        total += 1
        errors = [f for f in case_findings if f.is_error]
        if errors:
            failures += 1
            failure = ET.SubElement(case, "failure", message=errors[0].message, type=errors[0].rule)
            failure.text = "\n".join(f"{_location(f)}: {f.rule} {f.path}: {f.message}" for f in errors)
        warnings = [f for f in case_findings if not f.is_error]
        if warnings:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(f"warning {_location(f)}: {f.rule} {f.path}: {f.message}" for f in warnings)
    for suite in suites.values():
        cases = suite.findall("testcase")
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", "0")
    root.set("tests", str(total))
    root.set("failures", str(failures))
    root.set("errors", "0")
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_report(result: CheckResult) -> str:
    """GitHub Actions workflow commands: annotations on the source file and line."""
    lines = []
    for f in result.findings:
        level = "error" if f.severity is Severity.ERROR else "warning"
        props = []
        if f.file:
            props.append(f"file={_escape_property(f.file)}")
            if f.line:
                props.append(f"line={f.line}")
        props.append(f"title={_escape_property(f.rule)}")
        subject = f"{f.identity} " if f.identity else ""
        path = f"{f.path}: " if f.path else ""
        lines.append(f"::{level} {','.join(props)}::{_escape_data(subject + path + f.message)}")
    lines.append(f"gitops check: {len(result.manifests)} documents, {result.errors} errors, {result.warnings} warnings")
    return "\n".join(lines) + "\n"


REPORTS: dict[str, Callable[[CheckResult], str]] = {
    "text": text_report,
    "json": json_report,
    "junit": junit_report,
    "github": github_report,
}
"""`gitops check -o NAME`: the report of a whole check result, as one string."""
