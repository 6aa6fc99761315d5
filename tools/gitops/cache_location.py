"""Where gitops keeps what it remembers between runs, and whether it may (`--no-cache`, GITOPS_NO_CACHE)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_disabled = False


def set_enabled(enabled: bool) -> None:
    """`--no-cache` turns caching off for this process (the commands reset it when they finish)."""
    global _disabled
    _disabled = not enabled


def caching_enabled(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return not _disabled and env.get("GITOPS_NO_CACHE", "") in ("", "0")


def cache_directory(environ: Mapping[str, str] | None = None) -> Path:
    """$GITOPS_CACHE_DIR, else $XDG_CACHE_HOME/gitops, else ~/.cache/gitops."""
    env = os.environ if environ is None else environ
    if env.get("GITOPS_CACHE_DIR"):
        return Path(env["GITOPS_CACHE_DIR"])
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitops"
