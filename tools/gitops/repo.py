"""Locating the repository root and resolving paths inside it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitops.errors import GitopsError
from gitops.paths import CONFIG_FILE

if TYPE_CHECKING:  # loading the config pulls in its schema validator, which `gitops secrets` never needs
    from gitops.config import RepoConfig

ROOT_MARKERS = (CONFIG_FILE, ".git")


def find_root(start: Path | None = None) -> Path:
    """The nearest directory at or above `start` holding gitops.yaml or .git."""
    here = (start or Path.cwd()).resolve()
    if start is not None and not here.is_dir():
        raise GitopsError(f"{start}: not a directory")
    for candidate in (here, *here.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    if start is not None:
        return here
    raise GitopsError(f"{here}: not inside a repository (no gitops.yaml or .git above it)")


def root_from_context(ctx: click.Context) -> Path:
    """The repository root chosen with `gitops -C DIR`, else found from the current directory.

    Every command starts here, so every command validates gitops.yaml: a broken config is reported
    whatever the command, not only by the one that happens to need a setting.
    """
    return _context_state(ctx)[0]


def config_from_context(ctx: click.Context) -> RepoConfig:
    """gitops.yaml of the repository the command runs on, validated once per run."""
    return _context_state(ctx)[1]


def _context_state(ctx: click.Context) -> tuple[Path, RepoConfig]:
    obj = ctx.find_root().obj
    if obj is None:
        obj = ctx.find_root().obj = {}
    if "config" not in obj:
        from gitops.config import load_config

        root = find_root(obj.get("repo"))
        obj["root"], obj["config"] = root, load_config(root)
    return obj["root"], obj["config"]


def relative(path: Path, root: Path) -> str:
    """Repository-relative POSIX path, or the path as given when it lies outside the root."""
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path)
