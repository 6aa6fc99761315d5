"""Flux benchmark (issue 12): the synthetic Flux repository of bench/synthetic_flux.py, 3 clusters x 100 apps.

`gitops` is called through its CLI as a cold process, so the numbers follow whatever target discovery and build
semantics the installed `gitops` has. The baselines build every Flux Kustomization's spec.path with the real
kustomize, in a copy of the repository where the kustomization.yaml Flux would generate is already written
(untimed, which only makes the baselines stronger):
- a sequential `kustomize build` loop (the issue's goal: cold render <= 0.6x of it on 2 cores);
- `xargs -P<CPUs>` with GOGC=off, the strongest plain shell loop (for reference, no goal).
`render --list` is measured cold (an empty cache, as the goal is stated) and warm (after a render).
The diff goal is measured as in CI after main has been rendered once: the base's builds are in the render
cache, the changed target's are not (each run starts from that cache again); a diff with nothing cached is
shown for reference.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops.bench.synthetic_flux import SyntheticFluxRepo, generate_flux
from gitops.bench.timing import cold_environment, measure, run
from gitops.kustomize import BUILD_FLAGS, Kustomize, find_kustomize

RENDER_GOAL = 0.6
LIST_GOAL_SECONDS = 0.5
DIFF_GOAL = 2.0
GITOPS_TIMEOUT_SECONDS = 900
# The one-line change of the diff section: the replicas patch of one overlay in the middle of this cluster.
CHANGED_CLUSTER = "production"


@dataclass
class Outcome:
    """The last run of a measured `gitops` command."""

    returncode: int = 0
    stdout: str = ""
    stderr: str = ""

    def summary(self) -> str:
        detail = self.stderr.strip().splitlines()[-1:] if self.returncode not in (0, 1) else []
        return f"exit {self.returncode}" + (f": {detail[0][:200]}" if detail else "")


def _gitops(root: Path, work: Path, *args: str, cache_home: Path | None = None) -> tuple[Callable[[], None], Outcome]:
    """A callable running `gitops -C root ARGS` cold, and where it leaves its outcome (not raising: a
    repository today's gitops cannot handle is reported, not a crash of the bench).

    `cache_home`: the XDG_CACHE_HOME to use instead of a fresh, empty one."""
    outcome = Outcome()

    def call() -> None:
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "gitops", "-C", str(root), *args],
                capture_output=True,
                text=True,
                check=False,
                env=cold_environment(work) if cache_home is None else {**os.environ, "XDG_CACHE_HOME": str(cache_home)},
                timeout=GITOPS_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise SystemExit(f"bench: gitops {' '.join(args)} ran over {GITOPS_TIMEOUT_SECONDS} s") from None
        outcome.returncode, outcome.stdout, outcome.stderr = proc.returncode, proc.stdout, proc.stderr

    return call, outcome


def ratio_line(name: str, ours: float, baseline: float, goal: float | None, caveat: str = "") -> str:
    """`<name>: <ours> s vs <baseline> s = <ratio>× (goal ≤ X)`, as the issue's goals are stated.

    A caveat replaces met/NOT met: a gitops that did less work than the baseline has not met anything."""
    ratio = ours / baseline
    return f"{name}: {ours:.2f} s vs {baseline:.2f} s = {ratio:.2f}× ({_verdict(ratio, goal, '×', caveat)})"


def _verdict(value: float, goal: float | None, unit: str, caveat: str) -> str:
    if goal is None:
        return "reference, no goal"
    return f"goal ≤ {goal:g}{unit}, " + (
        f"not comparable: {caveat}" if caveat else "met" if value <= goal else "NOT met"
    )


def _sequential(tool: Kustomize, paths: list[str]) -> Callable[[], None]:
    def loop() -> None:
        for path in paths:
            run([*tool.argv, path, *BUILD_FLAGS])

    return loop


def _xargs(tool: Kustomize, paths: list[str]) -> Callable[[], None]:
    jobs = str(os.cpu_count() or 1)
    env = {**os.environ, "GOGC": "off"}

    def loop() -> None:
        # kustomize takes its flags before the directory too, so xargs can append the path.
        argv = ["xargs", "-0", f"-P{jobs}", "-n1", *tool.argv, *BUILD_FLAGS]
        run(argv, input="\0".join(paths), env=env)

    return loop


def _git(root: Path, *args: str) -> None:
    run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args], cwd=root)


def _change_one_line(repo: SyntheticFluxRepo) -> Path:
    overlays = [
        k for k in repo.kustomizations[len(repo.clusters) :] if k.cluster == CHANGED_CLUSTER and k.has_kustomization
    ]
    overlay = repo.root / overlays[len(overlays) // 2].path
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text(encoding="utf-8")
    marker = "      path: /spec/replicas\n      value: "
    start = text.index(marker) + len(marker)
    end = text.index("\n", start)
    kustomization.write_text(f"{text[:start]}{int(text[start:end]) + 3}{text[end:]}", encoding="utf-8")
    return overlay


def _diff_summary(outcome: Outcome) -> str:
    try:
        summary = json.loads(outcome.stdout).get("summary", {})
    except (ValueError, AttributeError):
        return outcome.summary()
    counts = ", ".join(f"{key} {summary.get(key)}" for key in ("targetsChanged", "targetsRendered"))
    return f"{outcome.summary()}, {counts}"


def bench_flux(work: Path, apps_per_cluster: int = 100, repeat: int = 1) -> list[str]:
    tool = find_kustomize()
    repo = generate_flux(work / "flux-repo", apps_per_cluster)
    built = generate_flux(work / "flux-repo-generated", apps_per_cluster, flux_generated=True)
    paths = [str(built.root / ks.path) for ks in built.kustomizations]
    cpus = os.cpu_count() or 1
    lines = [
        f"flux: synthetic Flux repository, {len(repo.clusters)} clusters, {len(repo.kustomizations)} Flux "
        f"Kustomizations ({sum(not k.has_kustomization for k in repo.kustomizations)} without kustomization.yaml); "
        f"`{' '.join(tool.argv)}` v{tool.version}, {cpus} CPUs, median of {repeat}"
    ]

    sequential = measure(_sequential(tool, paths), repeat)
    parallel = measure(_xargs(tool, paths), repeat)
    render, render_outcome = _gitops(repo.root, work, "render")
    ours = measure(render, repeat)
    listing, list_outcome = _gitops(repo.root, work, "render", "--list")
    list_seconds = measure(listing, max(repeat, 3))
    found = len([line for line in list_outcome.stdout.splitlines() if line.strip()])
    total = len(repo.kustomizations)
    caveat = "" if found >= total and render_outcome.returncode == 0 else f"{found} of {total} targets"
    lines += [
        ratio_line("flux render (cold) vs sequential kustomize", ours, sequential, RENDER_GOAL, caveat),
        ratio_line(f"flux render (cold) vs xargs -P{cpus} GOGC=off", ours, parallel, None),
        f"flux render --list: {list_seconds:.2f} s ({_verdict(list_seconds, LIST_GOAL_SECONDS, ' s', caveat)})",
        f"  note: gitops render {render_outcome.summary()}; render --list {list_outcome.summary()}, "
        f"{found} lines listed for {total} Flux Kustomizations"
        + ("" if found >= total else " (this gitops does not discover Flux targets yet)"),
    ]

    _git(repo.root, "init", "-q", "-b", "main")
    _git(repo.root, "add", "-A")
    _git(repo.root, "commit", "-q", "-m", "synthetic Flux repository")
    # as in CI after main has been rendered once: every build of the base is cached, the changed target's is not
    warm = Path(tempfile.mkdtemp(prefix="cache-warm-", dir=work))
    warm_render, warm_outcome = _gitops(repo.root, work, "render", cache_home=warm)
    warm_render()
    warm_listing, _ = _gitops(repo.root, work, "render", "--list", cache_home=warm)
    warm_list_seconds = measure(warm_listing, max(repeat, 3))
    lines.append(
        f"flux render --list (warm: render cache and source memo of a previous render): {warm_list_seconds:.2f} s "
        f"({_verdict(warm_list_seconds, LIST_GOAL_SECONDS, ' s', caveat)})"
    )
    overlay = _change_one_line(repo)

    def build_twice() -> None:
        for _ in range(2):
            run([*tool.argv, str(overlay), *BUILD_FLAGS])

    changed = overlay.relative_to(repo.root)
    twice = measure(build_twice, max(repeat, 3))
    diff_args = ("diff", "--base", "HEAD", "-o", "json")
    samples = []
    for _ in range(max(repeat, 3)):
        # each run starts from the warmed cache again (copied untimed): the changed target stays uncached
        home = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
        shutil.copytree(warm, home, dirs_exist_ok=True)
        diff, diff_outcome = _gitops(repo.root, work, *diff_args, cache_home=home)
        samples.append(measure(diff, 1))
    diff_seconds = statistics.median(samples)
    cold_diff, cold_outcome = _gitops(repo.root, work, *diff_args)
    cold_seconds = measure(cold_diff, 1)
    seen = "" if diff_outcome.returncode == 1 else "the change was not seen"
    lines += [
        ratio_line(
            f"flux diff (one line in {changed}; base rendered once before) vs kustomize of it x2",
            diff_seconds,
            twice,
            DIFF_GOAL,
            seen,
        ),
        ratio_line("flux diff (nothing cached) vs kustomize of it x2", cold_seconds, twice, None),
        f"  note: warming gitops render {warm_outcome.summary()}; gitops diff --base HEAD "
        f"{_diff_summary(diff_outcome)} (exit 1 = changes found, 0 = none seen); nothing cached: "
        f"{_diff_summary(cold_outcome)}",
    ]
    return lines
