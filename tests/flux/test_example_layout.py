"""A repository laid out like fluxcd/flux2-kustomize-helm-example: two bootstrapped clusters sharing
infrastructure/ and apps/base, with per-cluster app overlays and HelmReleases. Expected targets and objects
follow from the Flux docs: bootstrap's flux-system Kustomization syncs ./clusters/<name>; every object gets
the kustomize.toolkit.fluxcd.io/name and /namespace owner labels of the Kustomization that applies it."""

from __future__ import annotations

import pytest

from gitops.errors import GitopsError
from gitops.flux.clusters import find_clusters
from gitops.flux.graph import render_flux
from gitops.flux.model import FluxRender, select_targets
from gitops.kustomize import Kustomize
from tests.flux.helpers import fixture, kinds_and_names, obj, target

EXAMPLE = fixture("example")


@pytest.fixture(scope="module")
def example(kustomize: Kustomize) -> FluxRender:
    result = render_flux(EXAMPLE, kustomize=kustomize)
    assert result is not None
    return result


def test_clusters_are_found_without_configuration() -> None:
    assert find_clusters(EXAMPLE.resolve()) == ["clusters/production", "clusters/staging"]


def test_targets_of_both_clusters(example: FluxRender) -> None:
    result = example
    assert [t.name for t in result.targets] == [
        f"clusters/{cluster}/flux-system/{name}"
        for cluster in ("production", "staging")
        for name in ("apps", "flux-system", "infra-configs", "infra-controllers")
    ]
    assert result.warnings == []
    apps = target(result, "clusters/staging/flux-system/apps")
    assert apps.path == "apps/staging"
    assert apps.parent == "clusters/staging/flux-system/flux-system"
    assert apps.kustomization.depends_on == ("flux-system/infra-configs",)
    assert target(result, "clusters/production/flux-system/infra-configs").path == "infrastructure/configs"


def test_entry_target_is_the_bootstrap_kustomization(example: FluxRender) -> None:
    result = example
    entry = target(result, "clusters/staging/flux-system/flux-system")
    assert entry.path == "clusters/staging" and entry.parent is None
    # clusters/staging has no kustomization file: Flux lists flux-system/ (it has one) and the two YAML files.
    assert kinds_and_names(entry) == {
        ("GitRepository", "flux-system", "flux-system"),
        ("Kustomization", "flux-system", "flux-system"),
        ("Kustomization", "flux-system", "infra-controllers"),
        ("Kustomization", "flux-system", "infra-configs"),
        ("Kustomization", "flux-system", "apps"),
    }


def test_shared_base_renders_per_cluster_values(example: FluxRender) -> None:
    result = example
    for cluster, version in (("staging", ">=1.0.0-alpha"), ("production", ">=1.0.0")):
        release = obj(target(result, f"clusters/{cluster}/flux-system/apps"), "HelmRelease", "podinfo")
        assert release["metadata"]["namespace"] == "podinfo"
        assert release["spec"]["chart"]["spec"]["version"] == version
        assert release["spec"]["values"]["ingress"]["hosts"] == [{"host": f"podinfo.{cluster}"}]
        assert release["metadata"]["labels"] == {
            "kustomize.toolkit.fluxcd.io/name": "apps",
            "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
        }


def test_generated_kustomization_lists_the_yaml_files(example: FluxRender) -> None:
    result = example
    configs = target(result, "clusters/staging/flux-system/infra-configs")
    assert kinds_and_names(configs) == {("ClusterIssuer", None, "letsencrypt")}


def test_explicit_cluster_limits_the_render(kustomize: Kustomize) -> None:
    result = render_flux(EXAMPLE, ["./clusters/staging/"], kustomize=kustomize)
    assert result is not None
    assert result.clusters == ["clusters/staging"]
    assert {t.cluster for t in result.targets} == {"clusters/staging"}


def test_explicit_cluster_must_exist(kustomize: Kustomize) -> None:
    with pytest.raises(GitopsError, match="cluster entry path 'clusters/nowhere' is not a directory"):
        render_flux(EXAMPLE, ["clusters/nowhere"], kustomize=kustomize)


def test_selection(example: FluxRender) -> None:
    result = example
    full = "clusters/staging/flux-system/apps"
    assert [t.name for t in select_targets(result.targets, [full])] == [full]
    with pytest.raises(
        GitopsError, match="'apps' is ambiguous: clusters/production/flux-system/apps, clusters/staging"
    ):
        select_targets(result.targets, ["apps"])
    with pytest.raises(GitopsError, match="'flux-system/apps' is ambiguous"):
        select_targets(result.targets, ["flux-system/apps"])
    with pytest.raises(GitopsError, match="no Flux Kustomization target matches 'nope'"):
        select_targets(result.targets, ["nope"])
    only_staging = [t for t in result.targets if t.cluster == "clusters/staging"]
    assert [t.name for t in select_targets(only_staging, ["flux-system/apps"])] == [full]
    assert [t.name for t in select_targets(only_staging, ["apps"])] == [full]
