"""Diff benchmark: a one-line change in one overlay of the 200-instance synthetic repository.

`gitops diff --base HEAD` (cold process: git worktree, input digests of every target on both sides,
two builds, comparison) against the floor it cannot beat: building that one overlay twice with kustomize.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gitops.bench.synthetic import write_synthetic_repo
from gitops.bench.timing import cold_environment, measure, run, table
from gitops.kustomize import BUILD_FLAGS, find_kustomize

INSTANCES = 200
DIFF_GOAL_RATIO = 2.0
CHANGED = "overlays/instance-100"


def _git(repo: Path, *args: str) -> None:
    run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args], cwd=repo)


def bench_diff(repo: Path, work: Path, repeat: int = 3) -> list[str]:
    tool = find_kustomize()
    synthetic = work / "diff-repo"
    write_synthetic_repo(repo, synthetic, INSTANCES)
    _git(synthetic, "init", "-q", "-b", "main")
    _git(synthetic, "add", "-A")
    _git(synthetic, "commit", "-q", "-m", "synthetic")
    overlay = synthetic / CHANGED / "kustomization.yaml"
    text = overlay.read_text(encoding="utf-8")
    changed = text.replace("value: 2\n", "value: 5\n", 1)  # one line: the web replicas
    if changed == text:
        raise SystemExit(f"bench: {CHANGED} has no 'value: 2' line to change")
    overlay.write_text(changed, encoding="utf-8")

    def build_twice() -> None:
        for _ in range(2):
            run([*tool.argv, str(synthetic / CHANGED), *BUILD_FLAGS])

    def gitops_diff() -> None:
        argv = [sys.executable, "-m", "gitops", "-C", str(synthetic), "diff", "--base", "HEAD", "-o", "json"]
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=cold_environment(work))
        if proc.returncode != 1 or '"targetsRendered": 1,' not in proc.stdout:
            raise SystemExit(f"bench: gitops diff did not report the change ({proc.returncode}): {proc.stderr[:300]}")

    baseline = measure(build_twice, repeat)
    ours = measure(gitops_diff, repeat)
    ratio = ours / baseline
    met = "met" if ratio <= DIFF_GOAL_RATIO else "NOT met"
    return [
        f"diff: one-line change in {CHANGED} of {INSTANCES} instances; gitops diff (cold process) vs "
        f"`{' '.join(tool.argv)}` of that overlay twice, median of {repeat}",
        table(["kustomize x2", "gitops diff", "ratio"], [[f"{baseline:.2f}s", f"{ours:.2f}s", f"{ratio:.2f}x"]]),
        f"goal: <= {DIFF_GOAL_RATIO:.1f}x -> {ratio:.2f}x ({met})",
    ]
