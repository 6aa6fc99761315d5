"""Render benchmark: `gitops render` (cold, whole process) vs a plain sequential `kustomize build` loop."""

from __future__ import annotations

import sys
from pathlib import Path

from gitops.bench.synthetic import write_synthetic_repo
from gitops.bench.timing import cold_environment, measure, run, table
from gitops.kustomize import BUILD_FLAGS, find_kustomize
from gitops.render import default_jobs

GOAL_N = 50
RENDER_GOAL_RATIO = 0.6


def bench_render(repo: Path, work: Path, sizes: tuple[int, ...]) -> list[str]:
    tool = find_kustomize()
    rows = []
    verdict = []
    for n in sizes:
        synthetic = work / f"render-{n}"
        targets = write_synthetic_repo(repo, synthetic, n)
        repeat = 3 if n <= GOAL_N else 1

        def sequential_loop(synthetic: Path = synthetic, targets: list[str] = targets) -> None:
            for target in targets:
                run([*tool.argv, str(synthetic / target), *BUILD_FLAGS])

        def gitops_render(synthetic: Path = synthetic) -> None:
            run([sys.executable, "-m", "gitops", "-C", str(synthetic), "render"], env=cold_environment(work))

        baseline = measure(sequential_loop, repeat)
        ours = measure(gitops_render, repeat)
        ratio = ours / baseline
        rows.append([n, len(targets), f"{baseline:.2f}s", f"{ours:.2f}s", f"{ratio:.2f}x"])
        if n == GOAL_N:
            met = "met" if ratio <= RENDER_GOAL_RATIO else "NOT met"
            verdict.append(f"goal at N={GOAL_N}: <= {RENDER_GOAL_RATIO:.2f}x -> {ratio:.2f}x ({met})")
    header = ["instances", "targets", "kustomize loop", "gitops render", "ratio"]
    return [
        f"render: gitops render (cold process, -j {default_jobs()}) vs sequential `{' '.join(tool.argv)}` "
        f"v{tool.version}, median of 3 (1 at N>{GOAL_N})",
        table(header, rows),
        *verdict,
    ]
