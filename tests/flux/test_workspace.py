"""gitops.workspace: the mode decision, gitops.yaml target keys, selection and environments."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops.config import load_config, parse_config
from gitops.errors import GitopsError
from gitops.policy.context import environment_of
from gitops.workspace import TargetOptions, open_workspace
from tests.flux.helpers import copy_fixture
from tests.helpers import assert_one_line_error, run_gitops

OVERLAY = "podinfo-chart-overlay"


def _operator(tmp_path: Path, config: str) -> Path:
    root = copy_fixture("operator", tmp_path)
    (root / "gitops.yaml").write_text(config, encoding="utf-8")
    return root


def test_gitops_yaml_sources_map_a_source_like_the_option(tmp_path: Path) -> None:
    root = _operator(tmp_path, 'kubernetesVersion: "1.33"\nsources:\n  podinfo-manifests: charts/podinfo-overlay\n')
    workspace = open_workspace(root, load_config(root), identities=())
    name = f"kubernetes/flux/cluster/flux-system/{OVERLAY}"
    assert name in workspace.names and workspace.skipped == []
    assert workspace.source_path(name) == "charts/podinfo-overlay"


def test_unmapped_source_is_skipped_and_listed_with_its_reason(tmp_path: Path) -> None:
    root = _operator(tmp_path, 'kubernetesVersion: "1.33"\n')
    workspace = open_workspace(root, load_config(root), identities=())
    assert [t.name for t in workspace.skipped] == [f"kubernetes/flux/cluster/flux-system/{OVERLAY}"]
    assert any(
        line.startswith(f"skipped kubernetes/flux/cluster/flux-system/{OVERLAY}: source OCIRepository")
        for line in workspace.notices()
    )
    with pytest.raises(GitopsError, match="is skipped"):
        workspace.select([OVERLAY])


def test_sync_source_names_the_repository_gitrepository(tmp_path: Path) -> None:
    root = copy_fixture("example", tmp_path)
    for path in root.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("    name: flux-system\n", "    name: home\n"), encoding="utf-8")
    # every sourceRef now names GitRepository/home: only with syncSource: home is this a Flux repository
    (root / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nsyncSource: home\n', encoding="utf-8")
    assert open_workspace(root, load_config(root), identities=()).is_flux
    (root / "gitops.yaml").write_text('kubernetesVersion: "1.33"\n', encoding="utf-8")
    # none synced by flux-system: the kustomize directories stay the targets
    assert not open_workspace(root, load_config(root), identities=()).is_flux


def test_a_repository_defining_its_own_sync_gitrepository_needs_no_sync_source(tmp_path: Path) -> None:
    # Like bjw-s/home-ops: the GitRepository syncing the repository is named after it, and every Kustomization
    # builds from that one; it is the only GitRepository the repository defines and its Kustomizations use.
    root = copy_fixture("example", tmp_path)
    for path in root.rglob("*.yaml"):
        text = path.read_text(encoding="utf-8")
        text = text.replace(
            "kind: GitRepository\nmetadata:\n  name: flux-system", "kind: GitRepository\nmetadata:\n  name: home-ops"
        )
        path.write_text(text.replace("    name: flux-system\n", "    name: home-ops\n"), encoding="utf-8")
    (root / "gitops.yaml").write_text('kubernetesVersion: "1.33"\n', encoding="utf-8")
    workspace = open_workspace(root, load_config(root), identities=())
    assert workspace.is_flux and workspace.skipped == []
    assert "clusters/staging/flux-system/apps" in workspace.names
    assert workspace.source_path("clusters/staging/flux-system/apps") == "apps/staging"


def test_clusters_key_chooses_entries_and_the_option_overrides_it(tmp_path: Path) -> None:
    root = copy_fixture("example", tmp_path)
    (root / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nclusters: [clusters/staging]\n', encoding="utf-8")
    config = load_config(root)
    staging = open_workspace(root, config, identities=())
    assert {n.split("/")[1] for n in staging.names} == {"staging"}
    production = open_workspace(root, config, TargetOptions(clusters=("clusters/production",)), identities=())
    assert {n.split("/")[1] for n in production.names} == {"production"}


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('kubernetesVersion: "1.33"\nclusters: clusters/a\n', "/clusters"),
        ('kubernetesVersion: "1.33"\nclusters: [/abs]\n', "/clusters/0"),
        ('kubernetesVersion: "1.33"\nsources: {a: 1}\n', "/sources/a"),
        ('kubernetesVersion: "1.33"\ntargets: {roots: []}\n', "/targets/roots"),
        ('kubernetesVersion: "1.33"\ntargets: {root: [x]}\n', "/targets"),
        ('kubernetesVersion: "1.33"\nsyncSource: ""\n', "/syncSource"),
    ],
)
def test_bad_target_keys_are_one_error_naming_the_key(text: str, where: str) -> None:
    with pytest.raises(GitopsError, match=f"gitops.yaml: {where}: "):
        parse_config(text, "gitops.yaml")


def test_bad_target_key_on_the_command_line_is_exit_2(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nclusters: 3\n', encoding="utf-8")
    assert_one_line_error(run_gitops("render", "--list", cwd=root), "gitops.yaml", "/clusters")


def test_missing_cluster_entry_is_one_line_exit_2(tmp_path: Path) -> None:
    root = copy_fixture("example", tmp_path)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    assert_one_line_error(run_gitops("check", "--cluster", "clusters/nowhere", cwd=root), "clusters/nowhere")


def test_environments_are_clusters() -> None:
    assert environment_of("clusters/production/flux-system/mastodon-apps", flux=True) == "production"
    assert environment_of("kubernetes/flux/cluster/flux-system/apps", flux=True) == "kubernetes/flux/cluster"
    assert environment_of("overlays/staging/apps") == "staging"
