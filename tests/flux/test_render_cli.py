"""`gitops render` on Flux repositories without overlay/cluster kustomization directories: Flux targets,
written to rendered/<cluster>/<namespace>/<name>.yaml, listed with their path, dependsOn and Flux fields."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.flux.helpers import copy_fixture
from tests.helpers import assert_one_line_error, run_gitops


def test_render_writes_one_file_per_flux_target(tmp_path: Path) -> None:
    root = copy_fixture("example", tmp_path)
    proc = run_gitops("render", cwd=root)
    assert proc.returncode == 0, proc.stderr
    rendered = sorted(p.relative_to(root / "rendered").as_posix() for p in (root / "rendered").rglob("*.yaml"))
    assert rendered == [
        f"clusters/{cluster}/flux-system/{name}.yaml"
        for cluster in ("production", "staging")
        for name in ("apps", "flux-system", "infra-configs", "infra-controllers")
    ]
    docs = list(yaml.safe_load_all((root / "rendered/clusters/staging/flux-system/apps.yaml").read_text()))
    release = next(d for d in docs if d["kind"] == "HelmRelease")
    assert release["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "apps"


def test_render_list_shows_path_depends_on_and_fields(tmp_path: Path) -> None:
    root = copy_fixture("fields", tmp_path)
    proc = run_gitops("render", "--list", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "clusters/fields/flux-system/existing  path=existing  targetNamespace=other",
        "clusters/fields/flux-system/fields  path=app  targetNamespace=apps  namePrefix=pre-  nameSuffix=-suf  "
        "commonMetadata=true  patches=1  images=2  components=../components/extra",
        "clusters/fields/flux-system/flux-system  path=clusters/fields",
    ]
    assert not (root / "rendered").exists()


def test_skipped_target_is_reported(tmp_path: Path) -> None:
    root = copy_fixture("operator", tmp_path)
    proc = run_gitops("render", "--list", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "kubernetes/flux/cluster/flux-system/podinfo-chart-overlay  skipped: source OCIRepository" in proc.stdout
    assert proc.stderr.startswith("skipped kubernetes/flux/cluster/flux-system/podinfo-chart-overlay: source")
    mapped = run_gitops("render", "--list", "--source", "podinfo-manifests=charts/podinfo-overlay", cwd=root)
    assert "podinfo-chart-overlay  path=charts/podinfo-overlay  targetNamespace=default" in mapped.stdout


def test_one_target_to_stdout_by_unambiguous_name(tmp_path: Path) -> None:
    root = copy_fixture("operator", tmp_path)
    proc = run_gitops("render", "podinfo-extras", "--out", "-", cwd=root)
    assert proc.returncode == 0, proc.stderr
    (doc,) = yaml.safe_load_all(proc.stdout)
    assert (doc["kind"], doc["metadata"]["name"]) == ("PodDisruptionBudget", "podinfo")


def test_malformed_source_option(tmp_path: Path) -> None:
    root = copy_fixture("operator", tmp_path)
    assert_one_line_error(run_gitops("render", "--source", "nopath", cwd=root), "--source nopath: expected NAME=PATH")


def test_cycle_is_one_line_exit_2(tmp_path: Path) -> None:
    root = copy_fixture("operator", tmp_path)
    extra = root / "kubernetes/apps/default/podinfo/extras/back.yaml"
    extra.write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: podinfo\n"
        "  namespace: flux-system\nspec:\n  interval: 1h\n  path: ./kubernetes/apps/default/podinfo/app\n"
        "  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n"
    )
    assert_one_line_error(
        run_gitops("render", cwd=root), "Flux Kustomization cycle: flux-system/podinfo -> flux-system/podinfo-extras"
    )
    assert not (root / "rendered").exists()
