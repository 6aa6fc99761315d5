"""The shipped Mastodon repository renders into what each environment needs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest

from gitops.k8s import iter_containers
from gitops.manifests import Manifest
from gitops.render import render_targets
from gitops.targets import discover
from tests.helpers import REPO_ROOT

ENVIRONMENTS = ("staging", "production")
LAYERS = ("shared", "pre-deploy", "apps", "post-deploy")
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
        f"overlays/{env}/{layer}" for env in ENVIRONMENTS[::-1] for layer in sorted(LAYERS)
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
    (ingress,) = by_kind(manifests, "Ingress").values()
    backends = {
        path["path"]: (path["backend"]["service"]["name"], path["backend"]["service"]["port"])
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends["/"][0] == "mastodon-web"
    assert backends["/api/v1/streaming"][0] == "mastodon-streaming"
    assert ingress["spec"]["tls"]
    jobs = by_kind(manifests, "Job")
    assert set(jobs) == {"mastodon-db-migrate-pre-deploy", "mastodon-db-migrate-post-deploy"}
    pre_env = {
        e["name"]: e.get("value") for _, c in iter_containers(jobs["mastodon-db-migrate-pre-deploy"]) for e in c["env"]
    }
    assert pre_env["SKIP_POST_DEPLOYMENT_MIGRATIONS"] == "true"
    for job in jobs.values():
        assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
        assert "ttlSecondsAfterFinished" not in job["spec"]
    assert set(by_kind(manifests, "PodDisruptionBudget")) == {"mastodon-web", "mastodon-streaming"}


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
        (ingress,) = by_kind(rendered[env], "Ingress").values()
        return web["spec"]["template"]["spec"]["containers"][0]["image"], ingress["spec"]["rules"][0]["host"]

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
    depends = {name: [d["name"] for d in spec.get("dependsOn", [])] for name, spec in kustomizations.items()}
    assert depends == {
        "mastodon-shared": [],
        "mastodon-pre-deploy": ["mastodon-shared"],
        "mastodon-apps": ["mastodon-pre-deploy"],
        "mastodon-post-deploy": ["mastodon-apps"],
    }
    for name, spec in kustomizations.items():
        assert spec["decryption"] == {"provider": "sops", "secretRef": {"name": "sops-age"}}, name
        assert spec["prune"] is True
    for layer in ("pre-deploy", "post-deploy"):
        assert kustomizations[f"mastodon-{layer}"]["force"] is True
        assert kustomizations[f"mastodon-{layer}"]["wait"] is True
