"""A commit's files as a targets.Tree reads them, straight from git's objects (no checkout)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from gitops import git
from gitops.paths import TARGET_ROOTS
from gitops.targets import KUSTOMIZATION_FILES, Files


class CommitFiles(Files):
    """A commit's files as a Tree reads them, straight from git's objects, written to `root` only on demand.

    A diff needs every kustomization of the base side but the other inputs of only the targets a change
    touches; a full worktree writes (and deletes) every file of the repository for that.
    """

    virtual = True

    def __init__(self, repo: git.Repository, commit: str, listing: git.Listing, root: Path) -> None:
        self.repo, self.commit, self.root = repo, commit, root
        self._files = set(listing.files)
        self._dirs = {"/".join(f.split("/")[:i]) for f in self._files for i in range(f.count("/") + 1)}
        self._by_folder: dict[str, list[str]] = {}
        for rel in sorted(self._files):
            self._by_folder.setdefault(rel.rpartition("/")[0], []).append(rel)
        self._cache: dict[str, bytes] = {}
        self._written: set[str] = set()

    def _rel(self, path: Path) -> str | None:
        text = str(path)
        root = str(self.root)
        if text == root:
            return ""
        return text[len(root) + 1 :] if text.startswith(root + "/") else None

    def is_file(self, path: Path) -> bool:
        return self._rel(path) in self._files

    def is_dir(self, path: Path) -> bool:
        return self._rel(path) in self._dirs

    def files_in(self, directory: Path) -> list[Path]:
        return [self.root / f for f in self._by_folder.get(self._rel(directory) or "", ())]

    def read(self, path: Path) -> bytes:
        rel = self._rel(path)
        if rel is None or rel not in self._files:
            raise FileNotFoundError(str(path))
        if rel not in self._cache:
            folder = rel.rpartition("/")[0]
            self.fetch_relative(self._by_folder.get(folder, ()))
        return self._cache[rel]

    def prefetch(self, paths: Iterable[Path]) -> None:
        self.fetch_relative(rel for rel in map(self._rel, paths) if rel is not None)

    def fetch_relative(self, rels: Iterable[str]) -> None:
        wanted = sorted({r for r in rels if r in self._files and r not in self._cache})
        self._cache.update(git.read_files(self.repo, self.commit, wanted))

    def kustomization_dirs(self, root: Path, roots: Sequence[str] = TARGET_ROOTS) -> Iterator[Path]:
        # a walk of every kustomization follows: one `git cat-file --batch` for all of them, not one per folder
        self.fetch_relative(f for f in self._files if f.rpartition("/")[2] in KUSTOMIZATION_FILES)
        for rel in sorted(self._files):
            folder, _, name = rel.rpartition("/")
            parts = folder.split("/")
            if name in KUSTOMIZATION_FILES and parts[0] in roots and not any(p.startswith(".") for p in parts):
                yield root / folder

    def materialize(self, rels: Iterable[str]) -> None:
        """Write these files under `root`, so that kustomize can build from there."""
        wanted = [r for r in dict.fromkeys(rels) if r in self._files and r not in self._written]  # each once
        self.fetch_relative(wanted)
        for rel in wanted:
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self._cache[rel])
            self._written.add(rel)


@contextmanager
def commit_files(repo: git.Repository, commit: str, listing: git.Listing) -> Iterator[CommitFiles]:
    """CommitFiles over a fresh temporary root; everything written there is removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="gitops-base-"))
    try:
        yield CommitFiles(repo, commit, listing, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
