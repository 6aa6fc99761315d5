"""`gitops diff` end to end: read both refs, render only targets whose inputs changed, compare.

A Flux repository (see gitops.diff.flux) is compared per Flux Kustomization, the base from a temporary copy
of the commit; when a render recorded the base commit's tree and the head is the working tree, only the
leaves the change reaches are built (gitops.diff.flux_recorded). Any other repository is compared per
kustomize directory (gitops.diff.directory).

Each mode's machinery is imported inside the function that runs it, so a diff loads the mode it takes:
start-up is most of what a one-line diff costs. The recorded diff's modules load in a pool thread while git
says what changed (and the comparison's while its leaves build: diff.flux_recorded).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from gitops import git
from gitops.cache_location import FLUX_RECORDS, cache_directory, caching_enabled, memo_directory
from gitops.config import RepoConfig, load_config
from gitops.diff.flux_options import FluxOptions, flux_options_given
from gitops.errors import GitopsError

if TYPE_CHECKING:
    from gitops.diff.flux import FluxSide
    from gitops.diff.model import DiffResult, Side
    from gitops.diff.secrets import Decrypt
    from gitops.kustomize import Kustomize


def diff_refs(
    root: Path,
    base_ref: str,
    head_ref: str | None = None,
    *,
    jobs: int | None = None,
    kustomize: Kustomize | None = None,
    decrypt: Decrypt | None = None,
    flux: FluxOptions | None = None,
    config: RepoConfig | None = None,
) -> DiffResult:
    """Rendered difference from `base_ref` to `head_ref` (default: the working tree under `root`).

    A repository with Flux Kustomizations reachable from cluster entries (on either side; or with clusters
    or sources given in `flux`) is compared per Flux Kustomization target, else per kustomize directory.
    `decrypt`: how Secrets' encrypted values compare (default: diff.secrets.sops_plaintext_digests)."""
    root = root.resolve()
    started = time.time_ns()
    config = config or load_config(root)
    repo = git.open_repository(root)
    base_commit = git.resolve(repo, base_ref)
    head_commit = git.resolve(repo, head_ref) if head_ref is not None else None
    flux = flux or FluxOptions()
    recorded = None
    with ThreadPoolExecutor(max_workers=2) as pool:  # git status, and looking for a record, while the change is read
        worktree = pool.submit(lambda: (git.head_commit(repo), git.is_dirty(repo))) if head_commit is None else None
        # a recorded render of the base commit's tree (flux.record): only the leaves the change reaches build
        record = pool.submit(_find_record, repo, base_commit) if head_commit is None and caching_enabled() else None
        changed = git.changed_paths(repo, base_commit, head_commit)
        found = record.result() if record is not None and changed else None
        if found is not None:
            from gitops.diff.flux_recorded import recorded_diff
            from gitops.kustomize import find_kustomize

            recorded = recorded_diff(found, repo, root, base_commit, changed, flux, kustomize or find_kustomize(), jobs)
    from gitops.diff.model import Side

    base_side = Side(f"{base_ref} ({git.short(base_commit)})", base_ref, base_commit)
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
        from gitops import cache, render_record
        from gitops.kustomize import find_kustomize

        identity = cache.tool_identity(kustomize or find_kustomize(), memo_directory())
        known = render_record.current_sources(root, config, identity, [root / "rendered", None], started)
    if _flux_repository(repo, root, base_commit, head_commit, changed, flux, head_known=known is not None):
        sides = _diff_flux(repo, root, base_commit, head_commit, changed, flux, jobs, kustomize, (base_ref, head_ref))
        if sides is not None:
            built = sorted({*sides[0].targets, *sides[1].targets}) if changed else []
            return _flux_result(base_side, head_side, sides, decrypt, built, base_ref, head_ref)
    from gitops.diff.directory import diff_directories

    return diff_directories(
        repo,
        root,
        (base_side, head_side),
        (base_ref, head_ref),
        (base_commit, head_commit),
        changed,
        known,
        jobs=jobs,
        kustomize=kustomize,
        limits=config.limits,  # gitops.yaml limits: bounds both sides' builds
        decrypt=decrypt,
    )


def _find_record(repo: git.Repository, commit: str) -> Path | None:
    """flux.record.find, in a pool thread: the recorded diff, which needs it, loads here meanwhile."""
    if not (cache_directory() / FLUX_RECORDS).is_dir():
        return None  # no Flux render was ever recorded (directory mode): nothing to load
    import gitops.diff.flux_recorded  # noqa: F401  (the import is the point: off the main thread)
    from gitops.flux.record import find

    return find(repo, commit)


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
    from gitops.diff.flux import FLUX_MARKERS, is_flux_tree
    from gitops.flux.clusters import file_mentions_flux
    from gitops.flux.files import NOT_SOURCES

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
    decrypt: Decrypt | None,
    rendered: list[str],
    base_ref: str,
    head_ref: str | None = None,
) -> DiffResult:
    """The Flux sides compared; `rendered`: the targets built on either side."""
    from gitops.diff.engine import compare
    from gitops.diff.model import DiffResult

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
    from gitops.diff.flux import commit_tree, render_sides
    from gitops.diff.shared_builds import SharedBuilds
    from gitops.kustomize import find_kustomize
    from gitops.render import default_jobs

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
