"""Broken sources: the message names the file (and line) and the cause, never a kustomize stub."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops.kustomize import BUILD_FLAGS, build_error
from tests.bad_input.harness import assert_refused, make_repo, run_limited


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


CM_HEAD = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n"


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        (CM_HEAD + '  name: "unterminated\n', ("overlays/a/cm.yaml:", "not valid YAML", "unexpected end of stream")),
        (CM_HEAD + "  name: x\n   bad: indent\n", ("overlays/a/cm.yaml:5", "not valid YAML")),
        (CM_HEAD + "  name: x\n  name: y\n", ("overlays/a/cm.yaml:5", "duplicate key 'name'", "line 4")),
        (CM_HEAD + "  name: x\ndata:\n  A: 1\n---\n" + CM_HEAD + "  name: y\n  name: z\n", ("cm.yaml:12",)),
    ],
)
def test_broken_resource_names_file_line_and_cause(repo: Path, content: str, needles: tuple[str, ...]) -> None:
    (repo / "overlays/a/cm.yaml").write_text(content)
    assert_refused(repo, "render", needles=needles)


def test_non_utf8_bytes_name_the_line(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").write_bytes(CM_HEAD.encode() + b"  name: caf\xe9\n")
    assert_refused(repo, "render", needles=("overlays/a/cm.yaml:4", "not UTF-8", "0xe9"))


def test_second_resources_block_is_refused_not_dropped(repo: Path) -> None:
    (repo / "overlays/a/kustomization.yaml").write_text("resources:\n- ../../base/app\nresources:\n- cm.yaml\n")
    assert_refused(repo, "render", needles=("overlays/a/kustomization.yaml:3", "duplicate key 'resources'"))


def test_duplicate_key_in_a_patch_of_a_base_is_found(repo: Path) -> None:
    (repo / "base/app/kustomization.yaml").write_text("resources:\n- deployment.yaml\npatches:\n- path: p.yaml\n")
    (repo / "base/app/p.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n  replicas: 3\n"
    )
    assert_refused(repo, "render", needles=("base/app/p.yaml:7", "duplicate key 'replicas'"))


def test_missing_file_names_the_kustomization_entry(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").unlink()
    assert_refused(
        repo, "render", needles=("overlays/a/kustomization.yaml", "resources entry 'cm.yaml'", "no such file")
    )


def test_symlink_loop_is_named(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").unlink()
    os.symlink("loop-b.yaml", repo / "overlays/a/cm.yaml")
    os.symlink("cm.yaml", repo / "overlays/a/loop-b.yaml")
    assert_refused(repo, "render", needles=("resources entry 'cm.yaml'", "symlink loop"))


def test_unparsable_kustomization_names_its_line(repo: Path) -> None:
    (repo / "overlays/b/kustomization.yaml").write_text("namespace: b\nresources: [../../base/app\n")
    assert_refused(repo, "render", needles=("overlays/b/kustomization.yaml:", "not valid YAML"))


def test_kustomize_errors_keep_the_cause(repo: Path) -> None:
    """A problem only kustomize sees (a patch without a target): its whole message, the cause included."""
    (repo / "overlays/a/kustomization.yaml").write_text("resources:\n- cm.yaml\npatches:\n- path: p.yaml\n")
    (repo / "overlays/a/p.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: nope\n")
    assert_refused(
        repo,
        "render",
        needles=("overlays/a: kustomize build failed", "no matches for Id Deployment.v1.apps/nope", "failed to find"),
    )


def test_kubectl_multi_line_error_block_is_unwrapped(tmp_path: Path) -> None:
    """kubectl wraps a multi-line error in a klog `err=<` block; the real output, read back whole."""
    (tmp_path / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (tmp_path / "cm.yaml").write_text(CM_HEAD + "  name: x\n  name: y\n")
    proc = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path), *BUILD_FLAGS], capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0 and "err=<" in proc.stderr, proc.stderr
    message = build_error(proc.stderr)
    assert "\n" not in message
    assert 'line 5: mapping key "name" already defined at line 4' in message


def test_kubectl_yaml_error_becomes_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n- cm.yaml\n")
    (tmp_path / "cm.yaml").write_text(CM_HEAD + '  name: "x\n')
    proc = subprocess.run(
        ["kubectl", "kustomize", str(tmp_path), *BUILD_FLAGS], capture_output=True, text=True, check=False
    )
    assert build_error(proc.stderr) == "cm.yaml:4: found unexpected end of stream"


def test_sound_sources_still_render(repo: Path) -> None:
    proc = run_limited("render", "overlays/a", "--out", "-", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "name: settings" in proc.stdout
