"""A diff of the working tree after a `check` takes its targets from the check's record and renders the targets
a change touches from the start: what it reports must be what a diff without any cache reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.kustomize import Kustomize
from tests.diff.support import init_repo
from tests.diff.test_diff import TREE
from tests.diff.test_diff_base_side import logging_kustomize
from tests.helpers import run_gitops

CHANGES = {
    "an overlay's own file": ("overlays/a/kustomization.yaml", "newTag: v4.6.3", "newTag: v4.6.4"),
    "a base several targets read": ("base/app/deployment.yaml", "replicas: 1", "replicas: 2"),
    "a file no target reads": ("README.md", "", "notes\n"),
}


def _diff(repo: Path, env: dict[str, str]) -> tuple[int, str, str]:
    proc = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo, env=env)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_diff_after_a_check_equals_a_diff_without_cache(tmp_path: Path, kustomize: Kustomize, change: str) -> None:
    files = {**TREE, "overlays/c/kustomization.yaml": "namespace: c\nresources: [../../base/app]\n", "README.md": ""}
    repo = init_repo(tmp_path / "repo", files)
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    cache = {"GITOPS_CACHE_DIR": str(tmp_path / "cache"), "KUSTOMIZE": str(wrapper)}
    assert run_gitops("check", cwd=repo, env=cache).returncode in (0, 1)  # leaves the record
    assert list((tmp_path / "cache" / "records").iterdir())
    log.unlink()
    path, old, new = CHANGES[change]
    text = (repo / path).read_text(encoding="utf-8")
    (repo / path).write_text(text.replace(old, new, 1) if old else new, encoding="utf-8")
    with_record = _diff(repo, cache)
    assert with_record == _diff(repo, {"GITOPS_NO_CACHE": "1"})
    builds = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    # each touched head target is built once (the early render is the head side's render), the base side
    # not at all (the check cached it)
    assert len(builds) == len(set(builds)), builds
    assert len(builds) == {"an overlay's own file": 1, "a base several targets read": 2}.get(change, 0)


def test_a_head_target_that_fails_early_fails_as_without_cache(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", TREE)
    cache = {"GITOPS_CACHE_DIR": str(tmp_path / "cache")}
    run_gitops("check", cwd=repo, env=cache)
    (repo / "overlays/a/kustomization.yaml").write_text(
        "namespace: a\nresources: [../../base/app]\npatches: [{path: p.yaml}]\n", encoding="utf-8"
    )
    (repo / "overlays/a/p.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\n")
    with_record = _diff(repo, cache)
    assert with_record[0] == 2
    assert "head working tree: overlays/a" in with_record[2]
    assert with_record == _diff(repo, {"GITOPS_NO_CACHE": "1"})
