"""The real git, used read-only on the user's checkout: resolve refs and check a commit out elsewhere.

A ref is checked out with `git worktree add --detach` into a fresh temporary directory outside the
repository. That writes only under .git/worktrees/<name> (its own HEAD and index), never the user's
working tree, index, HEAD or stash; the worktree is removed and pruned afterwards, whatever happens.
Hooks are switched off for these commands so a post-checkout hook cannot run against the temporary tree.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gitops.errors import GitopsError

# --no-optional-locks: even `git status` must not refresh (rewrite) the user's index.
_WORKTREE_LOCK = threading.Lock()
_QUIET_CONFIG = ("--no-optional-locks", "-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false")


@dataclass(frozen=True)
class Repository:
    """A git working tree: its top level, and where the gitops root sits inside it."""

    toplevel: Path
    prefix: str
    """POSIX path of the gitops root relative to `toplevel` ("" when they are the same directory)."""

    def root_in(self, checkout: Path) -> Path:
        """The gitops root inside another checkout of the same repository."""
        return checkout / self.prefix if self.prefix else checkout


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["git", *_QUIET_CONFIG, *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise GitopsError(f"git: cannot run git: {exc.strerror}") from None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip().removeprefix("fatal: ").removeprefix("error: ")
    return ""


def open_repository(root: Path) -> Repository:
    """The git repository holding the gitops root `root`."""
    proc = _git(root, "rev-parse", "--show-toplevel")
    if proc.returncode != 0:
        raise GitopsError(f"{root}: not inside a git repository ({_first_line(proc.stderr) or 'git rev-parse failed'})")
    toplevel = Path(proc.stdout.strip()).resolve()
    prefix = root.resolve().relative_to(toplevel).as_posix()
    return Repository(toplevel, "" if prefix == "." else prefix)


def resolve(repo: Repository, ref: str) -> str:
    """The full commit id `ref` names; a GitopsError naming the ref when it names none."""
    if not ref or ref.startswith("-") or "\n" in ref:
        raise GitopsError(f"{ref!r}: not a valid git ref")
    proc = _git(repo.toplevel, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GitopsError(f"{ref}: no such commit in {repo.toplevel} (fetch it, or check the name)")
    return proc.stdout.strip()


def head_commit(repo: Repository) -> str | None:
    """The commit HEAD points at (None in a repository without commits)."""
    proc = _git(repo.toplevel, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def short(commit: str) -> str:
    return commit[:12]


@contextmanager
def checkout(repo: Repository, commit: str) -> Iterator[Path]:
    """A detached temporary worktree of `commit`; yields the gitops root inside it. Always cleaned up."""
    scratch = Path(tempfile.mkdtemp(prefix="gitops-diff-"))
    tree = scratch / scratch.name  # git names .git/worktrees/<basename>: unique, so checkouts can run at once
    try:
        proc = _add_worktree(repo, tree, commit)
        if proc.returncode != 0:
            raise GitopsError(f"{short(commit)}: git worktree add failed: {_first_line(proc.stderr)}")
        yield repo.root_in(tree)
    finally:
        with _WORKTREE_LOCK:
            if tree.exists():
                _git(repo.toplevel, "worktree", "remove", "--force", str(tree))
            shutil.rmtree(scratch, ignore_errors=True)
            _git(repo.toplevel, "worktree", "prune")


def _add_worktree(repo: Repository, tree: Path, commit: str) -> subprocess.CompletedProcess[str]:
    """`git worktree add`, one at a time: git reads every other worktree's admin directory while adding one
    and fails on a half-created one. Another process doing the same can still collide, hence the retries."""
    for attempt in range(4):
        with _WORKTREE_LOCK:
            proc = _git(repo.toplevel, "worktree", "add", "--detach", "--quiet", str(tree), commit)
        if proc.returncode == 0 or "failed to read" not in proc.stderr or attempt == 3:
            return proc
        shutil.rmtree(tree, ignore_errors=True)
        time.sleep(0.05 * (attempt + 1))
    return proc


def changed_paths(repo: Repository, base: str, head: str | None) -> set[str]:
    """Paths (relative to the gitops root) that differ from `base` to `head`, or to the working tree when
    `head` is None (then untracked, not ignored, files count as changed too)."""
    scope = repo.prefix or "."
    args = ["diff", "--name-only", "-z", "--no-renames", "--no-ext-diff", base, *([head] if head else []), "--", scope]
    proc = _git(repo.toplevel, *args)
    if proc.returncode != 0:
        raise GitopsError(f"{short(base)}: git diff failed: {_first_line(proc.stderr)}")
    paths = [p for p in proc.stdout.split("\0") if p]
    if head is None:
        untracked = _git(repo.toplevel, "ls-files", "--others", "--exclude-standard", "-z", "--", scope)
        paths += [p for p in untracked.stdout.split("\0") if p]
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    return {p[len(prefix) :] for p in paths if p.startswith(prefix)}


def is_dirty(repo: Repository) -> bool:
    """Whether the working tree differs from HEAD (tracked changes or untracked, not ignored, files)."""
    proc = _git(repo.toplevel, "status", "--porcelain", "--untracked-files=normal", "--", repo.prefix or ".")
    return proc.returncode == 0 and bool(proc.stdout.strip())
