"""The bad-input corpus: a small real repository, the CLI run under hard limits, and a disk snapshot.

Every case asserts the same contract: exit 2, one `gitops: error:` line naming the file and the cause,
no traceback, and not one byte changed on disk. The CLI runs with a wall-clock timeout and an address
space limit, so a regression into a hang or a memory blow-up fails the case instead of stalling CI.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.diff.support import init_repo
from tests.helpers import assert_one_line_error

WALL_SECONDS = 60
ADDRESS_SPACE = 3 * 1024 * 1024 * 1024  # the CLI and its kustomize children share this hard cap

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
"""

FILES = {
    "gitops.yaml": 'kubernetesVersion: "1.33"\n',
    "README.md": "# a repository\n",
    "base/app/kustomization.yaml": "resources:\n- deployment.yaml\n",
    "base/app/deployment.yaml": DEPLOYMENT,
    "overlays/a/kustomization.yaml": "namespace: a\nresources:\n- ../../base/app\n- cm.yaml\n",
    "overlays/a/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  MODE: a\n",
    "overlays/b/kustomization.yaml": "namespace: b\nresources:\n- ../../base/app\n",
}


def make_repo(root: Path, files: Mapping[str, str] | None = None) -> Path:
    """A committed git repository with two targets (overlays/a, overlays/b); `files` are added on top."""
    init_repo(root, FILES)
    for rel, content in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


def snapshot(root: Path) -> dict[str, bytes]:
    """Every path below root (links as their target, directories as a marker), with content.

    git's index is left out: read-only git commands may refresh its stat cache.
    """
    state: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if rel == ".git/index":
                continue
            if path.is_symlink():
                state[rel] = b"-> " + os.readlink(path).encode()
            elif path.is_dir():
                state[rel] = b"<dir>"
            else:
                state[rel] = path.read_bytes()
    return state


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def run_limited(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = WALL_SECONDS
) -> subprocess.CompletedProcess[str]:
    """`python -m gitops ARGS` under a hard wall-clock and address-space limit."""
    full_env = {k: v for k, v in os.environ.items() if k not in ("GITOPS_DEBUG", "KUSTOMIZE")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gitops", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def assert_refused(
    root: Path, *args: str, needles: tuple[str, ...], cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> str:
    """Run the CLI; exit 2, one line holding every needle, nothing on disk changed. Returns the line."""
    before = snapshot(root)
    proc = run_limited(*args, cwd=cwd or root, env=env)
    assert_one_line_error(proc, *needles)
    after = snapshot(root)
    assert after == before, sorted(set(after.items()) ^ set(before.items()))[:5]
    return proc.stderr.strip()
