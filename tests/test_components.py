"""The optional components (metrics, first install with the Owner account, full-text search) render and pass check
when both environments enable them, the way the README says to."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gitops.check.schema import SchemaSet
from gitops.config import load_config
from gitops.manifests import Manifest
from gitops.render import render_targets
from tests.helpers import REPO_ROOT, run_gitops

SHIPPED = ("base", "overlays", "clusters", "gitops.yaml", ".sops.yaml")
ENVIRONMENTS = ("production", "staging")
TRUST_BUNDLE = "/etc/mastodon/trust/bundle.crt"

# README, "Full-text search": the index layer of an environment and its Flux Kustomization.
SEARCH_OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../../base/search/deploy
components:
  - ../env
"""
SEARCH_FLUX = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: mastodon-search
  namespace: flux-system
spec:
  dependsOn:
    - name: mastodon-post-deploy
  interval: 1h
  retryInterval: 2m
  timeout: 4h
  path: ./overlays/{env}/search
  prune: true
  wait: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  decryption:
    provider: sops
    secretRef:
      name: sops-age
"""
SEARCH_ENDPOINT = "      - ES_HOST=https://search-{env}.example.net\n      - ES_PORT=25060\n      - ES_USER=doadmin\n"


def _enable(kustomization: Path, component: str) -> None:
    text = kustomization.read_text(encoding="utf-8")
    assert "  - ../env\n" in text
    # Before ../env: the environment's `images:` must also tag the containers a component adds.
    kustomization.write_text(text.replace("  - ../env\n", f"  - {component}\n  - ../env\n"), encoding="utf-8")


def _enable_search(root: Path, env: str) -> None:
    _enable(root / f"overlays/{env}/apps/kustomization.yaml", "../../../base/search/config")
    settings = root / f"overlays/{env}/env/kustomization.yaml"
    text = settings.read_text(encoding="utf-8")
    anchor = "  - name: mastodon-env\n    behavior: merge\n    literals:\n"
    assert anchor in text
    settings.write_text(text.replace(anchor, anchor + SEARCH_ENDPOINT.format(env=env)), encoding="utf-8")
    (root / f"overlays/{env}/search").mkdir()
    (root / f"overlays/{env}/search/kustomization.yaml").write_text(SEARCH_OVERLAY, encoding="utf-8")
    (root / f"clusters/{env}/search.yaml").write_text(SEARCH_FLUX.format(env=env), encoding="utf-8")
    cluster = root / f"clusters/{env}/kustomization.yaml"
    cluster.write_text(cluster.read_text(encoding="utf-8") + "  - search.yaml\n", encoding="utf-8")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped repository with every optional component enabled in both environments."""
    root = tmp_path_factory.mktemp("components") / "repo"
    root.mkdir()
    for name in SHIPPED:
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, root / name)
    for env in ENVIRONMENTS:
        _enable(root / f"overlays/{env}/apps/kustomization.yaml", "../../../base/metrics")
        _enable(root / f"overlays/{env}/pre-deploy/kustomization.yaml", "../../../base/migrations/first-install")
        _enable(root / f"overlays/{env}/post-deploy/kustomization.yaml", "../../../base/migrations/first-install-admin")
        _enable_search(root, env)
    return root


def _rendered(repo: Path, target: str) -> list[Manifest]:
    (result,) = render_targets(repo, [target])
    return result.manifests


def _jobs(manifests: list[Manifest]) -> list[dict[str, Any]]:
    return [m.body for m in manifests if m.identity.kind == "Job"]


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


def _config(manifests: list[Manifest]) -> dict[str, str]:
    (config,) = [m.body for m in manifests if m.identity.name.startswith("mastodon-env-")]
    return dict(config["data"])


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_first_install_prepares_the_database_in_the_pre_deploy_job(repo: Path, env: str) -> None:
    (job,) = _jobs(_rendered(repo, f"overlays/{env}/pre-deploy"))
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["bundle", "exec", "rails", "db:prepare"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_owner_account_is_created_after_the_post_deploy_migration(repo: Path, env: str) -> None:
    (job,) = _jobs(_rendered(repo, f"overlays/{env}/post-deploy"))
    shell, flag, script = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert (shell, flag) == ("sh", "-c")
    migrate = script.index("bundle exec rails db:migrate")
    create = script.index('bin/tootctl accounts create "$MASTODON_OWNER_USERNAME" --email "$MASTODON_OWNER_EMAIL"')
    assert migrate < create
    assert script.endswith("--confirmed --role Owner > /dev/null")  # the generated password stays out of the log
    # A missing key stops the shell before anything runs.
    assert script.startswith(': "${MASTODON_OWNER_USERNAME:?') and '"${MASTODON_OWNER_EMAIL:?' in script


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_search_settings_reach_every_rails_process_with_the_trust_bundle(repo: Path, env: str) -> None:
    manifests = _rendered(repo, f"overlays/{env}/apps")
    config = _config(manifests)
    assert config["ES_ENABLED"] == "true"
    assert config["ES_HOST"] == f"https://search-{env}.example.net"  # the environment's value wins
    assert config["ES_CA_FILE"] == TRUST_BUNDLE
    deployments = [
        m.body
        for m in manifests
        if m.identity.kind == "Deployment" and m.body["metadata"].get("labels", {}).get("mastodon/runtime") == "rails"
    ]
    assert {d["metadata"]["name"] for d in deployments} >= {"mastodon-web", "mastodon-sidekiq-default"}
    for deployment in deployments:
        main = deployment["spec"]["template"]["spec"]["containers"][0]
        assert _env(main)["SSL_CERT_FILE"] == TRUST_BUNDLE


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_search_deploy_job_runs_tootctl_with_the_same_tls_as_the_migrations(repo: Path, env: str) -> None:
    manifests = _rendered(repo, f"overlays/{env}/search")
    (job,) = _jobs(manifests)
    (migration,) = _jobs(_rendered(repo, f"overlays/{env}/post-deploy"))
    assert job["metadata"]["name"] == "mastodon-deploy-search"
    assert job["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled"
    assert job["spec"]["backoffLimit"] == 1 and job["spec"]["activeDeadlineSeconds"] > 0
    assert "ttlSecondsAfterFinished" not in job["spec"]
    pod, migration_pod = job["spec"]["template"]["spec"], migration["spec"]["template"]["spec"]
    (main,) = pod["containers"]
    assert main["command"] == ["bin/tootctl", "search", "deploy"]
    assert main["image"] == migration_pod["containers"][0]["image"]
    assert _env(main) == _env(migration_pod["containers"][0])  # PGSSLROOTCERT and SSL_CERT_FILE
    assert pod["initContainers"] == migration_pod["initContainers"]  # the trust bundle
    assert pod["volumes"] == migration_pod["volumes"]
    config = _config(manifests)
    assert config["ES_HOST"] == f"https://search-{env}.example.net"
    assert config["ES_CA_FILE"] == TRUST_BUNDLE
    reads = [ref["configMapRef"]["name"] for ref in main["envFrom"] if "configMapRef" in ref]
    assert reads == [next(m.identity.name for m in manifests if m.identity.name.startswith("mastodon-env-"))]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_search_layer_runs_after_post_deploy_in_the_flux_chain(repo: Path, env: str) -> None:
    flux = {m.identity.name: m.body for m in _rendered(repo, f"clusters/{env}") if m.identity.kind == "Kustomization"}
    assert flux["mastodon-search"]["spec"]["dependsOn"] == [{"name": "mastodon-post-deploy"}]
    assert flux["mastodon-search"]["spec"]["path"] == f"./overlays/{env}/search"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_metrics_expose_web_sidekiq_and_streaming(repo: Path, env: str) -> None:
    manifests = _rendered(repo, f"overlays/{env}/apps")
    deployments = {m.identity.name: m.body for m in manifests if m.identity.kind == "Deployment"}
    web = deployments["mastodon-web"]["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in web] == ["web", "prometheus-exporter"]
    assert _env(web[0])["MASTODON_PROMETHEUS_EXPORTER_ENABLED"] == "true"
    # prometheus_exporter's CLI (-b/--bind, -p/--port); Puma's workers send to PROMETHEUS_EXPORTER_HOST:PORT.
    assert web[1]["command"][-4:] == ["--bind", "0.0.0.0", "--port", "9394"]
    assert _env(web[0])["PROMETHEUS_EXPORTER_HOST"] == "127.0.0.1"
    for name in ("mastodon-sidekiq-default", "mastodon-sidekiq-scheduler"):
        (sidekiq,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        env_vars = _env(sidekiq)
        assert env_vars["MASTODON_PROMETHEUS_EXPORTER_LOCAL"] == "true"
        assert env_vars["MASTODON_PROMETHEUS_EXPORTER_HOST"] == "0.0.0.0"
        assert sidekiq["ports"] == [{"name": "metrics", "containerPort": 9394, "protocol": "TCP"}]
    (monitor,) = [m.body for m in manifests if m.identity.kind == "ServiceMonitor"]
    services = [m.body for m in manifests if m.identity.kind == "Service"]
    selected = [s for s in services if s["metadata"]["labels"].get("mastodon/metrics") == "true"]
    assert {s["metadata"]["name"] for s in selected} == {"mastodon-metrics", "mastodon-streaming"}
    ports = {p["name"] for s in selected for p in s["spec"]["ports"]}
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == ports == {"metrics", "streaming"}


def test_check_finds_no_errors_with_the_components_enabled(repo: Path) -> None:
    proc = run_gitops("check", "-o", "json", cwd=repo)
    findings = json.loads(proc.stdout)["findings"]
    # As on the shipped repository: only the published test key's warning.
    assert [f for f in findings if f["rule"] != "SEC-TEST-KEY"] == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_new_objects_validate_against_their_schemas(repo: Path, env: str) -> None:
    schemas = SchemaSet.load(load_config(REPO_ROOT).kubernetes_version)
    checked = []
    targets = (f"overlays/{env}/apps", f"overlays/{env}/search", f"overlays/{env}/infra-configs")
    for target in targets:
        for manifest in _rendered(repo, target):
            kind = manifest.identity.kind
            if kind not in ("ServiceMonitor", "Job", "EnvoyProxy", "ClientTrafficPolicy", "GatewayClass"):
                continue
            validator = schemas.validator(manifest.identity.api_version, kind)
            assert validator is not None, kind
            assert validator.violations(manifest.body) == [], (kind, manifest.identity.name)
            checked.append(kind)
    assert set(checked) == {"ServiceMonitor", "Job", "EnvoyProxy", "ClientTrafficPolicy", "GatewayClass"}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_layer_keeps_its_previous_configuration_generations(repo: Path, env: str) -> None:
    # kustomize-controller prunes right after applying, before the rollout finishes: generated configuration must
    # opt out of pruning, and carry the label the README's cleanup selects on.
    for layer in ("apps", "pre-deploy", "post-deploy", "search"):
        manifests = _rendered(repo, f"overlays/{env}/{layer}")
        generated = [m.body for m in manifests if m.identity.name.startswith(("mastodon-env-", "mastodon-db-direct-"))]
        assert len(generated) == 2, layer
        for config in generated:
            assert config["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
            assert config["metadata"]["labels"]["mastodon/config-generation"] == "true"
