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


def memo_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where facts that hold whichever render cache a run uses are remembered: kustomize binaries' versions
    and content digests, gitops.yaml contents that passed validation. The user's cache ($XDG_CACHE_HOME/gitops,
    else ~/.cache/gitops), never GITOPS_CACHE_DIR: a fresh render cache still knows them."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gitops"


# Records beside the render cache, bounded with it (cache.from_environment): render_record.py's and
# flux/record.py's.
RENDER_RECORDS = "records"
FLUX_RECORDS = "flux-records"
