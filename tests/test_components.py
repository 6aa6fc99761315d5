"""The optional components (metrics, first install) render and pass check when an environment enables them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gitops.check.schema import SchemaSet
from gitops.config import load_config
from gitops.manifests import Manifest
from gitops.render import render_targets
from tests.helpers import REPO_ROOT, run_gitops

SHIPPED = ("base", "overlays", "clusters", "gitops.yaml", ".sops.yaml")


def _enable(kustomization: Path, component: str) -> None:
    text = kustomization.read_text(encoding="utf-8")
    assert "  - ../env\n" in text
    # Before ../env: the environment's `images:` must also tag the containers a component adds.
    kustomization.write_text(text.replace("  - ../env\n", f"  - {component}\n  - ../env\n"), encoding="utf-8")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped repository with metrics and first-install enabled in production."""
    root = tmp_path_factory.mktemp("components") / "repo"
    root.mkdir()
    for name in SHIPPED:
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, root / name)
    _enable(root / "overlays/production/apps/kustomization.yaml", "../../../base/metrics")
    _enable(root / "overlays/production/pre-deploy/kustomization.yaml", "../../../base/migrations/first-install")
    return root


def _rendered(repo: Path, target: str) -> list[Manifest]:
    (result,) = render_targets(repo, [target])
    return result.manifests


def test_first_install_prepares_the_database_in_the_pre_deploy_job(repo: Path) -> None:
    (job,) = [m.body for m in _rendered(repo, "overlays/production/pre-deploy") if m.identity.kind == "Job"]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["bundle", "exec", "rails", "db:prepare"]


def test_metrics_expose_web_sidekiq_and_streaming(repo: Path) -> None:
    manifests = _rendered(repo, "overlays/production/apps")
    deployments = {m.identity.name: m.body for m in manifests if m.identity.kind == "Deployment"}
    web = deployments["mastodon-web"]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in web] == ["web", "prometheus-exporter"]
    assert {"name": "MASTODON_PROMETHEUS_EXPORTER_ENABLED", "value": "true"} in web[0]["env"]
    for name in ("mastodon-sidekiq-default", "mastodon-sidekiq-scheduler"):
        (sidekiq,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e.get("value") for e in sidekiq["env"]}
        assert env["MASTODON_PROMETHEUS_EXPORTER_LOCAL"] == "true"
        assert env["MASTODON_PROMETHEUS_EXPORTER_HOST"] == "0.0.0.0"
        assert sidekiq["ports"] == [{"name": "metrics", "containerPort": 9394, "protocol": "TCP"}]
    (monitor,) = [m.body for m in manifests if m.identity.kind == "ServiceMonitor"]
    services = [m.body for m in manifests if m.identity.kind == "Service"]
    selected = [s for s in services if s["metadata"]["labels"].get("mastodon/metrics") == "true"]
    assert {s["metadata"]["name"] for s in selected} == {"mastodon-metrics", "mastodon-streaming"}
    ports = {p["name"] for s in selected for p in s["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"metrics", "streaming"}


def test_check_finds_no_errors_with_the_components_enabled(repo: Path) -> None:
    proc = run_gitops("check", "-o", "json", cwd=repo)
    errors = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert errors == [], errors


def test_service_monitor_validates_against_its_schema(repo: Path) -> None:
    (monitor,) = [m for m in _rendered(repo, "overlays/production/apps") if m.identity.kind == "ServiceMonitor"]
    schemas = SchemaSet.load(load_config(REPO_ROOT).kubernetes_version)
    validator = schemas.validator(monitor.identity.api_version, "ServiceMonitor")
    assert validator is not None
    assert validator.violations(monitor.body) == []
