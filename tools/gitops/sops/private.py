"""A private, memory-backed file for plaintext that must exist as a file (the `$EDITOR` of `secrets edit`).

Only a tmpfs/ramfs directory qualifies: $XDG_RUNTIME_DIR (per user, 0700) first, then /dev/shm. The file is
created 0600 with O_EXCL and removed on every exit path, including Ctrl-C and a crashing editor.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from gitops.errors import GitopsError

MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})
MOUNTS = Path("/proc/mounts")


def _unescape(field: str) -> str:
    # /proc/mounts writes space, tab, newline and backslash in octal
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def filesystem_type(path: Path, mounts: Path = MOUNTS) -> str | None:
    """The type of the filesystem `path` lives on: the longest mount point above it in /proc/mounts."""
    try:
        table = mounts.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    target = str(path.resolve())
    best, kind = "", None
    for line in table.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = _unescape(fields[1])
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def memory_directory(env: Mapping[str, str] | None = None, mounts: Path = MOUNTS) -> Path:
    env = os.environ if env is None else env
    candidates = [Path(env["XDG_RUNTIME_DIR"])] if env.get("XDG_RUNTIME_DIR") else []
    candidates.append(Path("/dev/shm"))
    for candidate in candidates:
        writable = candidate.is_dir() and os.access(candidate, os.W_OK | os.X_OK)
        if writable and filesystem_type(candidate, mounts) in MEMORY_FILESYSTEMS:
            return candidate
    raise GitopsError(
        "no memory-backed directory for the plaintext ($XDG_RUNTIME_DIR or /dev/shm on tmpfs); refusing to "
        "write it to disk"
    )


@contextlib.contextmanager
def private_file(text: str, suffix: str, directory: Path) -> Iterator[Path]:
    """A 0600 file holding `text` in `directory`, removed when the block exits however it exits."""
    fd, name = tempfile.mkstemp(prefix="gitops-edit-", suffix=suffix, dir=directory)
    path = Path(name)
    try:
        os.fchmod(fd, 0o600)
        # surrogateescape: a binary file's bytes that are not UTF-8 go to the editor as they were
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape", newline="") as handle:
            handle.write(text)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
