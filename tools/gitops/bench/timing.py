"""Wall-clock helpers for the benchmark (never used in tests)."""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path


def measure(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of `repeat` calls, in seconds."""
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(argv: Sequence[str], **kwargs: object) -> None:
    """Run a command, failing the benchmark loudly if it fails."""
    proc = subprocess.run(list(argv), capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise SystemExit(f"bench: {' '.join(argv[:4])}... failed ({proc.returncode}): {proc.stderr.strip()[:300]}")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(map(str, header)), *[list(map(str, r)) for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cold_environment(work: Path) -> dict[str, str]:
    """The environment for a measured `gitops` run with nothing cached (a fresh, empty cache directory)."""
    return {**os.environ, "XDG_CACHE_HOME": tempfile.mkdtemp(prefix="cache-", dir=work)}
