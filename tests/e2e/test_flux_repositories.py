"""Whole-CLI runs of render and check on Flux repositories nobody here wrote, and on ours (issue 12).

Expected values come from the fixtures' Flux objects (names, paths, dependsOn) and Flux's documented
naming of what it applies, not from our own output.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.flux.helpers import copy_fixture
from tests.helpers import REPO_ROOT, assert_one_line_error, run_gitops

EXAMPLE_TARGETS = [
    f"clusters/{cluster}/flux-system/{name}"
    for cluster in ("production", "staging")
    for name in ("apps", "flux-system", "infra-configs", "infra-controllers")
]


def _foreign_repo(tmp_path: Path, fixture: str = "example") -> Path:
    """A fixture as a git repository of its own without gitops.yaml: a new user's checkout."""
    root = copy_fixture(fixture, tmp_path)
    (root / "gitops.yaml").unlink(missing_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _flux_kustomization(name: str, path: str, source: str = "flux-system", kind: str = "GitRepository") -> str:
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata:\n  name: {name}\n  namespace: flux-system\n"
        f"spec:\n  interval: 10m\n  prune: true\n  path: ./{path}\n"
        f"  sourceRef:\n    kind: {kind}\n    name: {source}\n"
    )


def _bootstrap_repo(tmp_path: Path) -> Path:
    """The `flux bootstrap` layout: clusters/dev/flux-system syncs clusters/dev, which holds one app."""
    root = tmp_path / "repo"
    _write(root, "clusters/dev/flux-system/gotk-sync.yaml", _flux_kustomization("flux-system", "clusters/dev"))
    _write(root, "clusters/dev/flux-system/kustomization.yaml", "resources:\n- gotk-sync.yaml\n")
    _write(root, "clusters/dev/app.yaml", _flux_kustomization("app", "apps/web"))
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def test_foreign_repo_without_config_lists_its_flux_kustomizations(tmp_path: Path) -> None:
    root = _foreign_repo(tmp_path)
    proc = run_gitops("render", "--list", cwd=root)
    assert proc.returncode == 0, proc.stderr
    names = [line.split()[0] for line in proc.stdout.splitlines()]
    assert names == EXAMPLE_TARGETS
    assert "clusters/staging/flux-system/apps  path=apps/staging  dependsOn=flux-system/infra-configs" in proc.stdout


def test_foreign_repo_checks_documents_and_policy_stays_silent(tmp_path: Path) -> None:
    root = _foreign_repo(tmp_path)
    proc = run_gitops("check", "-o", "json", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["targets"] == len(EXAMPLE_TARGETS)
    assert report["summary"]["documents"] > 0
    # no Mastodon workload anywhere: no policy rule speaks, and no gitops.yaml was needed
    policy = [f for f in report["findings"] if not f["rule"].startswith(("SCHEMA", "SEC", "CHECK", "SRC"))]
    assert policy == []


def test_repo_without_targets_is_one_line_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    _write(root, "README.md", "nothing to render\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    for command in ("render", "check"):
        assert_one_line_error(run_gitops(command, cwd=root), "no targets")


def test_flux_repo_whose_targets_are_all_skipped_is_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _write(root, "clusters/dev/flux-system/gotk-sync.yaml", _flux_kustomization("flux-system", "clusters/dev"))
    _write(root, "clusters/dev/flux-system/kustomization.yaml", "resources:\n- gotk-sync.yaml\n")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    # the entry itself renders (the sync Kustomization), so this repository has one target
    proc = run_gitops("render", "--list", cwd=root)
    assert proc.stdout.split() == ["clusters/dev/flux-system/flux-system", "path=clusters/dev"]


def test_zero_document_target_is_a_warning_naming_it(tmp_path: Path) -> None:
    root = _bootstrap_repo(tmp_path)
    (root / "apps/web").mkdir(parents=True)  # Flux generates an empty kustomization: nothing is applied
    check = run_gitops("check", "-o", "json", cwd=root)
    assert check.returncode == 0, check.stderr
    empty = [f for f in json.loads(check.stdout)["findings"] if f["rule"] == "CHECK-EMPTY-TARGET"]
    assert [(f["target"], f["severity"]) for f in empty] == [("clusters/dev/flux-system/app", "warning")]
    render = run_gitops("render", cwd=root)
    assert render.returncode == 0, render.stderr
    assert "warning: clusters/dev/flux-system/app: builds to zero documents" in render.stderr
    assert (root / "rendered/clusters/dev/flux-system/app.yaml").read_text() == ""


def test_flux_target_findings_name_the_source_file_and_line(tmp_path: Path) -> None:
    root = _bootstrap_repo(tmp_path)
    _write(root, "apps/web/kustomization.yaml", "resources:\n- service.yaml\n")
    _write(
        root,
        "apps/web/service.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\n"
        "spec:\n  ports:\n  - port: 80\n    bogusField: 1\n",
    )
    proc = run_gitops("check", "-o", "json", cwd=root)
    assert proc.returncode == 1, proc.stderr
    errors = [f for f in json.loads(proc.stdout)["findings"] if f["severity"] == "error"]
    assert len(errors) == 1, errors
    assert errors[0]["target"] == "clusters/dev/flux-system/app"
    assert errors[0]["file"] == "apps/web/service.yaml"
    assert errors[0]["line"] == 9  # bogusField


def test_unmapped_source_is_reported_by_check_and_mapped_by_option(tmp_path: Path) -> None:
    root = _bootstrap_repo(tmp_path)
    _write(root, "apps/web/kustomization.yaml", "resources: []\n")
    _write(root, "clusters/dev/charts.yaml", _flux_kustomization("charts", "deploy", "charts", "OCIRepository"))
    _write(
        root,
        "vendor/charts/deploy/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: charts\n  namespace: default\ndata:\n  a: b\n",
    )
    proc = run_gitops("check", "-o", "json", cwd=root)
    report = json.loads(proc.stdout)
    skipped = [f for f in report["findings"] if f["rule"] == "CHECK-SKIPPED-TARGET"]
    assert [f["target"] for f in skipped] == ["clusters/dev/flux-system/charts"]
    assert "OCIRepository" in skipped[0]["message"] and "--source charts=PATH" in skipped[0]["message"]
    mapped = run_gitops("check", "-o", "json", "--source", "charts=vendor/charts", cwd=root)
    report = json.loads(mapped.stdout)
    assert report["summary"]["targets"] == 3  # flux-system, app, charts
    assert not [f for f in report["findings"] if f["rule"] == "CHECK-SKIPPED-TARGET"]


def test_cluster_option_chooses_the_entry(tmp_path: Path) -> None:
    root = _foreign_repo(tmp_path)
    proc = run_gitops("render", "--list", "--cluster", "clusters/staging", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()] == [
        t for t in EXAMPLE_TARGETS if t.startswith("clusters/staging/")
    ]
    check = run_gitops("check", "--cluster", "clusters/staging", "-o", "json", cwd=root)
    assert json.loads(check.stdout)["summary"]["targets"] == 4


def test_selectors_namespace_name_and_unambiguous_name(tmp_path: Path) -> None:
    root = _foreign_repo(tmp_path)
    ambiguous = run_gitops("check", "apps", cwd=root)
    assert_one_line_error(ambiguous, "'apps' is ambiguous")
    proc = run_gitops("check", "clusters/staging/flux-system/apps", "-o", "json", cwd=root)
    assert json.loads(proc.stdout)["summary"]["targets"] == 1
    by_namespace = run_gitops("render", "flux-system/apps", "--out", "-", "--cluster", "clusters/staging", cwd=root)
    assert by_namespace.returncode == 0, by_namespace.stderr
    assert "kind: HelmRelease" in by_namespace.stdout


def test_plain_kustomize_repo_keeps_directory_targets_with_configured_roots(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    _write(root, "gitops.yaml", 'kubernetesVersion: "1.33"\ntargets:\n  roots: [envs]\n')
    _write(root, "envs/dev/kustomization.yaml", "resources:\n- cm.yaml\n")
    _write(root, "envs/dev/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  a: b\n")
    _write(root, "overlays/old/kustomization.yaml", "resources:\n- ../../envs/dev/cm.yaml\n")
    proc = run_gitops("render", "--list", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["envs/dev"]
    assert run_gitops("check", cwd=root).returncode == 0


def test_source_option_without_flux_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    _write(root, "gitops.yaml", 'kubernetesVersion: "1.33"\n')
    _write(root, "overlays/dev/kustomization.yaml", "resources: []\n")
    assert_one_line_error(run_gitops("render", "--source", "x=y", cwd=root), "no Flux Kustomization")


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_our_repository_targets_are_its_flux_kustomizations(environment: str) -> None:
    proc = run_gitops("render", "--list", cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    names = {line.split()[0] for line in proc.stdout.splitlines()}
    layers = ["flux-system", "infra-controllers", "infra-configs"] + [
        f"mastodon-{layer}" for layer in ("shared", "pre-deploy", "apps", "post-deploy")
    ]
    assert {n for n in names if n.startswith(f"clusters/{environment}/")} == {
        f"clusters/{environment}/flux-system/{layer}" for layer in layers
    }
    assert f"clusters/{environment}/flux-system/mastodon-apps  path=overlays/{environment}/apps" in proc.stdout
    assert shutil.which("git")


def test_shards_of_a_foreign_flux_repository_cover_its_targets(tmp_path: Path) -> None:
    root = _foreign_repo(tmp_path)
    listed = run_gitops("render", "--list", cwd=root)
    assert listed.returncode == 0, listed.stderr
    targets = {line.split()[0] for line in listed.stdout.splitlines() if "skipped" not in line}
    written = set()
    for k in (1, 2):
        out = tmp_path / f"shard{k}"
        proc = run_gitops("render", "--shard", f"{k}/2", "--out", str(out), cwd=root)
        assert proc.returncode == 0, proc.stderr
        written |= {p.relative_to(out).as_posix().removesuffix(".yaml") for p in out.rglob("*.yaml")}
    assert written == targets
