"""The render output directory: only ever one that gitops made (it carries a marker file) or an empty one.

`render --out DIR` replaces DIR as a whole, so a wrong DIR (the checkout, a source tree, a file) would
be data loss. Staging folders (`.<name>-<pid>-*` beside DIR) of a killed run are removed by the next
run once their process is gone.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from gitops.errors import GitopsError
from gitops.paths import TARGET_ROOTS
from gitops.targets import KUSTOMIZATION_FILES, kustomization_file

MARKER = ".gitops-rendered"
MARKER_TEXT = "Written by `gitops render`; this directory is replaced as a whole on every render.\n"


def check_output_dir(out_dir: Path, repo_root: Path, shown: str) -> Path:
    """The resolved output directory, or GitopsError (exit 2) when writing there could destroy anything."""
    out = Path(os.path.abspath(out_dir))
    for ancestor in [out, *out.parents]:
        if ancestor.exists() and not ancestor.is_dir():
            what = "is a file" if ancestor == out else f"lies under the file {ancestor}"
            raise GitopsError(f"{shown}: {what}; --out needs a directory")
    out = out.resolve()
    root = repo_root.resolve()
    if out == root or out in root.parents:
        raise GitopsError(f"{shown}: is the repository root or above it; --out needs a directory of its own")
    if ".git" in out.parts:
        raise GitopsError(f"{shown}: lies inside .git")
    if out.is_relative_to(root):
        parts = out.relative_to(root).parts
        if parts[0] in TARGET_ROOTS or any(
            kustomization_file(root.joinpath(*parts[:n])) is not None for n in range(1, len(parts) + 1)
        ):
            raise GitopsError(f"{shown}: lies in a source tree (kustomizations are read from there)")
    if out.is_dir() and not (out / MARKER).is_file() and any(out.iterdir()) and not _earlier_render(out):
        raise GitopsError(
            f"{shown}: directory exists, is not empty and was not written by gitops render (no {MARKER});"
            " choose an empty or new directory"
        )
    return out


def _earlier_render(out: Path) -> bool:
    """Output of a gitops render from before the marker: only <overlays|clusters>/.../<target>.yaml files."""
    for dirpath, _, filenames in os.walk(out):
        rel = Path(dirpath).relative_to(out)
        for name in filenames:
            if not rel.parts or rel.parts[0] not in TARGET_ROOTS or not name.endswith(".yaml"):
                return False
            if name in KUSTOMIZATION_FILES:
                return False
    return True


def new_staging(out_dir: Path) -> Path:
    """An empty, marked staging directory beside `out_dir` (same file system, so it can be renamed in)."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(out_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"{_staging_prefix(out_dir)}{os.getpid()}-", dir=out_dir.parent))
    mark(staging)
    return staging


def mark(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text(MARKER_TEXT, encoding="utf-8")


def _staging_prefix(out_dir: Path) -> str:
    return f".{out_dir.name}-"


def remove_stale_staging(out_dir: Path) -> None:
    """Delete staging folders of runs that no longer exist (a killed render leaves them behind)."""
    prefix = _staging_prefix(out_dir)
    try:
        entries = list(os.scandir(out_dir.parent))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(prefix) or not entry.is_dir(follow_symlinks=False):
            continue
        pid = entry.name[len(prefix) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)) or not os.path.isfile(os.path.join(entry.path, MARKER)):
            continue
        shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
