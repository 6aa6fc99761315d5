"""The real git, used read-only on the user's checkout: resolve refs and check a commit out elsewhere.

A ref is checked out with `git worktree add --detach` into a fresh temporary directory outside the
repository. That writes only under .git/worktrees/<name> (its own HEAD and index), never the user's
working tree, index, HEAD or stash; the worktree is removed and pruned afterwards, whatever happens.
Hooks are switched off for these commands so a post-checkout hook cannot run against the temporary tree.
A commit's files can also be read without any checkout (`git ls-tree` + `git cat-file --batch`; the diff's
base side reads them so, through gitops.commit_files).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
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


@dataclass(frozen=True)
class Listing:
    files: frozenset[str]
    """Regular files of the commit below the gitops root (root-relative POSIX paths)."""
    has_links: bool
    """Whether the commit holds symlinks or submodules there (then only a real checkout is faithful)."""


def list_files(repo: Repository, commit: str) -> Listing:
    """Every file of `commit` below the gitops root, from git's objects (no checkout)."""
    scope = repo.prefix or "."
    proc = _git(repo.toplevel, "ls-tree", "-r", "-z", "--full-tree", commit, "--", scope)
    if proc.returncode != 0:
        raise GitopsError(f"{short(commit)}: git ls-tree failed: {_first_line(proc.stderr)}")
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    files, links = set(), False
    for entry in proc.stdout.split("\0"):
        meta, _, path = entry.partition("\t")
        if not path or not path.startswith(prefix):
            continue
        if meta.split(" ", 1)[0] in ("100644", "100755"):
            files.add(path[len(prefix) :])
        else:
            links = True
    return Listing(frozenset(files), links)


def tree_id(repo: Repository, commit: str) -> str | None:
    """The id of `commit`'s tree at the gitops root (None when the commit has no such directory): two commits
    with the same tree id hold the same files there."""
    proc = _git(repo.toplevel, "rev-parse", "--verify", "--quiet", f"{commit}^{{tree}}:{repo.prefix}")
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def tree_entries(repo: Repository, commit: str) -> dict[str, tuple[str, str]]:
    """Every entry of `commit` below the gitops root: root-relative path -> (mode, object id)."""
    scope = repo.prefix or "."
    proc = _git(repo.toplevel, "ls-tree", "-r", "-z", "--full-tree", commit, "--", scope)
    if proc.returncode != 0:
        raise GitopsError(f"{short(commit)}: git ls-tree failed: {_first_line(proc.stderr)}")
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    entries = {}
    for entry in proc.stdout.split("\0"):
        meta, _, path = entry.partition("\t")
        fields = meta.split(" ")
        if path.startswith(prefix) and len(fields) == 3:
            entries[path[len(prefix) :]] = (fields[0], fields[2])
    return entries


def ignored_paths(repo: Repository) -> list[str]:
    """Ignored files of the working tree below the gitops root, root-relative; a wholly ignored directory is
    one entry ending in "/" (its content is not listed)."""
    scope = repo.prefix or "."
    proc = _git(repo.toplevel, "ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--directory", scope)
    if proc.returncode != 0:
        raise GitopsError(f"git ls-files failed: {_first_line(proc.stderr)}")
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    return [p[len(prefix) :] for p in proc.stdout.split("\0") if p.startswith(prefix) and p != prefix]


def existing(repo: Repository, commit: str, paths: Sequence[str]) -> set[str]:
    """Which of the root-relative `paths` are files (or symlinks, submodules) of `commit`."""
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    found: set[str] = set()
    for start in range(0, len(paths), _PATHS_PER_CALL):
        chunk = [f":(literal){prefix}{p}" for p in paths[start : start + _PATHS_PER_CALL]]
        proc = _git(repo.toplevel, "ls-tree", "-r", "-z", "--name-only", "--full-tree", commit, "--", *chunk)
        if proc.returncode != 0:
            raise GitopsError(f"{short(commit)}: git ls-tree failed: {_first_line(proc.stderr)}")
        found.update(p[len(prefix) :] for p in proc.stdout.split("\0") if p.startswith(prefix) and p)
    return found & set(paths)


def read_files(repo: Repository, commit: str, paths: Sequence[str]) -> dict[str, bytes]:
    """The content of root-relative `paths` at `commit`, through one `git cat-file --batch`."""
    if not paths:
        return {}
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    request = "".join(f"{commit}:{prefix}{path}\n" for path in paths).encode()
    try:
        proc = subprocess.run(
            ["git", *_QUIET_CONFIG, "cat-file", "--batch"], cwd=repo.toplevel, input=request, capture_output=True
        )
    except OSError as exc:
        raise GitopsError(f"git: cannot run git: {exc.strerror}") from None
    out, pos, contents = proc.stdout, 0, {}
    for path in paths:
        end = out.find(b"\n", pos)
        if end < 0:
            break
        header = out[pos:end].split()
        pos = end + 1
        if len(header) == 3:
            size = int(header[2])
            contents[path] = out[pos : pos + size]
            pos += size + 1
    return contents


def mentions(repo: Repository, commit: str, words: Sequence[str], paths: Iterable[str] | None = None) -> bool:
    """Whether a text file of `commit` below the gitops root (or among `paths`, relative to it) contains one
    of `words` (fixed strings)."""
    patterns = [arg for word in words for arg in ("-e", word)]
    prefix = f"{repo.prefix}/" if repo.prefix else ""
    scope = [f":(literal){prefix}{path}" for path in paths] if paths is not None else [repo.prefix or "."]
    for start in range(0, len(scope), _PATHS_PER_CALL):
        chunk = scope[start : start + _PATHS_PER_CALL]
        proc = _git(repo.toplevel, "grep", "-q", "-I", "-F", *patterns, commit, "--", *chunk)
        if proc.returncode > 1:
            raise GitopsError(f"{short(commit)}: git grep failed: {_first_line(proc.stderr)}")
        if proc.returncode == 0:
            return True
    return False


_PATHS_PER_CALL = 2000  # keeps one git command line far below the system's argument size limit
