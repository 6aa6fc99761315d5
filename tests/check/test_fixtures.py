"""`gitops check` end to end on tiny repositories under tests/fixtures/check/ (real kustomize, real schemas)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from gitops.check.findings import Severity
from gitops.check.pipeline import CheckOptions, check_repo
from tests.helpers import REPO_ROOT, run_gitops

FIXTURES = Path(__file__).parents[1] / "fixtures" / "check"
pytestmark = pytest.mark.kustomize

# case -> exactly the findings expected: (rule, severity, file, line, JSON pointer)
EXPECTED: dict[str, list[tuple[str, str, str, int, str]]] = {
    "unknown-field": [
        (
            "SCHEMA-UNKNOWN-FIELD",
            "error",
            "base/app/deployment.yaml",
            18,
            "/spec/template/spec/containers/0/imagePullPolcy",
        )
    ],
    "wrong-type": [("SCHEMA-TYPE", "error", "base/app/deployment.yaml", 6, "/spec/replicas")],
    "missing-required": [("SCHEMA-REQUIRED", "error", "base/app/deployment.yaml", 5, "/spec/selector")],
    "unknown-api-version": [("SCHEMA-UNKNOWN-API-VERSION", "error", "base/app/deployment.yaml", 1, "")],
    "no-schema": [("SCHEMA-MISSING", "error", "base/app/prometheusrule.yaml", 1, "")],
    "duplicate-key": [
        ("CHECK-NOT-RENDERED", "error", "base/app/configmap.yaml", None, ""),
        ("SCHEMA-DUPLICATE-KEY", "error", "base/app/configmap.yaml", 8, "/data/LOG_LEVEL"),
    ],
    "flux-kustomization": [
        ("SCHEMA-REQUIRED", "error", "clusters/test/apps.yaml", 6, "/spec/prune"),
        ("SCHEMA-REQUIRED", "error", "clusters/test/apps.yaml", 6, "/spec/sourceRef"),
    ],
    "sops-metadata": [
        ("SCHEMA-SOPS", "error", "base/app/secret.sops.yaml", 9, "/sops/lastmodified"),
        ("SCHEMA-SOPS", "error", "base/app/secret.sops.yaml", 20, "/sops/lastmodifed"),
    ],
    "env-configmap": [
        ("MASTODON-ENV", "error", "base/app/env.yaml", 6, "/data/DB_SSLMODE"),
        ("MASTODON-ENV-UNKNOWN-KEY", "warning", "base/app/env.yaml", 8, "/data/STREAMING_CLUSTER_NUM"),
    ],
}


def _summary(case: str) -> list[tuple[str, str, str | None, int | None, str]]:
    result = check_repo(FIXTURES / case)
    return [(f.rule, f.severity.value, f.file, f.line, f.path) for f in result.findings]


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_broken_fixture_gives_exactly_its_finding(case: str) -> None:
    assert _summary(case) == EXPECTED[case]


def test_passing_fixture_has_no_findings_and_checks_every_document() -> None:
    result = check_repo(FIXTURES / "passing")
    assert result.findings == []
    kinds = sorted(m.identity.kind for m in result.manifests)
    assert kinds == ["ConfigMap", "Deployment", "GitRepository", "Kustomization", "Secret", "Service"]


def test_findings_carry_identity_target_and_readable_message() -> None:
    (finding,) = check_repo(FIXTURES / "unknown-field").findings
    assert finding.identity is not None and (finding.identity.kind, finding.identity.name) == ("Deployment", "web")
    assert finding.target == "overlays/test"
    assert finding.message == "unknown field 'imagePullPolcy' (did you mean 'imagePullPolicy'?)"


def test_duplicate_key_skips_only_the_targets_reading_that_file() -> None:
    result = check_repo(FIXTURES / "duplicate-key")
    assert result.skipped_targets == ["overlays/test"]
    assert [m.identity.name for m in result.manifests] == ["clean"]


def test_ignore_missing_schemas_downgrades_missing_but_not_unknown_api_version() -> None:
    options = CheckOptions(ignore_missing_schemas=True)
    (missing,) = check_repo(FIXTURES / "no-schema", options=options).findings
    assert missing.severity is Severity.WARNING
    (api,) = check_repo(FIXTURES / "unknown-api-version", options=options).findings
    assert api.severity is Severity.ERROR


def test_cli_exit_codes(tmp_path: Path) -> None:
    assert run_gitops("-C", str(FIXTURES / "passing"), "check", cwd=tmp_path).returncode == 0
    failing = run_gitops("-C", str(FIXTURES / "unknown-field"), "check", cwd=tmp_path)
    assert failing.returncode == 1
    assert "base/app/deployment.yaml:18: error SCHEMA-UNKNOWN-FIELD" in failing.stdout
    warned = run_gitops("-C", str(FIXTURES / "no-schema"), "check", "--ignore-missing-schemas", cwd=tmp_path)
    assert warned.returncode == 0 and "warning SCHEMA-MISSING" in warned.stdout


def test_bad_repo_config_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run_gitops("-C", str(FIXTURES / "bad-config"), "check", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gitops: error: gitops.yaml: /: Additional properties are not allowed ('kubernetesVersoin' was unexpected)"
    ]


def test_kubernetes_version_without_committed_schemas_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_gitops("-C", str(FIXTURES / "passing"), "check", "--kubernetes-version", "1.99", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no schemas for Kubernetes 1.99" in proc.stderr and "Traceback" not in proc.stderr


def test_kubernetes_version_override_selects_other_schemas(tmp_path: Path) -> None:
    repo = shutil.copytree(FIXTURES / "unknown-api-version", tmp_path / "repo")
    proc = run_gitops("-C", str(repo), "check", "--kubernetes-version", "1.32", cwd=tmp_path)
    assert proc.returncode == 1 and "Kubernetes 1.32 does not serve Deployment in apps/v1beta2" in proc.stdout


def test_json_output_is_the_documented_format(tmp_path: Path) -> None:
    proc = run_gitops("-C", str(FIXTURES / "flux-kustomization"), "check", "-o", "json", cwd=tmp_path)
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["version"] == 1 and data["kubernetesVersion"] == "1.33"
    assert data["summary"] == {"targets": 1, "skippedTargets": [], "documents": 1, "errors": 2, "warnings": 0}
    assert data["findings"][0] == {
        "rule": "SCHEMA-REQUIRED",
        "severity": "error",
        "message": "missing required field 'prune'",
        "file": "clusters/test/apps.yaml",
        "line": 6,
        "target": "clusters/test",
        "path": "/spec/prune",
        "resource": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "namespace": "flux-system",
            "name": "apps",
        },
    }


def test_junit_output_parses_with_one_failing_testcase(tmp_path: Path) -> None:
    proc = run_gitops("-C", str(FIXTURES / "env-configmap"), "check", "-o", "junit", cwd=tmp_path)
    root = ET.fromstring(proc.stdout)
    assert root.tag == "testsuites" and root.get("tests") == "1" and root.get("failures") == "1"
    (case,) = root.iter("testcase")
    failure = case.find("failure")
    assert failure is not None and failure.get("type") == "MASTODON-ENV"
    out = case.find("system-out")
    assert out is not None and "STREAMING_CLUSTER_NUM" in (out.text or "")


def test_github_output_annotates_file_and_line(tmp_path: Path) -> None:
    proc = run_gitops("-C", str(FIXTURES / "wrong-type"), "check", "-o", "github", cwd=tmp_path)
    first = proc.stdout.splitlines()[0]
    assert first.startswith("::error file=base/app/deployment.yaml,line=6,title=SCHEMA-TYPE::")
    assert first.endswith('/spec/replicas: expected integer, got string "2"')


def test_shipped_repository_passes(tmp_path: Path) -> None:
    proc = run_gitops("-C", str(REPO_ROOT), "check", "-o", "json", cwd=tmp_path)
    data = json.loads(proc.stdout)
    assert data["summary"]["documents"] > 0
    findings = [(f["rule"], f["severity"]) for f in data["findings"]]
    # The template ships production secrets for the published test key until an operator makes it their own.
    assert findings == [("SEC-TEST-KEY", "warning")]
    assert proc.returncode == 0
