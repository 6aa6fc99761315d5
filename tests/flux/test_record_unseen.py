"""The recorded diff (diff.flux_recorded) and paths added where discovery does not look: hundreds of untracked
files under rendered/ (what a render leaves) pass without git being asked about them, but not when a target's
path is the repository root or a directory above the added file. Each case equals the ordinary diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.config import load_config
from gitops.diff.flux import FluxOptions
from gitops.diff.refs import diff_refs
from gitops.full_render import render_all
from gitops.workspace import TargetOptions
from tests.diff.support import init_repo
from tests.flux.test_diff_selection import _children, _cm, _files, _ks, _names
from tests.flux.test_record import _assert_same, _change, _records, _render, _without_record

# Autouse fixture of test_record: every test here gets its own cache directory.
from tests.flux.test_record import _cache as _cache

OWN_FILE = {"apps/other/b/cm.yaml": _cm("other", "changed")}


def _many_untracked(root: Path, count: int = 400) -> None:
    for index in range(count):
        (root / "rendered" / "extra" / f"{index:03d}.yaml").parent.mkdir(parents=True, exist_ok=True)
        (root / "rendered" / "extra" / f"{index:03d}.yaml").write_text(_cm(f"x{index}", "x"), encoding="utf-8")


def test_many_untracked_render_files_keep_the_recorded_path(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    assert len(_records()) == 1
    _many_untracked(root)
    _change(root, OWN_FILE)
    fast, slow = diff_refs(root, "main"), _without_record(root)
    _assert_same(fast, slow)
    assert set(fast.rendered) == _names("b", "other") and set(slow.rendered) > set(fast.rendered)


def test_a_target_at_the_repository_root_sees_the_render_files(tmp_path: Path) -> None:
    files = _files()
    files["kustomization.yaml"] = "resources: [root-cm.yaml]\n"  # a leaf at the root (`top`, path ./)
    files["root-cm.yaml"] = _cm("root", "r")
    files["tenants/a/ks.yaml"] = _children("a") + _ks("top", "./")
    root = init_repo(tmp_path / "repo", files)
    clusters = ("clusters/a", "clusters/b")  # given: the root's kustomization would be found as an entry
    render_all(root, load_config(root), TargetOptions(clusters=clusters), root / "rendered")
    assert len(_records()) == 1
    _many_untracked(root, 3)
    _change(root, OWN_FILE)
    flux = FluxOptions(clusters)
    fast, slow = diff_refs(root, "main", flux=flux), _without_record(root, flux)
    _assert_same(fast, slow)
    assert fast.rendered == slow.rendered  # rendered/ lies below the target's path: the ordinary path


@pytest.mark.parametrize("added", ["apps/other/b/.notes/todo.yaml", "apps/plain/rendered/x.yaml"])
def test_a_file_added_out_of_discovery_below_a_targets_path(added: str, tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    _change(root, {**OWN_FILE, added: _cm("added", "a")})
    fast, slow = diff_refs(root, "main"), _without_record(root)
    _assert_same(fast, slow)
    assert fast.rendered == slow.rendered  # a target's path lies above it: the ordinary path
