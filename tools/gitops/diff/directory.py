"""A diff of kustomize directory targets (gitops.diff.refs decides the mode): only targets whose inputs changed render.

The base is read from git's objects, and only the inputs of the targets it must build are written out (a
commit with symlinks, or a build that misses a file our walk does not list, gets a real worktree instead).
A head ref, when given, is checked out into a temporary git worktree; the default head is the working tree
as it is, uncommitted and untracked files included. A target is rendered only when the digest over the
files kustomize reads for it differs between the sides, or when it exists on one side only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitops import git
from gitops.commit_files import commit_files
from gitops.diff.engine import compare
from gitops.diff.model import DiffResult, Side
from gitops.errors import GitopsError, MissingInputError
from gitops.kustomize import Kustomize, find_kustomize
from gitops.limits import Limits
from gitops.manifests import Manifest
from gitops.paths import TARGET_ROOTS
from gitops.render import default_jobs, render_targets
from gitops.target_selection import discover
from gitops.targets import KUSTOMIZATION_FILES, Tree

if TYPE_CHECKING:
    from gitops import render_record
    from gitops.diff.secrets import Decrypt


@dataclass(frozen=True)
class Plan:
    """Which targets each side renders, and how many need no rendering at all."""

    base: list[str]
    head: list[str]
    unchanged: list[str]


def plan_targets(
    base_root: Path,
    head_root: Path,
    changed: set[str] | None = None,
    *,
    head_tree: Tree | None = None,
    base_tree: Tree | None = None,
    known: render_record.Sources | None = None,
) -> Plan:
    """Targets to render per side: changed input digest, or present on one side only.

    `changed` (repository-relative paths git reports as different) is a shortcut that must not change the
    answer: a target none of whose head-side inputs changed reads the same files with the same bytes on
    both sides (its kustomization files are among those inputs, so they reference the same files), and
    the target sets are the same unless a kustomization file under overlays/ or clusters/ changed.
    `known`: the head's targets and inputs from a verified record (render_record), instead of a walk.
    """
    base_tree, head_tree = base_tree or Tree(base_root), head_tree or Tree(head_root)
    head_targets = set(known.names if known is not None else discover(head_root, head_tree))
    if changed is not None and _same_target_structure(base_tree, head_tree, changed):
        base_targets = head_targets
    else:
        base_targets = set(discover(base_root, base_tree))
    changed_targets: list[str] = []
    unchanged: list[str] = []
    candidates = []
    changed_files = {head_tree.root / path for path in changed} if changed is not None else set()
    changed_rels = changed or set()
    for name in sorted(base_targets & head_targets):
        if changed is not None and known is not None and name in known.inputs:
            if changed_rels.isdisjoint(known.inputs[name]):
                unchanged.append(name)
            else:
                candidates.append(name)
        elif changed is not None and changed_files.isdisjoint(head_tree.inputs(head_root / name)):
            unchanged.append(name)
        else:
            candidates.append(name)
    base_tree.files.prefetch(p for name in candidates for p in base_tree.inputs(base_tree.root / name))
    for name in candidates:
        same = base_tree.digest(base_tree.root / name) == head_tree.digest(head_root / name)
        (unchanged if same else changed_targets).append(name)
    return Plan(
        base=sorted(changed_targets + sorted(base_targets - head_targets)),
        head=sorted(changed_targets + sorted(head_targets - base_targets)),
        unchanged=unchanged,
    )


def _same_target_structure(base: Tree, head: Tree, changed: set[str]) -> bool:
    """Whether discover() must give the same targets on both sides: every changed kustomization file under
    overlays/ or clusters/ exists on both sides with the same kind and the same referenced directories."""
    for path in changed:
        parts = path.split("/")
        if parts[0] not in TARGET_ROOTS or parts[-1] not in KUSTOMIZATION_FILES:
            continue
        directory = path.rpartition("/")[0]
        if not base.files.is_file(base.root / path) or not head.files.is_file(head.root / path):
            return False
        old, new = base.load(base.root / directory), head.load(head.root / directory)
        if old.kind != new.kind or [base.rel(d) for d in old.directories] != [head.rel(d) for d in new.directories]:
            return False
    return True


Materialize = Callable[[Sequence[str]], None]


def _nothing(names: Sequence[str]) -> None:
    del names


@contextmanager
def _base_side(repo: git.Repository, commit: str) -> Iterator[tuple[Tree, Materialize]]:
    """The base side as a Tree read from git's objects, and a function that writes given targets' inputs
    where kustomize can build them. A commit holding symlinks or submodules gets a real worktree."""
    listing = git.list_files(repo, commit)
    if not listing.files:
        raise GitopsError(f"{git.short(commit)}: the commit has no {repo.prefix or '.'} directory")
    if listing.has_links:
        with git.checkout(repo, commit) as root:
            yield Tree(root), _nothing
        return
    with commit_files(repo, commit, listing) as files:
        tree = Tree(files.root, files)

        def materialize(names: Sequence[str]) -> None:
            files.materialize(tree.rel(path) for name in names for path in tree.inputs(files.root / name))

        yield tree, materialize


def _render(
    root: Path, names: Sequence[str], side: str, jobs: int, tool: Kustomize, limits: Limits | None = None
) -> dict[str, list[Manifest]]:
    if not names:
        return {}
    try:
        results = render_targets(root, names, origins=True, jobs=jobs, kustomize=tool, limits=limits)
    except GitopsError as exc:
        raise type(exc)(f"{side}: {exc}") from None
    return {r.target: r.manifests for r in results}


def diff_directories(
    repo: git.Repository,
    root: Path,
    sides: tuple[Side, Side],
    refs: tuple[str, str | None],
    commits: tuple[str, str | None],
    changed: set[str],
    known: render_record.Sources | None,
    *,
    jobs: int | None,
    kustomize: Kustomize | None,
    limits: Limits,
    decrypt: Decrypt | None,
) -> DiffResult:
    """Both sides' directory targets rendered where they can differ, and compared. `changed`: the paths git
    reports as different; `known`: the head's targets and inputs from a verified record (render_record)."""
    (base_side, head_side), (base_ref, head_ref), (base_commit, head_commit) = sides, refs, commits
    # The base checkout (and finding kustomize) run while the head side is parsed; with nothing changed,
    # both sides are the same files and no checkout is needed at all.
    with ExitStack() as base_stack, ExitStack() as head_stack, ThreadPoolExecutor(max_workers=2) as pool:
        tool_future = pool.submit(find_kustomize) if kustomize is None else None
        base_future = pool.submit(base_stack.enter_context, _base_side(repo, base_commit)) if changed else None
        head_root = head_stack.enter_context(git.checkout(repo, head_commit)) if head_commit else root
        head_tree = Tree(head_root)
        head_label = f"head {head_ref or 'working tree'}"
        workers = max(1, (jobs or default_jobs()))
        early = _EarlyHead(head_root, known, changed, head_tree, workers, kustomize or find_kustomize(), limits)
        head_stack.callback(early.close)
        if head_root.is_dir() and known is None:
            discover(head_root, head_tree)
        base_tree, materialize = base_future.result() if base_future is not None else (head_tree, _nothing)
        if not head_root.is_dir():
            raise GitopsError(f"{head_ref}: the commit has no {repo.prefix or '.'} directory")
        plan = plan_targets(base_tree.root, head_root, changed, head_tree=head_tree, base_tree=base_tree, known=known)
        if not (plan.base or plan.head or plan.unchanged):
            raise GitopsError(_NO_TARGETS)
        materialize(plan.base)
        tool = kustomize or (tool_future.result() if tool_future else find_kustomize())

        def render_base() -> dict[str, list[Manifest]]:
            side = f"base {base_ref}"
            if materialize is _nothing:
                return _render(base_tree.root, plan.base, side, workers, tool, limits)
            try:
                return _render(base_tree.root, plan.base, side, workers, tool, limits)
            except MissingInputError:
                # A file kustomize reads that our walk does not list: build from a full checkout instead.
                with git.checkout(repo, base_commit) as full:
                    return _render(full, plan.base, side, workers, tool, limits)

        # Both sides build at once: with few changed targets, this halves the wall time.
        base_job = pool.submit(render_base)
        head_job = pool.submit(
            _render, head_root, [n for n in plan.head if n not in early.names], head_label, workers, tool, limits
        )
        base_rendered, head_rendered = base_job.result(), head_job.result()
        head_rendered = early.complete(plan.head, head_rendered, head_label)
    targets = compare(base_rendered, head_rendered, decrypt)
    rendered = sorted({*plan.base, *plan.head})
    return DiffResult(
        base=base_side,
        head=head_side,
        targets=targets,
        rendered=rendered,
        unchanged=len(plan.unchanged) + len(rendered) - len(targets),
    )


class _EarlyHead:
    """The working tree's targets that read a changed file, rendered from the moment a verified record
    (render_record) names them, while the base side is read and the plan is made: a one-line change costs
    about one build after start-up, not the plan plus a build.

    Only a speedup: `complete` takes these results for the targets the plan renders on the head side (each
    is rendered exactly as there, by render_targets), and renders the others, and any target of a failed
    early run, the usual way, so errors read the same. A target the plan does not render was built for
    nothing (its inputs are the base's after all); its cache entry is still a correct one."""

    def __init__(
        self,
        root: Path,
        known: render_record.Sources | None,
        changed: set[str],
        tree: Tree,
        workers: int,
        tool: Kustomize,
        limits: Limits,
    ) -> None:
        self.names: list[str] = []
        self._pool: ThreadPoolExecutor | None = None
        self._job: Future[dict[str, list[Manifest]]] | None = None
        self._root, self._workers, self._tool, self._limits = root, workers, tool, limits
        if known is None:
            return
        changed_files = {root / path for path in changed}
        for name in known.names:
            if name in known.inputs:
                touched = not changed.isdisjoint(known.inputs[name])
            else:  # its inputs changed since the record: walk this one target (the plan would walk it too)
                try:
                    touched = not changed_files.isdisjoint(tree.inputs(root / name))
                except GitopsError:
                    touched = False  # the plan meets the problem and reports it
            if touched:
                self.names.append(name)
        if self.names:
            self._pool = ThreadPoolExecutor(max_workers=1)
            self._job = self._pool.submit(_render, root, self.names, "early", workers, tool, limits)

    def complete(
        self, head: Sequence[str], rendered: dict[str, list[Manifest]], label: str
    ) -> dict[str, list[Manifest]]:
        """The head side's results for `head`, in that order: `rendered` (every target not rendered early)
        and the early results."""
        if self._job is None:
            return rendered
        try:
            found = self._job.result()
        except GitopsError:
            found = {}
        wanted = [n for n in head if n in self.names]
        missing = [n for n in wanted if n not in found]
        again = _render(self._root, missing, label, self._workers, self._tool, self._limits)
        merged = {**rendered, **{n: found[n] for n in wanted if n in found}, **again}
        return {n: merged[n] for n in head}

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


_NO_TARGETS = (
    "no targets on either side: no kustomization under overlays/ or clusters/ and no Flux Kustomization "
    "reachable from a cluster entry (pass --cluster PATH)"
)
