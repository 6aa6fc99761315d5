"""`render DIR --out -` builds while it decides; what it prints must be what the general path prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops.config import load_config
from gitops.errors import GitopsError
from gitops.flux.clusters import find_clusters
from gitops.kustomize import Kustomize
from gitops.named_target import render_named
from gitops.render import render_targets
from gitops.target_selection import discover
from gitops.targets import Tree
from gitops.workspace import open_workspace
from tests.cache.support import fixture_repos, kinds_of_input_repo
from tests.cache.test_select import TREE
from tests.helpers import assert_one_line_error, run_gitops, write_tree


def _general_path(root: Path, selector: str) -> str:
    """The slow path `render SELECTOR --out -` takes without the named-target shortcut."""
    workspace = open_workspace(root, load_config(root), origins=False)
    (name,) = workspace.select([selector])
    (result,) = workspace.render([name])
    return result.text


def test_the_named_path_prints_what_kustomize_and_the_general_path_print_on_every_fixture(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(tmp_path / "cache"))
    taken = 0
    for repo in fixture_repos(tmp_path):
        root = repo.resolve()
        try:
            config = load_config(root)
        except GitopsError:
            continue  # the fixture of a bad gitops.yaml: no path renders it
        for name in discover(root):
            try:
                fresh = kustomize.build(root / name)
            except GitopsError:
                continue  # fixtures of input errors
            cold = render_named(root, config, str(root / name))  # empty cache: the speculative build
            warm = render_named(root, config, str(root / name))  # its plain entry
            if Tree(root).has_symlinks() or find_clusters(root) is not None:
                # no shortcut with symlinks, or with Flux Kustomizations (even ones that leave directory mode)
                assert cold is None and warm is None, (repo, name)
                continue
            assert cold == warm == fresh == _general_path(root, str(root / name)), (repo, name)
            taken += 1
    assert taken >= 5


def test_an_origin_entry_serves_the_named_path_stripped(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(tmp_path / "cache"))
    root = write_tree(tmp_path / "repo", TREE).resolve()
    render_targets(root, ["overlays/whole"], origins=True, kustomize=kustomize)  # what check stores
    entries = sorted((tmp_path / "cache" / "render").rglob("*"))
    assert render_named(root, load_config(root), str(root / "overlays/whole")) == kustomize.build(
        root / "overlays/whole"
    )
    # a miss would have built and stored a plain entry
    assert sorted((tmp_path / "cache" / "render").rglob("*")) == entries, "a hit stores nothing"


@pytest.mark.parametrize(
    "selector",
    [
        "overlays/part",  # included by a sibling: not a target
        "overlays/parent",  # a directory holding a target
        "overlays",  # a directory of targets
        "base/app",  # outside the target roots
        "overlays/missing",
    ],
)
def test_anything_but_one_target_goes_the_general_way(tmp_path: Path, selector: str) -> None:
    root = write_tree(tmp_path / "repo", TREE).resolve()
    assert render_named(root, load_config(root), str(root / selector)) is None


def test_a_flux_repository_goes_the_general_way(tmp_path: Path) -> None:
    files = {
        **TREE,
        "clusters/prod/flux-system/gotk-sync.yaml": """
            apiVersion: kustomize.toolkit.fluxcd.io/v1
            kind: Kustomization
            metadata: {name: flux-system, namespace: flux-system}
            spec:
              interval: 10m
              path: ./clusters/prod
              prune: true
              sourceRef: {kind: GitRepository, name: flux-system}
        """,
    }
    root = write_tree(tmp_path / "repo", files).resolve()
    assert render_named(root, load_config(root), str(root / "overlays/whole")) is None


def test_a_build_failure_and_a_bad_input_are_the_general_paths_errors(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "repo",
        {
            "overlays/fails/kustomization.yaml": "resources: [cm.yaml]\n",
            "overlays/fails/cm.yaml": "apiVersion: v1\nkind: ConfigMap\n",  # no metadata.name: kustomize refuses
            "overlays/dup/kustomization.yaml": "resources: [cm.yaml]\nresources: [cm.yaml]\n",
            "overlays/dup/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup}\n",
        },
    ).resolve()
    config = load_config(root)
    assert render_named(root, config, str(root / "overlays/fails")) is None
    assert render_named(root, config, str(root / "overlays/dup")) is None
    failed = run_gitops("render", "overlays/fails", "--out", "-", cwd=root)
    assert_one_line_error(failed, "overlays/fails: kustomize build failed")
    duplicate = run_gitops("render", "overlays/dup", "--out", "-", cwd=root)
    assert_one_line_error(duplicate, "kustomization.yaml:2: duplicate key 'resources'")


def test_the_command_line_prints_the_build_relative_to_the_current_directory(
    tmp_path: Path, kustomize: Kustomize
) -> None:
    root = kinds_of_input_repo(tmp_path / "kinds")
    os.unlink(root / "base/app/linked.yaml")  # no symlink: the shortcut is taken
    write_tree(root, {"base/app/linked.yaml": (root / "shared/service.yaml").read_text(encoding="utf-8")})
    proc = run_gitops("render", "one", "--out", "-", cwd=root / "overlays")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == kustomize.build(root / "overlays/one")


def test_references_resolve_alike_without_the_symlink_scan(tmp_path: Path) -> None:
    """The named path resolves its target's references with realpath each instead of scanning the repository."""
    root = kinds_of_input_repo(tmp_path / "kinds").resolve()  # base/app/linked.yaml is a symlink
    for name in discover(root):
        scanned, direct = Tree(root), Tree(root, scan_symlinks=False)
        assert direct.inputs(root / name) == scanned.inputs(root / name), name
        assert direct.digest(root / name) == scanned.digest(root / name), name
        direct.preflight(root / name)


@pytest.mark.parametrize(
    "kustomization",
    [
        "resources: [../../../outside]\n",  # leaves the repository
        "resources: [https://github.com/example/app//base]\n",  # a remote base
        "helmCharts: [{name: app, repo: https://charts.example}]\n",  # runs helm
    ],
)
def test_no_build_starts_before_the_structural_guard_passed(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch, kustomization: str
) -> None:
    from tests.diff.test_diff_base_side import logging_kustomize

    write_tree(tmp_path / "outside", {"kustomization.yaml": "resources: []\n"})
    root = write_tree(tmp_path / "repo", {"overlays/bad/kustomization.yaml": kustomization}).resolve()
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    monkeypatch.setenv("KUSTOMIZE", str(wrapper))
    assert render_named(root, load_config(root), str(root / "overlays/bad")) is None
    assert not log.exists(), "kustomize ran"
