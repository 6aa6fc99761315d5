"""The shipped Mastodon repository renders into what each environment needs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from gitops.check.schema import SchemaSet
from gitops.config import load_config
from gitops.k8s import iter_containers
from gitops.manifests import Manifest
from gitops.render import render_targets
from gitops.target_selection import discover
from tests.helpers import REPO_ROOT

ENVIRONMENTS = ("staging", "production")
LAYERS = ("shared", "pre-deploy", "apps", "post-deploy")
INFRA_LAYERS = ("infra-controllers", "infra-configs")
TRUST_BUNDLE = "/etc/mastodon/trust/bundle.crt"
MASTODON_IMAGES = ("ghcr.io/mastodon/mastodon", "ghcr.io/mastodon/mastodon-streaming")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Manifest]]:
    """Manifests per environment (all of its overlay targets), with origins."""
    out: dict[str, list[Manifest]] = defaultdict(list)
    for result in render_targets(REPO_ROOT, origins=True):
        parts = result.target.split("/")
        out[parts[1] if parts[0] == "overlays" else result.target].extend(result.manifests)
    return out


def by_kind(manifests: list[Manifest], kind: str) -> dict[str, dict[str, Any]]:
    return {m.identity.name: m.body for m in manifests if m.identity.kind == kind}


def test_targets_are_the_flux_kustomization_paths() -> None:
    expected = [f"clusters/{env}" for env in ENVIRONMENTS[::-1]] + [
        f"overlays/{env}/{layer}" for env in ENVIRONMENTS[::-1] for layer in sorted(LAYERS + INFRA_LAYERS)
    ]
    assert discover(REPO_ROOT) == expected


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_has_every_mastodon_component(rendered: dict[str, list[Manifest]], env: str) -> None:
    manifests = rendered[env]
    deployments = by_kind(manifests, "Deployment")
    assert set(deployments) == {
        "mastodon-web",
        "mastodon-streaming",
        "mastodon-sidekiq-scheduler",
        "mastodon-sidekiq-default",
    }
    scheduler = deployments["mastodon-sidekiq-scheduler"]
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"
    services = by_kind(manifests, "Service")
    assert {name: [p["port"] for p in s["spec"]["ports"]] for name, s in services.items()} == {
        "mastodon-web": [3000],
        "mastodon-streaming": [4000],
    }
    routes = by_kind(manifests, "HTTPRoute")
    backends = {
        match["path"]["value"]: (ref["name"], ref["port"])
        for name in ("mastodon-web", "mastodon-streaming")
        for rule in routes[name]["spec"]["rules"]
        for match in rule["matches"]
        for ref in rule["backendRefs"]
    }
    assert backends == {"/": ("mastodon-web", 3000), "/api/v1/streaming": ("mastodon-streaming", 4000)}
    assert {
        ref["sectionName"]
        for r in routes.values()
        if r["metadata"]["namespace"] == "mastodon"
        for ref in r["spec"]["parentRefs"]
    } == {"https"}
    jobs = by_kind(manifests, "Job")
    assert set(jobs) == {"mastodon-db-migrate-pre-deploy", "mastodon-db-migrate-post-deploy"}
    pre_env = {
        e["name"]: e.get("value")
        for _, c in iter_containers(jobs["mastodon-db-migrate-pre-deploy"])
        for e in c.get("env", [])
    }
    assert pre_env["SKIP_POST_DEPLOYMENT_MIGRATIONS"] == "true"
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert "ttlSecondsAfterFinished" not in job["spec"]
        assert job["spec"]["activeDeadlineSeconds"] > 0 and job["spec"]["backoffLimit"] == 1
        assert job["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/force"] == "enabled"
    assert set(by_kind(manifests, "PodDisruptionBudget")) == {
        "mastodon-web",
        "mastodon-streaming",
        "mastodon-sidekiq-default",
    }
    cronjobs = by_kind(manifests, "CronJob")
    assert set(cronjobs) == {"mastodon-media-remove", "mastodon-preview-cards-remove"}
    assert {c["spec"]["concurrencyPolicy"] for c in cronjobs.values()} == {"Forbid"}


def test_autoscaling_only_in_production(rendered: dict[str, list[Manifest]]) -> None:
    hpas = by_kind(rendered["production"], "HorizontalPodAutoscaler")
    assert {name: h["spec"]["scaleTargetRef"]["name"] for name, h in hpas.items()} == {
        "mastodon-web": "mastodon-web",
        "mastodon-streaming": "mastodon-streaming",
    }
    assert by_kind(rendered["staging"], "HorizontalPodAutoscaler") == {}
    # Under an HPA the Deployment carries no replica count, or Flux would undo every scaling decision.
    for name in hpas:
        assert "replicas" not in by_kind(rendered["production"], "Deployment")[name]["spec"]
    staging = by_kind(rendered["staging"], "Deployment")["mastodon-web"]["spec"]["replicas"]
    assert hpas["mastodon-web"]["spec"]["minReplicas"] > staging


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_image_is_on_the_environments_single_mastodon_tag(rendered: dict[str, list[Manifest]], env: str) -> None:
    images = {c["image"] for m in rendered[env] for _, c in iter_containers(m.body)}
    repos = {image.rsplit(":", 1)[0] for image in images}
    tags = {image.rsplit(":", 1)[1] for image in images if ":" in image.rsplit("/", 1)[-1]}
    assert repos == set(MASTODON_IMAGES)
    assert len(tags) == 1, images
    assert all(":" in image.rsplit("/", 1)[-1] for image in images)


def test_environments_differ_in_version_and_domain(rendered: dict[str, list[Manifest]]) -> None:
    def facts(env: str) -> tuple[str, str]:
        (web,) = [
            m.body for m in rendered[env] if m.identity.name == "mastodon-web" and m.identity.kind == "Deployment"
        ]
        route = by_kind(rendered[env], "HTTPRoute")["mastodon-web"]
        return web["spec"]["template"]["spec"]["containers"][0]["image"], route["spec"]["hostnames"][0]

    assert facts("staging") != facts("production")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_object_is_rendered_by_two_flux_kustomizations(rendered: dict[str, list[Manifest]], env: str) -> None:
    seen: dict[tuple[str, str, str, str], str] = {}
    for manifest in rendered[env]:
        key = manifest.identity.group_kind_key
        assert key not in seen, f"{key} in {seen.get(key)} and {manifest.target}"
        seen[key] = manifest.target


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_manifest_knows_its_source_file(rendered: dict[str, list[Manifest]], env: str) -> None:
    for manifest in rendered[env]:
        assert manifest.origin is not None, manifest.identity
        assert manifest.origin.startswith(("base/", f"overlays/{env}/")), manifest.origin
        assert (REPO_ROOT / manifest.origin).is_file()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_flux_chain_points_at_the_overlay_layers(env: str) -> None:
    (cluster,) = render_targets(REPO_ROOT, [f"clusters/{env}"])
    kustomizations = {
        m.identity.name: m.body["spec"]
        for m in cluster.manifests
        if m.identity.kind == "Kustomization" and m.identity.name.startswith("mastodon-")
    }
    assert {name: spec["path"] for name, spec in kustomizations.items()} == {
        f"mastodon-{layer}": f"./overlays/{env}/{layer}" for layer in LAYERS
    }
    infra = {
        m.identity.name: m.body["spec"]
        for m in cluster.manifests
        if m.identity.kind == "Kustomization" and m.identity.name.startswith("infra-")
    }
    assert {name: spec["path"] for name, spec in infra.items()} == {
        layer: f"./overlays/{env}/{layer}" for layer in INFRA_LAYERS
    }
    depends = {
        name: [d["name"] for d in spec.get("dependsOn", [])] for name, spec in {**infra, **kustomizations}.items()
    }
    # The infrastructure layer (the Gateway the routes attach to) comes first in the apps' dependsOn.
    assert depends == {
        "infra-controllers": [],
        "infra-configs": ["infra-controllers"],
        "mastodon-shared": [],
        "mastodon-pre-deploy": ["mastodon-shared"],
        "mastodon-apps": ["infra-configs", "mastodon-pre-deploy"],
        "mastodon-post-deploy": ["mastodon-apps"],
    }
    assert all(spec["wait"] is True and spec["prune"] is True for spec in infra.values())
    for name, spec in kustomizations.items():
        assert spec["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}, name
        assert spec["prune"] is True
    for layer in ("pre-deploy", "post-deploy"):
        # Force lives on the Jobs (annotation), never on the whole Kustomization.
        assert "force" not in kustomizations[f"mastodon-{layer}"]
        assert kustomizations[f"mastodon-{layer}"]["wait"] is True


def _pods(manifests: list[Manifest]) -> list[tuple[Manifest, dict[str, Any]]]:
    out = []
    for m in manifests:
        spec = m.body.get("spec") or {}
        if m.identity.kind == "CronJob":
            spec = spec["jobTemplate"]["spec"]
        if m.identity.kind in ("Deployment", "Job", "CronJob"):
            out.append((m, spec["template"]["spec"]))
    return out


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value") for e in container.get("env") or []}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_rails_process_trusts_the_private_ca_through_a_bundle(
    rendered: dict[str, list[Manifest]], env: str
) -> None:
    rails = 0
    for manifest, pod in _pods(rendered[env]):
        main = pod["containers"][0]
        if manifest.identity.name == "mastodon-streaming":
            # Node adds the CA to its own roots; no OpenSSL bundle.
            assert _env(main)["NODE_EXTRA_CA_CERTS"] == "/etc/mastodon/ca/ca.crt"
            assert "SSL_CERT_FILE" not in _env(main)
            continue
        rails += 1
        assert _env(main)["SSL_CERT_FILE"] == TRUST_BUNDLE, manifest.identity
        (init,) = pod["initContainers"]
        # System roots first, then the CA, into the emptyDir the main container reads.
        assert "/etc/ssl/certs/ca-certificates.crt /etc/mastodon/ca/ca.crt > " + TRUST_BUNDLE in init["command"][-1]
        assert init["image"] == main["image"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert "emptyDir" in volumes["trust-bundle"]
        mounts = {m["name"]: m for m in main["volumeMounts"]}
        assert mounts["trust-bundle"] == {"name": "trust-bundle", "mountPath": "/etc/mastodon/trust", "readOnly": True}
    # web, 2 Sidekiq, 2 migration Jobs, 2 CronJobs
    assert rails == 7


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cronjobs_carry_the_migration_jobs_tls_settings(rendered: dict[str, list[Manifest]], env: str) -> None:
    pods = {m.identity.name: pod for m, pod in _pods(rendered[env])}
    job = pods["mastodon-db-migrate-post-deploy"]
    tls = ("PGSSLROOTCERT", "SSL_CERT_FILE")

    def tls_setup(pod: dict[str, Any]) -> tuple[Any, ...]:
        main = pod["containers"][0]
        return (
            {k: _env(main).get(k) for k in tls},
            sorted((m["name"], m["mountPath"]) for m in main["volumeMounts"]),
            sorted(str(v) for v in pod["volumes"]),
            [c["command"] for c in pod["initContainers"]],
        )

    for name in ("mastodon-media-remove", "mastodon-preview-cards-remove"):
        assert tls_setup(pods[name]) == tls_setup(job), name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_database_tls_verifies_the_host_everywhere(rendered: dict[str, list[Manifest]], env: str) -> None:
    config = [m.body["data"] for m in rendered[env] if m.identity.name.startswith("mastodon-env-")]
    assert config and {c["DB_SSLMODE"] for c in config} == {"verify-full"}
    streaming = by_kind(rendered[env], "Deployment")["mastodon-streaming"]
    assert _env(streaming["spec"]["template"]["spec"]["containers"][0])["DB_SSLMODE"] == "verify-full"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_infrastructure_serves_the_routes(rendered: dict[str, list[Manifest]], env: str) -> None:
    gateways = by_kind(rendered[env], "Gateway")
    (gateway,) = gateways.values()
    https = next(listener for listener in gateway["spec"]["listeners"] if listener["name"] == "https")
    route = by_kind(rendered[env], "HTTPRoute")["mastodon-web"]
    assert https["hostname"] == route["spec"]["hostnames"][0]
    assert https["tls"]["certificateRefs"] == [{"name": "mastodon-tls"}]
    assert gateway["metadata"]["annotations"]["cert-manager.io/cluster-issuer"] in by_kind(
        rendered[env], "ClusterIssuer"
    )
    assert set(by_kind(rendered[env], "HelmRelease")) == {"envoy-gateway", "cert-manager"}
    (policy,) = by_kind(rendered[env], "BackendTrafficPolicy").values()
    assert policy["spec"]["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "mastodon-web"}
    ]


CRD_KINDS = ("HelmRelease", "OCIRepository", "HTTPRoute", "Gateway", "GatewayClass", "ClusterIssuer")


@pytest.mark.parametrize("kind", CRD_KINDS)
def test_infrastructure_and_route_objects_validate_against_their_schemas(
    rendered: dict[str, list[Manifest]], kind: str
) -> None:
    schemas = SchemaSet.load(load_config(REPO_ROOT).kubernetes_version)
    objects = [m for env in ENVIRONMENTS for m in rendered[env] if m.identity.kind == kind]
    assert objects, kind
    validator = schemas.validator(objects[0].identity.api_version, kind)
    assert validator is not None, kind
    for manifest in objects:
        assert validator.violations(manifest.body) == [], manifest.identity
