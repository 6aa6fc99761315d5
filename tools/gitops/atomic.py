"""Replacing a file so that readers see the old content or the new, never a torn write."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` (UTF-8, newlines as given) to a temp file beside `path`, fsync it, then rename it over.

    An existing file keeps its permission bits; a new one gets what a plain open() would give (0666 minus
    the umask) rather than mkstemp's private 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = _exclusive_temp(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _exclusive_temp(path: Path) -> tuple[int, str]:
    """What tempfile.mkstemp does (a fresh random name opened O_EXCL, mode 0600) without importing tempfile,
    whose shutil and random imports cost `gitops secrets encrypt -i` a tenth of its start-up."""
    while True:
        temp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            return os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), temp
        except FileExistsError:
            continue


def _umask() -> int:
    # The umask can only be read by setting it; put it straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current
