"""The policy pack's library surface: DB-1 arithmetic and explain, env resolution, --new-only matching, config
validation, generated docs, and the shipped repository (rendered with the real kustomize)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.check.docs import DOCS_FILE, render_docs
from gitops.check.findings import Finding, Severity
from gitops.errors import GitopsError
from gitops.manifests import Identity, Manifest, identity_of
from gitops.policy.api import explain, new_findings, run_policy, validate_config
from gitops.policy.env import resolve_env
from gitops.render import render_targets
from tests.helpers import REPO_ROOT
from tests.policy.test_rules import CONFIG, check, container, fresh, set_env


def _config(**postgres: int) -> dict[str, Any]:
    return {"environments": {"production": {"postgres": postgres}}}


# ---- DB-1 --------------------------------------------------------------------------------------------------


def test_budget_within_declared_limits_passes() -> None:
    assert check(fresh(), "DB-1") == []


def test_budget_over_pool_size_fails_with_the_numbers() -> None:
    (finding,) = check(fresh(), "DB-1", _config(poolSize=200, maxConnections=397))
    assert finding.severity is Severity.ERROR
    # web 105 + sidekiq 55 + streaming 50 + two retention CronJobs x 5
    assert finding.message.startswith("220 connections through the pooler exceed poolSize 200")
    assert finding.identity is not None and finding.identity.name == "mastodon-web"


def test_budget_over_server_limit_counts_direct_migration_connections() -> None:
    # pool backends min(220, 280) + 10 direct = 230 > 240 - 20 reserved
    (finding,) = check(fresh(), "DB-1", _config(poolSize=280, maxConnections=240, reservedConnections=20))
    assert finding.message.startswith("230 pool backends + direct connections exceed maxConnections 240 - reserved 20")
    assert check(fresh(), "DB-1", _config(poolSize=280, maxConnections=240)) == []


def test_budget_counts_replica_pools_twice() -> None:
    targets = fresh()
    set_env(container(targets, "mastodon-web"), "REPLICA_DB_HOST", "replica.internal")
    (finding,) = check(targets, "DB-1", _config(poolSize=300, maxConnections=397))
    assert finding.message.startswith("325 connections through the pooler exceed poolSize 300")  # web 105 -> 210


def test_budget_db_pool_overrides_thread_counts() -> None:
    targets = fresh()
    set_env(container(targets, "mastodon-streaming"), "DB_POOL", "3")  # streaming 5 pods x 3 instead of x 10
    assert check(targets, "DB-1", _config(poolSize=185)) == []
    assert check(targets, "DB-1", _config(poolSize=184)) != []


def test_budget_without_declared_limit_is_a_warning() -> None:
    (finding,) = check(fresh(), "DB-1", {})
    assert finding.severity is Severity.WARNING
    assert "no limit is declared in gitops.yaml environments.production.postgres" in finding.message


def test_explain_db1_shows_the_arithmetic() -> None:
    text = explain("db-1", None, fresh(), CONFIG)
    assert text.startswith("DB-1 (error): Peak Postgres connections fit")
    rows = {
        line.split()[0]: line.split()
        for line in text.splitlines()
        if line.strip().startswith(("Deployment/", "CronJob/"))
    }
    # workload, pods, (source...), surge, procs, ..., conns, endpoint
    assert rows["Deployment/mastodon-web"][-2:] == ["105", "pooler"]
    assert rows["Deployment/mastodon-streaming"][-2:] == ["50", "pooler"]
    assert rows["Deployment/mastodon-sidekiq-default"][-2:] == ["50", "pooler"]
    assert rows["CronJob/mastodon-media-remove"][-2:] == ["5", "pooler"]
    assert "through the pooler: 220 (limit 280 poolSize)" in text
    assert "server backends:    230 (limit 397 maxConnections - 20 reserved = 377)" in text
    assert text.rstrip().endswith("result: within budget")


def test_explain_other_rules_and_unknown_rules() -> None:
    assert explain("SQ-1").startswith("SQ-1 (error): Exactly one Sidekiq process serves the scheduler queue")
    with pytest.raises(GitopsError, match="--explain NOPE-1: no such rule"):
        explain("NOPE-1")


# ---- env resolution ----------------------------------------------------------------------------------------


def _manifest(body: dict[str, Any]) -> Manifest:
    return Manifest(identity_of(body), body, "t")


def test_env_resolves_like_the_kubelet() -> None:
    first = _manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"X": "1", "Y": "1"}}
    )
    second = _manifest({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"X": "2"}})
    secret = _manifest({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"P": "aHVudGVyMg=="}})
    objects = {("ConfigMap", "a"): first, ("ConfigMap", "b"): second, ("Secret", "s"): secret}
    workload = _manifest({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    body = {
        "envFrom": [
            {"configMapRef": {"name": "a"}},
            {"configMapRef": {"name": "b"}},
            {"secretRef": {"name": "s"}, "prefix": "S_"},
            {"secretRef": {"name": "missing"}},
        ],
        "env": [
            {"name": "Y", "value": "3"},
            {"name": "Z", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}},
        ],
    }
    env = resolve_env(body, workload, "/spec/containers/0", lambda kind, name: objects.get((kind, name)))
    assert env.value("X") == "2"  # later envFrom source wins
    assert env.value("Y") == "3"  # env overrides envFrom
    assert env.value("S_P") == "hunter2"  # plain Secret data is readable, prefixed
    assert env.get("Y") is not None and env.get("Y").pointer == "/spec/containers/0/env/0/value"  # type: ignore[union-attr]
    z = env.get("Z")
    assert z is not None and z.value is None and z.source == "secret"  # present, value unknown
    assert env.open_sources == [("Secret", "missing")]
    assert env.may_have("ANYTHING") and not env.has("ANYTHING")


# ---- --new-only -----------------------------------------------------------------------------------------------


def _finding(rule: str, name: str, message: str, path: str = "") -> Finding:
    return Finding(
        rule,
        Severity.ERROR,
        message,
        Identity("v1", "ConfigMap", "mastodon", name),
        "overlays/x/apps",
        path,
        "f.yaml",
        3,
    )


def test_new_findings_ignore_hash_suffixes_files_and_lines_but_count_duplicates() -> None:
    base = [_finding("SEC-1", "mastodon-env-425m7h8278", "DB_PASS is secret-class", "/data/DB_PASS")]
    moved = Finding(**{**base[0].__dict__, "file": "other.yaml", "line": 9})
    renamed = _finding("SEC-1", "mastodon-env-b7fg29bc8m", "DB_PASS is secret-class", "/data/DB_PASS")
    fresh_one = _finding("SEC-1", "mastodon-env-b7fg29bc8m", "SMTP_PASSWORD is secret-class", "/data/SMTP_PASSWORD")
    assert new_findings(base, [moved]) == []
    assert new_findings(base, [renamed, fresh_one]) == [fresh_one]
    assert new_findings(base, [renamed, renamed]) == [renamed]


def test_new_only_end_to_end_on_fixtures() -> None:
    base = fresh()
    head = copy.deepcopy(base)
    # (SEC-1 was retired into the secret gate's SEC-SECRET-IN-CONFIG; GEN-1 is a policy rule)
    container(head, "mastodon-web")["resources"]["requests"].pop("cpu")
    before = run_policy(None, base, CONFIG)
    after = run_policy(None, head, CONFIG)
    assert [f.rule for f in new_findings(before, after)] == ["GEN-1"]


# ---- config, docs ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "needle"),
    [
        ({"environments": {"production": {"postgres": {"maxConnections": 0}}}}, "maxConnections"),
        ({"environments": {"production": {"postgres": {"maxConections": 10}}}}, "maxConections"),
        ({"environments": {"production": {"postgres": {}}}}, "postgres"),
        ({"environments": {"Prod!": {}}}, "environments"),
        ({"environments": {"production": {"network": {"clusterCIDRs": ["10.0.0.0"]}}}}, "clusterCIDRs"),
    ],
)
def test_invalid_policy_config_is_one_clear_error(config: dict[str, Any], needle: str) -> None:
    with pytest.raises(GitopsError) as raised:
        validate_config(config)
    message = str(raised.value)
    assert message.startswith("gitops.yaml: ") and needle in message and "\n" not in message


def test_shipped_config_is_valid() -> None:
    validate_config(yaml.safe_load((REPO_ROOT / "gitops.yaml").read_text(encoding="utf-8")))


def test_docs_are_generated_from_the_registry() -> None:
    assert (REPO_ROOT / DOCS_FILE).read_text(encoding="utf-8") == render_docs(), (
        "docs/rules.md is stale: run `python -m gitops.check.docs`"
    )


# ---- the shipped repository (real kustomize) -------------------------------------------------------------------


@pytest.mark.kustomize
def test_shipped_repository_has_no_policy_findings() -> None:
    config = yaml.safe_load((REPO_ROOT / "gitops.yaml").read_text(encoding="utf-8"))
    findings = run_policy(REPO_ROOT, render_targets(REPO_ROOT, origins=True), config)
    assert [f for f in findings if f.is_error] == []
    assert findings == [], [f"{f.rule} {f.identity} {f.message}" for f in findings]


@pytest.mark.kustomize
def test_findings_name_the_source_file_of_the_resource(tmp_path: Path) -> None:
    for part in ("base", "overlays", "clusters", "gitops.yaml"):
        source = REPO_ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, tmp_path / part)
    patch = tmp_path / "overlays/production/apps/patches/sidekiq-scheduler.yaml"
    patch.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: mastodon-sidekiq-scheduler\nspec:\n  replicas: 2\n",
        encoding="utf-8",
    )
    kustomization = tmp_path / "overlays/production/apps/kustomization.yaml"
    kustomization.write_text(
        kustomization.read_text(encoding="utf-8").replace(
            "  - path: patches/web.yaml\n", "  - path: patches/web.yaml\n  - path: patches/sidekiq-scheduler.yaml\n"
        ),
        encoding="utf-8",
    )
    config = yaml.safe_load((tmp_path / "gitops.yaml").read_text(encoding="utf-8"))
    rendered = render_targets(tmp_path, ["overlays/production/apps"], origins=True)
    findings = [f for f in run_policy(tmp_path, rendered, config, rule_ids=["SQ-1"])]
    assert [(f.rule, f.target, f.file, f.path) for f in findings] == [
        ("SQ-1", "overlays/production/apps", "base/sidekiq/scheduler.yaml", "/spec/replicas")
    ]
