"""`gitops diff` end to end: read both refs, render only targets whose inputs changed, compare.

The base is read from git's objects, and only the inputs of the targets it must build are written out (a
commit with symlinks, or a build that misses a file our walk does not list, gets a real worktree instead).
A head ref, when given, is checked out into a temporary git worktree; the default head is the working tree
as it is, uncommitted and untracked files included. A target is rendered only when the digest over the
files kustomize reads for it differs between the sides, or when it exists on one side only.

A Flux repository (see gitops.diff.flux) is compared per Flux Kustomization instead, the base from a
temporary copy of the commit; when a render recorded the base commit's tree and the head is the working tree,
only the leaves the change reaches are built (gitops.diff.flux_recorded).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gitops import cache, git
from gitops.cache_location import caching_enabled, memo_directory
from gitops.commit_files import commit_files
from gitops.config import RepoConfig, load_config
from gitops.diff.engine import compare
from gitops.diff.flux import (
    FLUX_MARKERS,
    FluxOptions,
    FluxSide,
    commit_tree,
    flux_options_given,
    is_flux_tree,
    render_sides,
)
from gitops.diff.flux_recorded import recorded_diff
from gitops.diff.model import DiffResult, Side
from gitops.diff.secrets import Decrypt, sops_plaintext_digests
from gitops.errors import GitopsError, MissingInputError
from gitops.flux.clusters import file_mentions_flux
from gitops.flux.files import NOT_SOURCES
from gitops.flux.record import find as find_record
from gitops.kustomize import Kustomize, find_kustomize
from gitops.limits import Limits
from gitops.manifests import Manifest
from gitops.paths import TARGET_ROOTS
from gitops.render import default_jobs, render_targets
from gitops.target_selection import discover
from gitops.targets import KUSTOMIZATION_FILES, Tree

if TYPE_CHECKING:
    from gitops import render_record


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


def diff_refs(
    root: Path,
    base_ref: str,
    head_ref: str | None = None,
    *,
    jobs: int | None = None,
    kustomize: Kustomize | None = None,
    decrypt: Decrypt = sops_plaintext_digests,
    flux: FluxOptions | None = None,
    config: RepoConfig | None = None,
) -> DiffResult:
    """Rendered difference from `base_ref` to `head_ref` (default: the working tree under `root`).

    A repository with Flux Kustomizations reachable from cluster entries (on either side; or with clusters
    or sources given in `flux`) is compared per Flux Kustomization target, else per kustomize directory."""
    root = root.resolve()
    started = time.time_ns()
    config = config or load_config(root)
    limits = config.limits  # gitops.yaml limits: bounds both sides' builds
    repo = git.open_repository(root)
    base_commit = git.resolve(repo, base_ref)
    head_commit = git.resolve(repo, head_ref) if head_ref is not None else None
    base_side = Side(f"{base_ref} ({git.short(base_commit)})", base_ref, base_commit)
    flux = flux or FluxOptions()
    recorded = None
    with ThreadPoolExecutor(max_workers=2) as pool:  # git status, and looking for a record, while the change is read
        worktree = pool.submit(lambda: (git.head_commit(repo), git.is_dirty(repo))) if head_commit is None else None
        # a recorded render of the base commit's tree (flux.record): only the leaves the change reaches build
        record = pool.submit(find_record, repo, base_commit) if head_commit is None and caching_enabled() else None
        changed = git.changed_paths(repo, base_commit, head_commit)
        found = record.result() if record is not None and changed else None
        if found is not None:
            recorded = recorded_diff(found, repo, root, base_commit, changed, flux, kustomize or find_kustomize(), jobs)
    if head_ref is not None and head_commit is not None:
        head_side = Side(f"{head_ref} ({git.short(head_commit)})", head_ref, head_commit)
    else:
        assert worktree is not None
        head_side = Side("working tree", None, *worktree.result())
    if recorded is not None:
        return _flux_result(base_side, head_side, (recorded.base, recorded.head), decrypt, recorded.rendered, base_ref)
    known = None
    if head_commit is None and changed and caching_enabled() and not flux_options_given(flux):
        # a verified record of the working tree's last render or check: directory mode, targets and inputs
        from gitops import render_record  # read by directory-mode diffs alone (a Flux diff keeps flux.record)

        identity = cache.tool_identity(kustomize or find_kustomize(), memo_directory())
        known = render_record.current_sources(root, config, identity, [root / "rendered", None], started)
    if _flux_repository(repo, root, base_commit, head_commit, changed, flux, head_known=known is not None):
        sides = _diff_flux(repo, root, base_commit, head_commit, changed, flux, jobs, kustomize, (base_ref, head_ref))
        if sides is not None:
            built = sorted({*sides[0].targets, *sides[1].targets}) if changed else []
            return _flux_result(base_side, head_side, sides, decrypt, built, base_ref, head_ref)
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


def _flux_repository(
    repo: git.Repository,
    root: Path,
    base: str,
    head: str | None,
    changed: set[str],
    flux: FluxOptions,
    *,
    head_known: bool = False,
) -> bool:
    """Whether either side may hold Flux targets. A commit is only searched for Flux's markers here (no
    checkout); _diff_flux answers None when neither side turns out to have a Flux Kustomization.

    When the head is not a Flux repository, the base can only be one if a changed path made the difference.
    The Flux mode decision (flux.discovery.find_clusters) reads only files holding Flux's markers and asks
    whether candidate directories exist: a changed file holding them on either side, or a path added or
    removed (a directory may appear or vanish), can make the difference; a modified file without them cannot.
    Anything else (an edited overlay) keeps the diff off a full checkout of the base."""
    if head is None:
        if not head_known and is_flux_tree(root, flux):  # a verified record holds only in directory mode
            return True
    elif flux_options_given(flux) or git.mentions(repo, head, FLUX_MARKERS):
        return True
    # Paths the discovery walk never reads (render output, hidden and tool directories) make no difference.
    paths = sorted(p for p in changed if not any(part.startswith(".") or part in NOT_SOURCES for part in p.split("/")))
    in_head = {p for p in paths if (root / p).is_file()} if head is None else git.existing(repo, head, paths)
    if set(paths) != in_head or git.existing(repo, base, paths) != in_head:
        return True  # added or removed paths
    if head is None and any(file_mentions_flux(root / p) for p in paths):
        return True
    return (head is not None and git.mentions(repo, head, FLUX_MARKERS, paths)) or git.mentions(
        repo, base, FLUX_MARKERS, paths
    )


def _flux_result(
    base_side: Side,
    head_side: Side,
    sides: tuple[FluxSide, FluxSide],
    decrypt: Decrypt,
    rendered: list[str],
    base_ref: str,
    head_ref: str | None = None,
) -> DiffResult:
    """The Flux sides compared; `rendered`: the targets built on either side."""
    base_flux, head_flux = sides
    targets = compare(base_flux.targets, head_flux.targets, decrypt)
    names = {*base_flux.targets, *head_flux.targets} | head_flux.unchanged
    return DiffResult(
        base=base_side,
        head=head_side,
        targets=targets,
        rendered=rendered,
        unchanged=len(names) - len(targets),
        skipped={**base_flux.skipped, **head_flux.skipped},
        warnings=_side_warnings(base_flux, head_flux, base_ref, head_ref),
    )


def _side_warnings(base: FluxSide, head: FluxSide, base_ref: str, head_ref: str | None) -> list[str]:
    """Each side's render warnings once, prefixed with the side (a warning on both sides is said once)."""
    if base is head:
        return list(head.warnings)
    shared = [w for w in head.warnings if w in base.warnings]
    head_only = [f"head {head_ref or 'working tree'}: {w}" for w in head.warnings if w not in shared]
    return shared + [f"base {base_ref}: {w}" for w in base.warnings if w not in shared] + head_only


def _diff_flux(
    repo: git.Repository,
    root: Path,
    base: str,
    head: str | None,
    changed: set[str],
    flux: FluxOptions,
    jobs: int | None,
    kustomize: Kustomize | None,
    refs: tuple[str, str | None],
) -> tuple[FluxSide, FluxSide] | None:
    """Both sides rendered as Flux targets (the base from a temporary checkout, both at once, a build whose
    inputs are the same on both sides made once: diff.shared_builds); None when
    neither side has a Flux Kustomization; a GitopsError when neither yields a rendered target."""
    from gitops.diff.shared_builds import SharedBuilds  # both sides built: the recorded diff builds one

    shared = SharedBuilds(kustomize or find_kustomize())
    workers = max(1, jobs or default_jobs())

    labels = (f"base {refs[0]}", f"head {refs[1] or 'working tree'}")
    sides = (
        commit_tree(repo, base) if changed else None,
        commit_tree(repo, head) if head is not None else nullcontext(root),
    )
    base_side, head_side = render_sides(sides, changed, flux, labels, workers, shared.for_side)
    if not (base_side.found or head_side.found):
        return None
    if not (base_side.targets or head_side.targets):
        # Every cluster entry is a target of its own: only sides without any entry get here.
        why = f"--cluster {' '.join(flux.clusters)} is on neither side" if flux.clusters else "no cluster entry path"
        raise GitopsError(f"no Flux Kustomization target on either side ({why}; pass --cluster PATH)")
    return base_side, head_side
