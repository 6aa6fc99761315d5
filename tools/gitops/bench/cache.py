"""Render-cache benchmark (issue 16), every figure from one run, per synthetic repository size N.

Baselines measured in the same run: a kustomize build of the changed overlay (once and twice), and the
strongest plain-shell loop (`xargs -P2`, GOGC=off). Each gitops figure is a whole process, as a user runs it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from gitops.bench.synthetic import write_synthetic_repo
from gitops.bench.timing import measure, run, table
from gitops.kustomize import BUILD_FLAGS, Kustomize, find_kustomize
from gitops.render import write_origin_wrapper

CHANGED_INDEX = 7
GOALS = (
    "nothing changed <= 0.05x cold (N>=200); one-line change <= 2x one build + process start; "
    "diff <= 2x two builds; one named target <= 2x one build; cold <= 0.9x xargs -P2 loop"
)


def _git(repo: Path, *args: str) -> None:
    run(["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args], cwd=repo)


def _gitops(repo: Path, cache_dir: Path, *args: str, codes: tuple[int, ...] = (0,)) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GITOPS_NO_CACHE"}
    env["GITOPS_CACHE_DIR"] = str(cache_dir)
    argv = [sys.executable, "-m", "gitops", "-C", str(repo), *args]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if proc.returncode not in codes:
        raise SystemExit(f"bench: gitops {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()[:300]}")


def _disk_usage(directory: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in directory.rglob("*") if p.is_file())


HEADER = (
    "cold render",
    "xargs -P2 GOGC=off loop (cold/loop)",
    "same loop, origin-wrapped builds (cold/loop)",
    "nothing changed (/cold)",
    "one-line change (/one build + process start)",
    "diff after it (/two builds)",
    "one named target, no cache (/one build)",
    "check cold/warm",
    "cache on disk",
)


def bench_cache(repo: Path, work: Path, sizes: tuple[int, ...]) -> Iterator[str]:
    """Lines of the report, each size as soon as it is measured (N=1,000 takes minutes)."""
    tool = find_kustomize()
    yield f"cache: gitops render/diff/check vs `{' '.join(tool.argv)}` v{tool.version}; goals: {GOALS}"
    for n in sizes:
        row, note = _one_size(repo, work, n, tool)
        yield f"N={n}: {note}"
        yield table(["figure", "measured"], [[h, v] for h, v in zip(HEADER, row, strict=True)])


def _one_size(repo: Path, work: Path, n: int, tool: Kustomize) -> tuple[list[str], str]:
    synthetic = work / f"cache-{n}"
    targets = write_synthetic_repo(repo, synthetic, n)
    _git(synthetic, "init", "-q", "-b", "main")
    _git(synthetic, "add", "-A")
    _git(synthetic, "commit", "-q", "-m", "synthetic")
    changed = synthetic / targets[min(CHANGED_INDEX, len(targets) - 1)]
    overlay = changed / "kustomization.yaml"
    original = overlay.read_text(encoding="utf-8")
    edited = original.replace("  value: ", "  value: 1", 1)  # one line: the web replicas
    warm, checked = work / f"warm-{n}", work / f"checked-{n}"

    listing = work / f"targets-{n}.txt"
    listing.write_text("".join(f"{synthetic / t}\n" for t in targets), encoding="utf-8")
    xargs = f"xargs -P2 -I{{}} {' '.join(tool.argv)} {{}} {' '.join(BUILD_FLAGS)} > /dev/null < {listing}"
    loop = measure(lambda: run(["bash", "-c", xargs], env={**os.environ, "GOGC": "off"}), 1)
    # What a cold render must do at least: the builds it caches carry origin annotations (one entry serves
    # render, check and diff), through a wrapper kustomization as render.py writes it.
    wrapped = work / f"wrappers-{n}.txt"
    wrappers = [work / f"wrap-{n}" / str(i) for i in range(len(targets))]
    for wrapper, target in zip(wrappers, targets, strict=True):
        write_origin_wrapper(wrapper, synthetic / target)
    wrapped.write_text("".join(f"{w}\n" for w in wrappers), encoding="utf-8")
    wrapped_xargs = xargs.replace(str(listing), str(wrapped))
    origin_loop = measure(lambda: run(["bash", "-c", wrapped_xargs], env={**os.environ, "GOGC": "off"}), 1)

    cold = measure(lambda: _gitops(synthetic, warm, "render"), 1)
    unchanged = measure(lambda: _gitops(synthetic, warm, "render"), 3)
    start = measure(lambda: run([sys.executable, "-m", "gitops", "--version"]), 3)
    once = measure(lambda: _build(tool, changed, 1), 3)
    twice = measure(lambda: _build(tool, changed, 2), 3)
    named = measure(lambda: _gitops(synthetic, _empty(work), "render", str(changed), "--out", "-"), 3)

    overlay.write_text(edited, encoding="utf-8")
    one_line = measure(lambda: _gitops(synthetic, warm, "render"), 1)
    overlay.write_text(original, encoding="utf-8")
    check_cold = measure(lambda: _gitops(synthetic, checked, "check", codes=(0, 1)), 1)
    check_warm = measure(lambda: _gitops(synthetic, checked, "check", codes=(0, 1)), 1)
    overlay.write_text(edited, encoding="utf-8")
    # as in CI after main was checked once: the base side is cached, the changed target is not
    diff = measure(lambda: _gitops(synthetic, checked, "diff", "--base", "HEAD", codes=(1,)), 1)
    overlay.write_text(original, encoding="utf-8")
    size = _disk_usage(warm) + _disk_usage(checked)
    row = [
        f"{cold:.2f}s",
        f"{loop:.2f}s ({cold / loop:.2f}x)",
        f"{origin_loop:.2f}s ({cold / origin_loop:.2f}x)",
        f"{unchanged:.2f}s ({unchanged / cold:.3f}x)",
        f"{one_line:.2f}s ({one_line / (once + start):.2f}x)",
        f"{diff:.2f}s ({diff / twice:.2f}x)",
        f"{named:.2f}s ({named / once:.2f}x)",
        f"{check_cold:.2f}s/{check_warm:.2f}s ({check_warm / check_cold:.2f}x)",
        f"{size / 2**20:.1f} MiB",
    ]
    return row, f"one build {once:.3f}s, two builds {twice:.3f}s, process start {start:.3f}s"


def _build(tool: Kustomize, directory: Path, times: int) -> None:
    for _ in range(times):
        run([*tool.argv, str(directory), *BUILD_FLAGS])


def _empty(work: Path) -> Path:
    return Path(tempfile.mkdtemp(prefix="cache-", dir=work))
