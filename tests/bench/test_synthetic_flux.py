"""The synthetic Flux repository of the benchmark is a valid Flux layout that the real kustomize builds.

The checks read the written files (not the generator's own bookkeeping) and build with the real kustomize.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.bench.synthetic_flux import CLUSTERS, generate_flux
from gitops.kustomize import Kustomize

APPS = 6  # the six variants, once each
FLUX_KS = ("kustomize.toolkit.fluxcd.io/v1", "Kustomization")
VARIABLE = re.compile(r"\$\{([_a-zA-Z][_a-zA-Z0-9]*)")


def _documents(directory: Path) -> list[dict[str, Any]]:
    """The Kubernetes objects in a directory tree's manifests (kustomization files are not objects)."""
    docs = []
    for path in sorted(directory.rglob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    return docs


def _flux_kustomizations(root: Path, cluster: str) -> dict[str, dict[str, Any]]:
    found = {}
    for doc in _documents(root / "clusters" / cluster):
        if (doc["apiVersion"], doc["kind"]) == FLUX_KS:
            found[doc["metadata"]["name"]] = doc
    return found


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_flux(tmp_path_factory.mktemp("flux") / "repo", APPS).root


@pytest.fixture(scope="module")
def with_generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_flux(tmp_path_factory.mktemp("flux") / "repo", APPS, flux_generated=True).root


def test_bootstrap_layout_per_cluster(repo: Path) -> None:
    for cluster in CLUSTERS:
        bootstrap = repo / "clusters" / cluster / "flux-system"
        kustomization = yaml.safe_load((bootstrap / "kustomization.yaml").read_text(encoding="utf-8"))
        assert kustomization["resources"] == ["gotk-components.yaml", "gotk-sync.yaml"]
        sync = {(d["kind"], d["metadata"]["name"]): d for d in _documents(bootstrap) if d["kind"] != "Namespace"}
        assert set(sync) == {("GitRepository", "flux-system"), ("Kustomization", "flux-system")}
        entry = sync[("Kustomization", "flux-system")]["spec"]
        assert entry["path"] == f"./clusters/{cluster}"
        assert entry["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        # As after `flux bootstrap`, the cluster path itself has no kustomization: Flux generates one.
        assert not (repo / "clusters" / cluster / "kustomization.yaml").exists()


def test_every_spec_path_exists_and_features_are_present(repo: Path) -> None:
    total = 0
    for cluster in CLUSTERS:
        objects = _flux_kustomizations(repo, cluster)
        total += len(objects)
        apps = {name: ks["spec"] for name, ks in objects.items() if name != "flux-system"}
        for spec in objects.values():
            assert spec["spec"]["path"].startswith("./")
            assert (repo / spec["spec"]["path"]).is_dir(), spec["spec"]["path"]
        substituting = [s for s in apps.values() if "postBuild" in s]
        assert len(substituting) == len(apps) // 2
        assert any("substitute" in s["postBuild"] and "substituteFrom" not in s["postBuild"] for s in substituting)
        assert any("substituteFrom" in s["postBuild"] and "substitute" not in s["postBuild"] for s in substituting)
        assert any({"substitute", "substituteFrom"} <= set(s["postBuild"]) for s in substituting)
        assert any("targetNamespace" in s for s in apps.values())
        assert any("patches" in s for s in apps.values())
        dependencies = [d["name"] for s in apps.values() for d in s.get("dependsOn", [])]
        assert dependencies and set(dependencies) <= set(apps)
    assert total == len(CLUSTERS) * (APPS + 1)
    without = [p for p in repo.glob("apps/*/*") if p.name != "base" and not (p / "kustomization.yaml").exists()]
    assert without and all(list(p.glob("*.yaml")) for p in without)


@pytest.mark.kustomize
def test_paths_build_and_variables_have_providers(repo: Path, with_generated: Path, kustomize: Kustomize) -> None:
    for cluster in CLUSTERS:
        cluster_vars = next(
            d["data"] for d in _documents(repo / "clusters" / cluster) if d["kind"] == "ConfigMap"
        ).keys()
        for name, ks in _flux_kustomizations(repo, cluster).items():
            path = ks["spec"]["path"]
            # Paths Flux would generate a kustomization for are built from the copy that has it written.
            root = repo if (repo / path / "kustomization.yaml").is_file() else with_generated
            output = kustomize.build(root / path)
            built = [d for d in yaml.safe_load_all(output) if d]
            assert built, f"{path} built to nothing"
            post_build = ks["spec"].get("postBuild", {})
            provided = set(post_build.get("substitute", {}))
            if post_build.get("substituteFrom"):
                assert post_build["substituteFrom"] == [{"kind": "ConfigMap", "name": "cluster-vars"}]
                provided |= set(cluster_vars)
            used = set(VARIABLE.findall(output))
            assert used <= provided, f"{cluster}/{name}: {used - provided} have no provider"
            if post_build:
                assert used, f"{cluster}/{name} substitutes but references no variable"
            if name == "flux-system":
                kinds = {(d["kind"], d["metadata"]["name"]) for d in built}
                assert ("ConfigMap", "cluster-vars") in kinds
                assert {("Kustomization", f"app-{i:03d}") for i in range(APPS)} <= kinds


def test_generation_is_deterministic(tmp_path: Path) -> None:
    first = generate_flux(tmp_path / "a", APPS).root
    second = generate_flux(tmp_path / "b", APPS).root
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
