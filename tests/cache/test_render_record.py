"""A full render that reuses the last one's record leaves exactly the files a fresh kustomize build gives.

Each test renders once (a record is written), changes the repository, renders again, and compares the
output directory with real kustomize builds of every target, made now without any cache. Where the record
must hold, the test also proves it did: only the touched targets were rendered, and an untouched output file
is the same inode it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gitops import render_record
from gitops.config import load_config
from gitops.full_render import Outcome, render_all
from gitops.kustomize import Kustomize
from gitops.outdir import MARKER, check_output_dir
from gitops.target_selection import discover
from gitops.workspace import TargetOptions
from tests.cache.support import KINDS_OF_INPUT
from tests.helpers import run_gitops, write_tree

REPO = {
    **{k: v for k, v in KINDS_OF_INPUT.items() if "linked" not in v},
    "base/app/kustomization.yaml": """
        resources: [deployment.yaml]
        configMapGenerator:
        - name: env
          envs: [app.env]
          files: [settings.json]
    """,
    "overlays/three/kustomization.yaml": """
        namespace: three
        resources: [../../base/app, ../../shared/service.yaml]
    """,
}


@pytest.fixture(params=["by stat", "by content"])
def margin(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """ "by stat": files are older than the run (no racy margin); "by content": everything was just written,
    so every entry is racily clean and compared by content."""
    if request.param == "by stat":
        monkeypatch.setattr(render_record, "RACY_MARGIN_NS", 0)
    return str(request.param)


def _render(root: Path) -> Outcome:
    out = check_output_dir(root / "rendered", root, "rendered")
    return render_all(root, load_config(root), TargetOptions(), out)


def _assert_fresh(root: Path, tool: Kustomize) -> None:
    """rendered/ holds the marker and one file per target, each what kustomize builds now."""
    out = root / "rendered"
    names = discover(root)
    expected = {MARKER} | {f"{n}.yaml" for n in names}
    found = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    assert found == expected
    for name in names:
        assert (out / f"{name}.yaml").read_text(encoding="utf-8") == tool.build(root / name), name


def _edit(path: Path, old: str, new: str) -> None:
    """Replace text keeping the size and the modification time (as an editor in the same second could)."""
    assert len(old) == len(new)
    info = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))


def _inode(root: Path, target: str) -> int:
    return (root / "rendered" / f"{target}.yaml").stat().st_ino


def test_nothing_changed_renders_and_writes_nothing(tmp_path: Path, kustomize: Kustomize, margin: str) -> None:
    root = write_tree(tmp_path / "repo", REPO).resolve()
    assert _render(root).rendered == 3
    inodes = {t: _inode(root, t) for t in ("overlays/one", "overlays/two", "overlays/three")}
    for _ in range(2):
        # overlays/one reads a transformer config, which may name files of its own: it is always rendered
        assert _render(root).rendered == 1, margin
    assert {t: _inode(root, t) for t in inodes} == inodes, "no output file was written again"
    _assert_fresh(root, kustomize)


def test_an_edit_of_the_same_size_and_mtime_renders_the_targets_reading_it(
    tmp_path: Path, kustomize: Kustomize, margin: str
) -> None:
    root = write_tree(tmp_path / "repo", REPO).resolve()
    _render(root)
    untouched = _inode(root, "overlays/three")
    _edit(root / "overlays/two/kustomization.yaml", "C=3", "C=4")
    assert _render(root).rendered == 2, margin  # overlays/two, and overlays/one (a transformer config)
    assert _inode(root, "overlays/three") == untouched
    _assert_fresh(root, kustomize)


def test_a_file_read_by_a_generator_or_only_by_a_transformer_config(
    tmp_path: Path, kustomize: Kustomize, margin: str
) -> None:
    root = write_tree(tmp_path / "repo", REPO).resolve()
    _render(root)
    _edit(root / "base/app/app.env", "A=1", "A=9")
    assert _render(root).rendered == 3
    _assert_fresh(root, kustomize)
    _edit(root / "patches/replicas.yaml", "replicas: 3", "replicas: 7")
    _render(root)
    _assert_fresh(root, kustomize)
    assert "replicas: 7" in (root / "rendered/overlays/one.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "change",
    ["add a file", "remove a file", "add an overlay", "delete an overlay", "include an overlay", "symlink"],
)
def test_structural_changes_give_the_fresh_output(tmp_path: Path, kustomize: Kustomize, change: str) -> None:
    root = write_tree(tmp_path / "repo", REPO).resolve()
    _render(root)
    if change == "add a file":  # beside a kustomization: a PatchTransformer could name it
        (root / "overlays/three/notes.yaml").write_text("a: 1\n", encoding="utf-8")
    elif change == "remove a file":
        (root / "base/app/settings.json").unlink()
        (root / "base/app/kustomization.yaml").write_text(
            "resources: [deployment.yaml]\nconfigMapGenerator:\n- name: env\n  envs: [app.env]\n", encoding="utf-8"
        )
    elif change == "add an overlay":
        write_tree(root, {"overlays/four/kustomization.yaml": "namespace: four\nresources: [../../base/app]\n"})
    elif change == "delete an overlay":
        shutil.rmtree(root / "overlays/three")
    elif change == "include an overlay":  # overlays/three stops being a target of its own
        write_tree(root, {"overlays/two/kustomization.yaml": "resources: [../three]\n"})
    else:
        os.symlink("../../shared/service.yaml", root / "overlays/three/linked.yaml")
        write_tree(root, {"overlays/three/kustomization.yaml": "resources: [../../base/app, linked.yaml]\n"})
    _render(root)
    _assert_fresh(root, kustomize)
    _render(root)
    _assert_fresh(root, kustomize)


def test_an_output_file_changed_by_hand_is_written_again(tmp_path: Path, kustomize: Kustomize, margin: str) -> None:
    root = write_tree(tmp_path / "repo", REPO).resolve()
    _render(root)
    _render(root)
    output = root / "rendered/overlays/three.yaml"
    output.write_text(output.read_text(encoding="utf-8").replace("three", "tree"), encoding="utf-8")
    (root / "rendered/stray.yaml").write_text("a: 1\n", encoding="utf-8")
    _render(root)
    _assert_fresh(root, kustomize)


def test_a_change_that_makes_a_flux_repository_is_not_taken_from_the_record(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", REPO).resolve()
    _render(root)
    path = root / "shared/service.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "# kustomize.toolkit.fluxcd.io\n", encoding="utf-8")
    data = render_record.load(
        render_record.record_path(root, root / "rendered"),
        _context(root),
    )
    assert data is not None
    assert render_record.verify(data, root, root / "rendered", ("overlays", "clusters"), 0) is None


def test_an_edit_of_a_file_the_flux_mode_decision_reads_is_not_taken_from_the_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing a sync Kustomization can uncover another one's path: an edit of any file holding Flux's markers,
    even one that removes them, leaves the decision to the ordinary path."""
    monkeypatch.setattr(render_record, "RACY_MARGIN_NS", 0)
    marked = {**REPO, "shared/notes.yaml": "# kustomize.toolkit.fluxcd.io\na: 1\n"}
    root = write_tree(tmp_path / "repo", marked).resolve()
    _render(root)
    data = render_record.load(render_record.record_path(root, root / "rendered"), _context(root))
    assert data is not None and "shared/notes.yaml" in data["marked"]
    assert render_record.verify(data, root, root / "rendered", ("overlays", "clusters"), 0) is not None
    (root / "shared/notes.yaml").write_text("# no marker any more\na: 1\n", encoding="utf-8")
    assert render_record.verify(data, root, root / "rendered", ("overlays", "clusters"), 0) is None


def _context(root: Path) -> str:
    from gitops import cache
    from gitops.cache_location import cache_directory
    from gitops.kustomize import find_kustomize

    identity = cache.tool_identity(find_kustomize(), cache_directory())
    return render_record.context_of(root, load_config(root), root / "rendered", identity)


def test_the_cli_warns_about_empty_targets_on_both_paths(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", {**REPO, "overlays/empty/kustomization.yaml": "resources: []\n"})
    for _ in range(2):
        proc = run_gitops("render", cwd=root)
        assert proc.returncode == 0, proc.stderr
        assert proc.stderr == "warning: overlays/empty: builds to zero documents\n"
    assert (root / "rendered/overlays/empty.yaml").read_text(encoding="utf-8") == ""


def test_a_changed_target_is_built_plain_and_a_check_after_it_still_sees_origins(
    tmp_path: Path, kustomize: Kustomize
) -> None:
    from tests.diff.test_diff_base_side import logging_kustomize

    root = write_tree(tmp_path / "repo", REPO).resolve()
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    env = {"KUSTOMIZE": str(wrapper), "GITOPS_CACHE_DIR": str(tmp_path / "cache")}
    assert run_gitops("render", cwd=root, env=env).returncode == 0
    log.unlink()
    _edit(root / "overlays/two/kustomization.yaml", "C=3", "C=4")
    assert run_gitops("render", cwd=root, env=env).returncode == 0
    builds = log.read_text(encoding="utf-8").splitlines()
    # the touched target (and overlays/one, which reads a transformer config and so is always rendered, here
    # from its entry) is built as itself, not through an origin wrapper
    assert builds == [str(root / "overlays/two")]
    _assert_fresh(root, kustomize)
    log.unlink()
    check = run_gitops("check", "-o", "json", cwd=root, env=env)
    assert check.returncode in (0, 1), check.stderr
    (build,) = log.read_text(encoding="utf-8").splitlines()  # the other targets' origin entries hit
    assert "gitops-wrap-" in build, "check builds the touched target with origins"
