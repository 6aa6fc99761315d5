"""Hostile sizes and shapes: refused before any parser expands them, and every build bounded in time."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bad_input.harness import assert_refused, make_repo, run_limited

# "Billion laughs": nine levels of nine aliases, 9**9 strings from a few hundred bytes.
BOMB_LEVELS = "abcdefghi"


def bomb_block(indent: str) -> str:
    """A mapping whose last key expands to 9**9 strings, indented to sit under a key."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in itertools.pairwise(BOMB_LEVELS):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "".join(f"{indent}{line}\n" for line in lines)


def alias_bomb() -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n" + bomb_block("  ")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


def test_alias_bomb_in_a_resource_is_refused_before_kustomize(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").write_text(alias_bomb())
    assert_refused(repo, "render", needles=("overlays/a/cm.yaml:", "alias bomb"))
    # check judges what it can and reports the file as a finding (exit 1), naming the file and line
    proc = run_limited("check", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert "overlays/a/cm.yaml: error SCHEMA-YAML: overlays/a/cm.yaml:11: aliases expand" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_alias_bomb_is_refused_by_the_secret_tools(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").write_text(alias_bomb())
    lint = run_limited("secrets", "lint", cwd=repo)
    assert lint.returncode == 1 and "overlays/a/cm.yaml:11: aliases expand" in lint.stdout, lint
    assert_refused(repo, "secrets", "decrypt", "overlays/a/cm.yaml", needles=("overlays/a/cm.yaml:", "alias bomb"))
    (repo / "overlays/a/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n")
    (repo / ".sops.yaml").write_text("creation_rules:\n- path_regex: x\n  other:\n" + bomb_block("    "))
    assert_refused(repo, "secrets", "encrypt", "overlays/a/cm.yaml", needles=(".sops.yaml:", "alias bomb"))


def test_alias_bomb_in_a_kustomization_is_refused(repo: Path) -> None:
    (repo / "overlays/b/kustomization.yaml").write_text("resources:\n- ../../base/app\nx:\n" + bomb_block("  "))
    assert_refused(repo, "render", needles=("overlays/b/kustomization.yaml:", "alias bomb"))


def test_alias_bomb_in_gitops_yaml_is_refused_by_every_command(repo: Path) -> None:
    (repo / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nenvironments:\n  x:\n' + bomb_block("    "))
    for command in (["render"], ["check"], ["diff", "--base", "main"], ["secrets", "lint"]):
        assert_refused(repo, *command, needles=("gitops.yaml:", "alias bomb"))


def test_recursive_alias_is_refused(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: &m\n  name: x\n  self: *m\n")
    assert_refused(repo, "render", needles=("overlays/a/cm.yaml:3", "refers to its own anchor"))


def test_a_few_aliases_are_fine(repo: Path) -> None:
    (repo / "overlays/a/cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: &l {app: web}\n"
        "  annotations: *l\ndata:\n  MODE: a\n"
    )
    proc = run_limited("render", "overlays/a", "--out", "-", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert "annotations:\n    app: web" in proc.stdout


def test_file_over_the_size_limit_is_refused(repo: Path) -> None:
    big = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: big\ndata:\n  blob: " + "x" * 4000 + "\n"
    (repo / "overlays/a/cm.yaml").write_text(big)
    assert_refused(
        repo,
        "render",
        needles=("overlays/a/cm.yaml", "over the 2000-byte limit"),
        env={"GITOPS_MAX_FILE_BYTES": "2000"},
    )
    (repo / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nlimits: {maxFileBytes: 3000}\n')
    assert_refused(repo, "render", needles=("overlays/a/cm.yaml", "over the 3000-byte limit"))
    (repo / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nlimits: {maxFileBytes: 100000}\n')
    assert run_limited("render", cwd=repo).returncode == 0


def test_generator_source_over_the_size_limit_is_refused(repo: Path) -> None:
    (repo / "overlays/b/kustomization.yaml").write_text(
        "resources:\n- ../../base/app\nconfigMapGenerator:\n- name: blob\n  files:\n  - blob.bin\n"
    )
    (repo / "overlays/b/blob.bin").write_bytes(b"\xff" * 5000)
    assert_refused(
        repo,
        "render",
        needles=("overlays/b/blob.bin", "over the 4096-byte limit"),
        env={"GITOPS_MAX_FILE_BYTES": "4096"},
    )
    assert run_limited("render", cwd=repo).returncode == 0  # binary data is fine within the limit


def test_invalid_limit_settings_are_refused(repo: Path) -> None:
    assert_refused(
        repo, "render", needles=("GITOPS_BUILD_TIMEOUT=soon", "positive"), env={"GITOPS_BUILD_TIMEOUT": "soon"}
    )
    (repo / "gitops.yaml").write_text('kubernetesVersion: "1.33"\nlimits: {buildTimeoutSeconds: 0}\n')
    assert_refused(repo, "render", needles=("gitops.yaml", "/limits/buildTimeoutSeconds"))


def _hanging_kustomize(directory: Path) -> Path:
    """A kustomize that never finishes and leaves a grandchild: the process group must go, not only the child."""
    binary = directory / "kustomize"
    binary.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = version ]; then echo v5.5.0; exit 0; fi\n'
        f"echo $$ >> {directory}/pids\n"
        "sleep 600 &\n"
        f"echo $! >> {directory}/pids\n"
        "wait\n"
    )
    binary.chmod(0o755)
    return binary


def _alive(pids_file: Path) -> list[int]:
    pids = [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_a_hanging_build_is_killed_with_its_process_group(repo: Path, tmp_path: Path) -> None:
    binary = _hanging_kustomize(tmp_path)
    env = {"KUSTOMIZE": str(binary), "GITOPS_BUILD_TIMEOUT": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    assert_refused(repo, "render", "-j", "1", needles=("overlays/a", "killed after 1 s"), env=env)
    # one build started, timed out, and the queued one never ran
    assert len((tmp_path / "pids").read_text().split()) == 2
    deadline = time.monotonic() + 10
    while _alive(tmp_path / "pids") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(tmp_path / "pids") == []


def _flux_repo(root: Path) -> Path:
    """A Flux repository whose one cluster entry is built by kustomize (Flux's discovery builds it in a pool)."""
    sync = root / "clusters/c/flux-system/gotk-sync.yaml"
    sync.parent.mkdir(parents=True)
    sync.write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: flux-system, namespace: flux-system}\n"
        "spec: {path: ./clusters/c, sourceRef: {kind: GitRepository, name: flux-system}}\n"
    )
    (root / "gitops.yaml").write_text("")
    return root


@pytest.mark.parametrize("layout", ["directories", "flux"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_kills_running_builds_and_starts_no_more(
    repo: Path, tmp_path: Path, sig: signal.Signals, layout: str
) -> None:
    """Directory targets build in render's pool, Flux targets in discovery's: either way an interrupt kills the
    running build's process group and the run ends, not waiting for the pool's workers."""
    if layout == "flux":
        repo = _flux_repo(tmp_path / "flux-repo")
    binary = _hanging_kustomize(tmp_path)
    env = {**os.environ, "KUSTOMIZE": str(binary), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("GITOPS_DEBUG", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gitops", "render", "-j", "1"],
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(_alive(tmp_path / "pids")) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(_alive(tmp_path / "pids")) == 2
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert [line for line in stderr.splitlines() if line.strip()] == ["gitops: error: interrupted"]
    deadline = time.monotonic() + 10
    while _alive(tmp_path / "pids") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _alive(tmp_path / "pids") == []
    assert len((tmp_path / "pids").read_text().split()) == 2  # the queued target (if any) never started
    assert not (repo / "rendered").exists()
