"""Test helpers: building small repositories on disk and running the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


def write_tree(root: Path, files: Mapping[str, str]) -> Path:
    """Write {relative path: content} under root (content is dedented). Returns root."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    (root / "gitops.yaml").touch()
    return root


def run_gitops(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m gitops` as a user would, capturing output."""
    full_env = dict(os.environ)
    full_env.pop("GITOPS_DEBUG", None)
    if env is not None:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "gitops", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        check=False,
    )


_RUN_AND_LIST_MODULES = """
import json, sys
from gitops.cli import main
sys.argv = ["gitops", *sys.argv[1:]]
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def modules_imported_by(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> tuple[int, set[str]]:
    """Run `gitops ARGS` in a fresh interpreter: its exit code and every module it imported."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("GITOPS_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST_MODULES, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stderr.splitlines()[-1])
    return report["code"], set(report["modules"])


def loaded(modules: set[str], names: Iterable[str]) -> set[str]:
    """Which of `names` (modules or packages) are among `modules`."""
    return {name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules)}


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit 2, a single `gitops: error:` line on stderr containing every needle, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("gitops: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
