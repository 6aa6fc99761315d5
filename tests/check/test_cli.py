"""`gitops check --explain` and `--new-only --base REF` on copies of the shipped repository."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.kustomize import Kustomize
from tests.helpers import REPO_ROOT, assert_one_line_error, run_gitops

SHIPPED = ("base", "overlays", "clusters", "gitops.yaml", ".sops.yaml")


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=repo, check=True, capture_output=True
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The shipped repository in a fresh git repository with one commit."""
    root = tmp_path / "repo"
    root.mkdir()
    for name in SHIPPED:
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, root / name)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "shipped")
    return root


def _json_findings(proc: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    findings = json.loads(proc.stdout)["findings"]
    return [(f["rule"], f["severity"]) for f in findings]


def test_explain_db1_prints_the_budget_per_environment(repo: Path) -> None:
    proc = run_gitops("check", "--explain", "DB-1", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "DB-1 connection budget: production" in proc.stdout
    assert "through the pooler: 220 (limit 280 poolSize)" in proc.stdout
    assert "result: within budget" in proc.stdout


def test_explain_db1_fails_when_the_budget_is_exceeded(repo: Path) -> None:
    config = (repo / "gitops.yaml").read_text().replace("poolSize: 280", "poolSize: 150")
    (repo / "gitops.yaml").write_text(config)
    proc = run_gitops("check", "--explain", "db-1", cwd=repo)
    assert proc.returncode == 1
    assert "through the pooler: 220 (limit 150 poolSize)" in proc.stdout
    assert "error DB-1" in proc.stdout


def test_explain_unknown_rule_and_new_only_without_base_are_usage_errors(repo: Path) -> None:
    assert_one_line_error(run_gitops("check", "--explain", "NOPE-9", cwd=repo), "NOPE-9", "no such rule")
    proc = run_gitops("check", "--new-only", cwd=repo)
    assert proc.returncode == 2 and "--new-only and --base REF go together" in proc.stderr


def test_new_only_reports_what_the_change_introduces(repo: Path) -> None:
    everything = run_gitops("check", "-o", "json", cwd=repo)
    assert _json_findings(everything) == [("SEC-TEST-KEY", "warning")]
    assert _json_findings(run_gitops("check", "--new-only", "--base", "main", "-o", "json", cwd=repo)) == []

    scheduler = repo / "base/sidekiq/scheduler.yaml"
    scheduler.write_text(scheduler.read_text().replace("replicas: 1", "replicas: 2", 1))
    proc = run_gitops("check", "--new-only", "--base", "main", "-o", "json", cwd=repo)
    assert proc.returncode == 1
    rules = {rule for rule, _ in _json_findings(proc)}
    assert "SQ-1" in rules
    assert "SEC-TEST-KEY" not in rules  # present on both sides: not new
    assert _git_status(repo) == " M base/sidekiq/scheduler.yaml"


def test_new_only_with_a_bad_ref_is_one_line(repo: Path) -> None:
    assert_one_line_error(run_gitops("check", "--new-only", "--base", "no-such-ref", cwd=repo), "no-such-ref")


def _git_status(repo: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.rstrip("\n")


def test_a_secret_in_the_shared_config_is_reported_once_per_resource(repo: Path) -> None:
    config = repo / "base/config/kustomization.yaml"
    config.write_text(
        config.read_text().replace("      - TZ=Etc/UTC\n", "      - TZ=Etc/UTC\n      - DB_PASS=hunter2\n", 1)
    )
    proc = run_gitops("check", "-o", "json", cwd=repo)
    assert proc.returncode == 1
    findings = [f for f in json.loads(proc.stdout)["findings"]]
    rules = [f["rule"] for f in findings if f["rule"] != "SEC-TEST-KEY"]
    # one per rendered env ConfigMap (3 layers x 2 environments), from one rule judged on rendered output
    assert rules == ["SEC-SECRET-IN-CONFIG"] * 6
    assert {f["file"] for f in findings if f["rule"] != "SEC-TEST-KEY"} == {"base/config/kustomization.yaml"}
    assert "hunter2" not in proc.stdout + proc.stderr


def test_explain_covers_schema_rules(repo: Path) -> None:
    proc = run_gitops("check", "--explain", "SCHEMA-UNKNOWN-FIELD", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("SCHEMA-UNKNOWN-FIELD (error): Field not in the schema\n")


STREAMING = "base/streaming/deployment.yaml"
DB_PASS_FROM_SECRET = (
    "            - name: DB_PASS\n"
    "              valueFrom:\n"
    "                secretKeyRef:\n"
    "                  name: mastodon-secrets\n"
    "                  key: DB_PASS\n"
)


def test_a_literal_db_pass_is_one_finding_per_rendered_resource_with_pointer_and_line(
    repo: Path, kustomize: Kustomize
) -> None:
    source = repo / STREAMING
    text = source.read_text()
    assert DB_PASS_FROM_SECRET in text
    source.write_text(text.replace(DB_PASS_FROM_SECRET, "            - name: DB_PASS\n              value: hunter2\n"))
    value_line = source.read_text().splitlines().index("              value: hunter2") + 1
    proc = run_gitops("check", "-o", "json", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr
    findings = [f for f in json.loads(proc.stdout)["findings"] if "DB_PASS" in f["message"]]
    # once per environment that renders the Deployment, each one error with a pointer into the rendered object
    apps = {f"clusters/{env}/flux-system/mastodon-apps": f"overlays/{env}/apps" for env in ("production", "staging")}
    assert sorted(f["target"] for f in findings) == sorted(apps)
    rendered = {t: _rendered(kustomize, repo / path) for t, path in apps.items()}
    for finding in findings:
        assert (finding["rule"], finding["severity"]) == ("SEC-SECRET-IN-CONFIG", "error")
        assert (finding["file"], finding["line"]) == (STREAMING, value_line)
        assert finding["resource"]["kind"] == "Deployment"
        body = rendered[finding["target"]][finding["resource"]["name"]]
        tokens = finding["path"].lstrip("/").split("/")
        for token in tokens:
            body = body[int(token)] if isinstance(body, list) else body[token]
        assert body == "hunter2"


def _rendered(kustomize: Kustomize, target: Path) -> dict[str, Any]:
    """Deployments of a target by name, as the real kustomize builds them."""
    documents = yaml.safe_load_all(kustomize.build(target))
    return {d["metadata"]["name"]: d for d in documents if d and d["kind"] == "Deployment"}


def test_a_duplicate_key_in_one_target_leaves_the_others_judged_and_says_what_was_not_checked(repo: Path) -> None:
    # a policy finding in production (IGNORE-2 on every resource of the apps layer) ...
    production = repo / "overlays/production/apps/kustomization.yaml"
    production.write_text(production.read_text() + 'commonAnnotations:\n  gitops/ignore: "XYZ-9: typo"\n')
    # ... and a duplicate key in a file only staging's apps layer reads
    staging_patch = repo / "overlays/staging/apps/patches/streaming.yaml"
    staging_patch.write_text(staging_patch.read_text() + "kind: Deployment\n")
    proc = run_gitops("check", "-o", "json", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["skippedTargets"] == ["clusters/staging/flux-system/mastodon-apps"]
    findings = report["findings"]
    (duplicate,) = [f for f in findings if f["rule"] == "SCHEMA-DUPLICATE-KEY"]
    assert duplicate["file"] == "overlays/staging/apps/patches/streaming.yaml"
    (not_checked,) = [f for f in findings if f["rule"] == "CHECK-NOT-RENDERED"]
    assert not_checked["target"] == "clusters/staging/flux-system/mastodon-apps"
    assert not_checked["severity"] == "error"
    assert "overlays/staging/apps/patches/streaming.yaml" in not_checked["message"]
    assert "policy rules for environment staging" in not_checked["message"]
    ignore_findings = {f["target"] for f in findings if f["rule"] == "IGNORE-2"}
    assert ignore_findings == {"clusters/production/flux-system/mastodon-apps"}
