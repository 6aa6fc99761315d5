"""Discovery of clusters and targets: a Flux Operator layout (the sync objects live outside the repository,
a FluxInstance names spec.sync.path), Kustomizations nested three deep, sources other than the repository,
cycles, and the plain-kustomize fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.flux.clusters import find_clusters
from gitops.flux.graph import render_flux
from gitops.flux.model import FluxRender
from gitops.kustomize import Kustomize
from tests.flux.helpers import copy_fixture, fixture, kinds_and_names, target
from tests.helpers import write_tree

OPERATOR = fixture("operator")
CLUSTER = "kubernetes/flux/cluster"


@pytest.fixture(scope="module")
def operator(kustomize: Kustomize) -> FluxRender:
    result = render_flux(OPERATOR, kustomize=kustomize)
    assert result is not None
    return result


def test_flux_instance_layout_needs_no_configuration() -> None:
    assert find_clusters(OPERATOR.resolve()) == [CLUSTER]


def test_nested_three_deep(operator: FluxRender) -> None:
    chain = [
        (f"{CLUSTER}/flux-system/flux-system", None, CLUSTER),
        (f"{CLUSTER}/flux-system/cluster-apps", f"{CLUSTER}/flux-system/flux-system", "kubernetes/apps"),
        (
            f"{CLUSTER}/flux-system/podinfo",
            f"{CLUSTER}/flux-system/cluster-apps",
            "kubernetes/apps/default/podinfo/app",
        ),
        (
            f"{CLUSTER}/flux-system/podinfo-extras",
            f"{CLUSTER}/flux-system/podinfo",
            "kubernetes/apps/default/podinfo/extras",
        ),
    ]
    for name, parent, path in chain:
        built = target(operator, name)
        assert (built.parent, built.path) == (parent, path)
    extras = target(operator, f"{CLUSTER}/flux-system/podinfo-extras")
    assert kinds_and_names(extras) == {("PodDisruptionBudget", "default", "podinfo")}
    assert extras.documents[0]["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "podinfo-extras",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }


def test_unmapped_source_is_a_skipped_target(operator: FluxRender) -> None:
    skipped = target(operator, f"{CLUSTER}/flux-system/podinfo-chart-overlay")
    assert skipped.path is None and skipped.documents == []
    assert skipped.skipped == (
        "source OCIRepository/flux-system/podinfo-manifests is not mapped to a repository path "
        "(gitops.yaml sources: {podinfo-manifests: PATH} or --source podinfo-manifests=PATH)"
    )


def test_mapped_source_builds_from_its_path(kustomize: Kustomize) -> None:
    result = render_flux(OPERATOR, sources={"podinfo-manifests": "charts/podinfo-overlay"}, kustomize=kustomize)
    assert result is not None
    overlay = target(result, f"{CLUSTER}/flux-system/podinfo-chart-overlay")
    assert (overlay.skipped, overlay.path) == (None, "charts/podinfo-overlay")
    assert kinds_and_names(overlay) == {("Service", "default", "podinfo-extra")}  # targetNamespace


def test_mapped_source_must_exist(kustomize: Kustomize) -> None:
    with pytest.raises(GitopsError, match="source podinfo-manifests: path 'charts/none' is not a directory"):
        render_flux(OPERATOR, sources={"podinfo-manifests": "charts/none"}, kustomize=kustomize)


def _ks(name: str, path: str) -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata:\n  name: {name}\n  namespace: flux-system\n"
        f"spec:\n  interval: 1h\n  path: {path}\n  prune: true\n"
        "  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )


def test_cycle_is_an_error_naming_the_chain(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(
        tmp_path,
        {
            "clusters/home/a.yaml": _ks("a", "./loop/a"),
            "loop/a/b.yaml": _ks("b", "./loop/b"),
            "loop/b/a.yaml": _ks("a", "./loop/a"),
        },
    )
    with pytest.raises(
        GitopsError, match=r"clusters/home: Flux Kustomization cycle: flux-system/a -> flux-system/b -> flux-system/a"
    ):
        render_flux(root, ["clusters/home"], kustomize=kustomize)


def test_kustomization_reached_twice_is_built_once(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(
        tmp_path,
        {
            "clusters/home/ks.yaml": _ks("one", "./shared") + "---\n" + _ks("two", "./shared"),
            "shared/ks.yaml": _ks("leaf", "./leaf"),
            "leaf/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: leaf\n",
        },
    )
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    assert [t.name for t in result.targets] == [
        f"clusters/home/flux-system/{name}" for name in ("flux-system", "leaf", "one", "two")
    ]


def test_plain_kustomize_repository_has_no_flux_targets(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(
        tmp_path,
        {
            "overlays/dev/kustomization.yaml": "resources:\n- cm.yaml\n",
            "overlays/dev/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        },
    )
    assert find_clusters(root) is None
    assert render_flux(root, kustomize=kustomize) is None


def test_kustomizations_without_a_sync_source_need_a_cluster(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(tmp_path, {"apps/ks.yaml": _ks("x", "./apps").replace("name: flux-system\n", "name: other\n")})
    with pytest.raises(GitopsError, match="no cluster entry path: none is synced by GitRepository/flux-system"):
        render_flux(root, kustomize=kustomize)


def test_other_sync_source_name(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(
        tmp_path,
        {
            "clusters/home/ks.yaml": _ks("x", "./apps").replace("name: flux-system\n", "name: home-ops\n"),
            "apps/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        },
    )
    result = render_flux(root, sync_source="home-ops", kustomize=kustomize)
    assert result is not None
    assert kinds_and_names(target(result, "clusters/home/flux-system/x")) == {("ConfigMap", None, "x")}


def test_malformed_kustomization_names_the_field(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("operator", tmp_path)
    ks = root / "kubernetes/flux/cluster/ks.yaml"
    ks.write_text(ks.read_text().replace("  prune: true\n", "  prune: true\n  dependsOn: nope\n"))
    with pytest.raises(GitopsError, match=r"Kustomization cluster-apps: spec\.dependsOn must be a list"):
        render_flux(root, kustomize=kustomize)


def test_render_output_hidden_and_nested_repositories_are_not_sources(tmp_path: Path) -> None:
    root = copy_fixture("operator", tmp_path)
    stray = _ks("stray", "./kubernetes/apps")
    for place in ("rendered/x/ks.yaml", ".venv/lib/ks.yaml", "vendor/other/ks.yaml"):
        (root / place).parent.mkdir(parents=True, exist_ok=True)
        (root / place).write_text(stray)
    (root / "vendor/other/gitops.yaml").write_text("")
    assert find_clusters(root.resolve()) == [CLUSTER]


def test_oci_sync_source_of_a_flux_instance_is_the_repository(tmp_path: Path, kustomize: Kustomize) -> None:
    # A FluxInstance with spec.sync.kind OCIRepository (the Flux Operator's d2 reference architecture) makes
    # OCIRepository/flux-system/flux-system, the artifact CI pushes from this repository.
    root = copy_fixture("operator", tmp_path)
    for path in root.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        text = text.replace("kind: GitRepository\n    name: flux-system", "kind: OCIRepository\n    name: flux-system")
        path.write_text(text.replace("    kind: GitRepository\n    url:", "    kind: OCIRepository\n    url:"))
    result = render_flux(root, kustomize=kustomize)
    assert result is not None and result.clusters == [CLUSTER]
    podinfo = target(result, f"{CLUSTER}/flux-system/podinfo")
    assert (podinfo.skipped, podinfo.path) == (None, "kubernetes/apps/default/podinfo/app")
