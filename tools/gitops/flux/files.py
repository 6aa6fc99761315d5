"""The repository's YAML files as Flux's source artifact holds them, each parsed at most once."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from gitops import source_memo
from gitops.errors import GitopsError
from gitops.flux.sourceignore import IGNORE_FILE, SourceIgnore, from_files
from gitops.manifests import source_loader
from gitops.repo import ROOT_MARKERS
from gitops.targets import kustomization_file
from gitops.yaml_objects import load_all

YAML_SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 8 * 1024 * 1024
# Files up to this size stay in memory for the run once read (Kustomization files, manifests; not CRD bundles).
_KEPT_BYTES = 256 * 1024
# Discovery also skips hidden directories (.git, .venv, ...) and what tools write into a checkout: render's
# output holds rendered Flux Kustomizations that must not count as sources.
NOT_SOURCES = frozenset({"rendered", "node_modules"})


# Facts (RepoFiles.once) that stay when the artifact's file list changes: the sync source is what decides
# which spec.ignore applies.
_LIST_INDEPENDENT = frozenset({"sync-source"})


class RepoFiles:
    """Parsed YAML documents per file, shared by discovery and the generated-kustomization scan (thread-safe)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._root_prefix = str(root).rstrip("/") + "/"
        self._documents: dict[Path, list[Any]] = {}
        self._lock = threading.Lock()
        self._ignore: SourceIgnore | None = None
        self._all_yaml: list[Path] | None = None
        self._mentions: dict[tuple[Path, tuple[str, ...]], bool] = {}
        self._data: dict[Path, bytes] = {}
        self._go_alike: dict[Path, bool] = {}
        self._facts: dict[str, Any] = {}
        self._spec_ignore: str | None = None
        self._walked: tuple[list[Path], list[Path]] | None = None

    def once(self, fact: str, compute: Callable[[], Any]) -> Any:
        """A fact about the repository's files, computed once per run (every caller passes the same compute)."""
        if fact not in self._facts:
            self._facts[fact] = compute()
        return self._facts[fact]

    @property
    def ignore(self) -> SourceIgnore:
        """What source-controller leaves out of the sync GitRepository's artifact (`.sourceignore`, defaults)."""
        if self._ignore is None:
            self._scan()
            assert self._ignore is not None
        return self._ignore

    def _scan(self) -> None:
        """One walk of the repository: its YAML files and its `.sourceignore` files, whose patterns decide
        what the artifact holds (which YAML files: yaml_files, on first use; a build's check of its own
        inputs needs only the patterns)."""
        if self._walked is None:
            candidates: list[Path] = []
            ignore_files: list[Path] = []
            for path in self._walk(self.root):
                (ignore_files if path.name == IGNORE_FILE else candidates).append(path)
            self._walked = (candidates, ignore_files)
        self._ignore = from_files(self.root, self._walked[1], self._spec_ignore)

    @property
    def spec_ignore(self) -> str | None:
        """The sync GitRepository's `spec.ignore` in force (apply_spec_ignore)."""
        return self._spec_ignore

    def apply_spec_ignore(self, text: str | None) -> None:
        """The sync GitRepository's `spec.ignore`, which source-controller adds to the `.sourceignore`
        patterns: the artifact's files are decided again (facts drawn from the file list are forgotten)."""
        if text == self._spec_ignore:
            return
        self._spec_ignore = text
        self._ignore = self._all_yaml = None
        self._facts = {fact: value for fact, value in self._facts.items() if fact in _LIST_INDEPENDENT}

    def walked(self) -> list[Path]:
        """Every file the repository walk found: YAML (in the artifact or not) and `.sourceignore` files."""
        self.ignore  # noqa: B018 - the walk runs on first use
        assert self._walked is not None
        candidates, ignore_files = self._walked
        return candidates + ignore_files

    def in_artifact(self, path: Path, is_dir: bool = False) -> bool:
        return not self.ignore.excludes(self.rel(path), is_dir)

    def rel(self, path: Path) -> str:
        text = str(path)  # string slicing: pathlib's relative_to costs more than the rest of a lookup
        if text.startswith(self._root_prefix):
            return text[len(self._root_prefix) :]
        return path.relative_to(self.root).as_posix()  # the root itself, or a ValueError as before

    def parsed(self, path: Path) -> bool:
        """Whether the file's documents were parsed in this run already."""
        with self._lock:
            return path in self._documents

    def documents(self, path: Path) -> list[Any]:
        """The documents of one YAML file; invalid YAML is a GitopsError naming the file (and line)."""
        with self._lock:
            cached = self._documents.get(path)
        if cached is not None:
            return cached
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise GitopsError(f"{self.rel(path)}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
            text = self.data(path).decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise GitopsError(f"{self.rel(path)}: cannot read: {exc}") from None
        # Remembered across runs by content (source_memo): discovery reads every Flux file of the repository.
        memo_key = source_memo.content_key(text) + ":flux-documents-3"
        remembered = source_memo.parsed(memo_key)
        if isinstance(remembered, dict):
            docs, alike = remembered["documents"], remembered["goAlike"]
        else:
            try:
                loaded, alike = load_all(text, source_loader(text))
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = f":{mark.line + 1}" if mark is not None else ""
                problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
                raise GitopsError(f"{self.rel(path)}{line}: not valid YAML: {problem}") from None
            docs = [d for d in loaded if d is not None]
            source_memo.remember_parsed(memo_key, {"documents": docs, "goAlike": alike})
        with self._lock:
            self._documents[path] = docs
            self._go_alike[path] = alike
        return docs

    def read_alike_by_go(self, path: Path) -> bool:
        """Whether Go's YAML (kustomize's) reads every plain scalar of the file, parsed already, as we did
        (yaml_objects.load_all): `yes` is a string to it, a boolean to PyYAML."""
        with self._lock:
            return self._go_alike.get(path, False)

    def yaml_files(self, top: Path | None = None) -> Iterator[Path]:
        """Every .yaml/.yml file under `top` (default: the root) in lexical walk order, leaving out hidden
        directories, render output and nested repositories (their own gitops.yaml or .git, e.g. test data)."""
        if top is not None and top != self.root:
            prefix = len(str(self.root)) + 1
            yield from (
                p for p in self._walk(top) if p.name != IGNORE_FILE and not self.ignore.excludes(str(p)[prefix:])
            )
            return
        if self._all_yaml is None:  # the repository is walked once per run, however many callers ask
            ignore = self.ignore
            assert self._walked is not None
            self._all_yaml = [p for p in self._walked[0] if not ignore.excludes(self.rel(p))]
        yield from self._all_yaml

    def data(self, path: Path) -> bytes:
        """A file's bytes, read once per run (kept when small: discovery, the parse and the leaf test each
        read most files). OSError as reading raises it."""
        with self._lock:
            kept = self._data.get(path)
        if kept is not None:
            return kept
        data = path.read_bytes()
        if len(data) <= _KEPT_BYTES:
            with self._lock:
                self._data[path] = data
        return data

    def mentions(self, path: Path, words: tuple[str, ...]) -> bool:
        """Whether the file's text holds any of `words` (ASCII; read once per run); an unreadable file does not."""
        key = (path, words)
        found = self._mentions.get(key)
        if found is None:
            try:
                data = self.data(path)
            except OSError:
                data = b""
            found = self._mentions[key] = any(word.encode() in data for word in words)
        return found

    def _walk(self, top: Path) -> Iterator[Path]:
        """YAML and `.sourceignore` files, depth-first in lexical order. A directory holding a root marker
        (gitops.yaml, .git) is another repository and skipped whole, told from its own listing."""
        stack = [iter(self._listing(str(top), is_top=True))]
        while stack:
            entry = next(stack[-1], None)
            if entry is None:
                stack.pop()
            elif entry.is_dir(follow_symlinks=False):
                if not entry.name.startswith(".") and entry.name not in NOT_SOURCES:
                    stack.append(iter(self._listing(entry.path, is_top=False)))
            elif entry.name.endswith(YAML_SUFFIXES) or entry.name == IGNORE_FILE:
                yield Path(entry.path)

    @staticmethod
    def _listing(directory: str, *, is_top: bool) -> list[os.DirEntry[str]]:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return []
        if not is_top and any(e.name in ROOT_MARKERS for e in entries):
            return []
        return entries


def generated_resources(directory: Path, files: RepoFiles, *, check: bool = True) -> list[Path]:
    """What kustomize-controller lists in the kustomization it generates for a path without one.

    Walking the directory in lexical order: a sub-directory holding a kustomization file is listed as a whole
    and not descended into; every other .yaml/.yml file is listed after checking it parses as YAML (the
    controller refuses the path otherwise: "failed to decode Kubernetes YAML from <file>"; `check=False`
    lists without parsing, for callers that only need the paths). Files the source artifact leaves out
    (flux/sourceignore.py) are not there for the controller to list.
    """
    found: list[Path] = []

    def visit(current: Path) -> None:
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError as exc:
            raise GitopsError(f"{files.rel(current)}: cannot list: {exc.strerror}") from None
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if entry.name == ".git":
                    continue
                own = kustomization_file(path)
                if own is not None and files.in_artifact(own):
                    found.append(path)
                else:
                    visit(path)
            elif entry.name.endswith(YAML_SUFFIXES) and files.in_artifact(path):
                for doc in files.documents(path) if check else ():
                    if not isinstance(doc, dict):
                        raise GitopsError(f"{files.rel(path)}: failed to decode Kubernetes YAML: not a mapping")
                found.append(path)

    visit(directory)
    return found
