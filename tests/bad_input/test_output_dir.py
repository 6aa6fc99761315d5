"""render --out: never replaces anything gitops did not write; -o means format, which render has none of."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops.outdir import MARKER
from tests.bad_input.harness import assert_refused, make_repo, run_limited, snapshot
from tests.helpers import REPO_ROOT


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.mark.parametrize(
    ("out", "needles"),
    [
        (".", ("repository root",)),
        ("..", ("repository root",)),
        ("overlays", ("overlays", "source tree")),
        ("overlays/a", ("overlays/a", "source tree")),
        ("base/app", ("base/app", "source tree")),
        ("overlays/new", ("overlays/new", "source tree")),
        (".git", (".git", "inside .git")),
        (".git/rendered", ("inside .git",)),
        ("README.md", ("README.md", "is a file")),
        ("README.md/sub", ("README.md/sub", "under the file")),
        ("tools", ("tools", "not empty", MARKER)),
    ],
)
def test_out_that_could_destroy_data_is_refused(repo: Path, out: str, needles: tuple[str, ...]) -> None:
    (repo / "tools").mkdir()
    (repo / "tools" / "script.py").write_text("print('mine')\n")
    assert_refused(repo, "render", "--out", out, needles=needles)


def test_out_accepts_a_new_an_empty_and_its_own_directory(repo: Path) -> None:
    assert run_limited("render", "--out", "fresh", cwd=repo).returncode == 0
    assert (repo / "fresh" / MARKER).is_file()
    assert (repo / "fresh/overlays/a.yaml").is_file()
    assert run_limited("render", "--out", "fresh", cwd=repo).returncode == 0  # its own: replaced
    (repo / "empty").mkdir()
    assert run_limited("render", "overlays/a", "--out", "empty", cwd=repo).returncode == 0
    assert sorted(p.name for p in (repo / "empty").iterdir()) == [MARKER, "overlays"]


def test_output_of_a_render_from_before_the_marker_is_accepted(repo: Path) -> None:
    (repo / "rendered/overlays").mkdir(parents=True)
    (repo / "rendered/overlays/a.yaml").write_text("kind: old\n")
    assert run_limited("render", cwd=repo).returncode == 0
    assert (repo / "rendered" / MARKER).is_file()
    (repo / "other/overlays").mkdir(parents=True)
    (repo / "other/overlays/kustomization.yaml").write_text("resources: []\n")
    assert_refused(repo, "render", "--out", "other", needles=("other", "not empty"))


def test_dash_o_is_a_format_and_render_has_none(repo: Path) -> None:
    assert_refused(repo, "render", "-o", "json", needles=("-o/--output", "--out DIR"))
    assert not (repo / "json").exists()


def test_staging_left_by_a_killed_render_is_removed_and_ignored(repo: Path) -> None:
    stale = repo / ".rendered-999999999-abc"  # no process has that id
    stale.mkdir()
    (stale / MARKER).write_text("x")
    (stale / "half.yaml").write_text("kind: half\n")
    someone_elses = repo / ".rendered-notes"  # not staging (no pid, no marker): kept
    someone_elses.mkdir()
    assert run_limited("render", cwd=repo).returncode == 0
    assert not stale.exists()
    assert someone_elses.is_dir()
    ignored = subprocess.run(
        ["git", "check-ignore", "-q", ".rendered-12345-x/a.yaml"], cwd=REPO_ROOT, check=False
    ).returncode
    assert ignored == 0


def test_refused_out_leaves_a_previous_render_alone(repo: Path) -> None:
    assert run_limited("render", cwd=repo).returncode == 0
    before = snapshot(repo)
    assert_refused(repo, "render", "--out", "overlays", needles=("source tree",))
    assert snapshot(repo) == before
