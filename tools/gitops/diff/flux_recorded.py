"""A Flux diff of the working tree against a commit whose tree a full render recorded (flux.record).

The base side is known without writing the commit out, finding its clusters or opening its graph: only the
leaves a change reaches are built again, from the working tree, and compared with their recorded output.
That takes a change the record can bound (docs/flux.md, "How diff decides what to render"):
- every changed path is a file on both sides that is no structural file (read by a Kustomization that is
  not a leaf, holding a Flux API group or FluxInstance, gitops.yaml, `.sourceignore`, `gotk-sync.yaml`) and
  whose new content holds none of those markers either; a path added or removed only where discovery does not
  look (hidden directories, render output) and no target's path lies above it;
- no ignored file where discovery looks is a YAML or `.sourceignore` file (git does not report them as
  changed, discovery reads them);
- each leaf it reaches has its output and Kustomization object recorded, builds again as a leaf (flux.inputs)
  with the variables of the recorded objects its substituteFrom names (held by targets the change leaves
  alone), and yields no Kustomization.
Anything else, including any error, answers None: the caller takes the ordinary path, which gives the same
result (the `rendered` list aside: here it names only what was built).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops import cache, git, source_memo
from gitops.cache_location import memo_directory
from gitops.diff.flux import FluxSide
from gitops.diff.flux_options import FluxOptions
from gitops.errors import GitopsError
from gitops.flux.build import scratch_space
from gitops.flux.discovery import DiscoveryRun, TargetState, object_key
from gitops.flux.files import NOT_SOURCES, YAML_SUFFIXES, RepoFiles
from gitops.flux.inputs import LeafTest
from gitops.flux.model import FluxTarget
from gitops.flux.objects import parse_kustomization
from gitops.flux.record import FluxRecord, context_of, is_structural, load, mentions_structure
from gitops.flux.sourceignore import IGNORE_FILE
from gitops.kustomize import Kustomize
from gitops.manifests import Manifest, identity_of
from gitops.render import default_jobs
from gitops.targets import Tree


@dataclass
class RecordedDiff:
    base: FluxSide
    head: FluxSide
    rendered: list[str]
    """The targets built (on the head side; the base side's outputs are recorded)."""


def recorded_diff(
    found: Path,
    repo: git.Repository,
    root: Path,
    base: str,
    changed: set[str],
    options: FluxOptions,
    tool: Kustomize,
    jobs: int | None,
) -> RecordedDiff | None:
    """Both sides of the diff from `base` to the working tree at `root`, from the base tree's record at
    `found` (flux.record.find); None when it does not fit or the change is not one it can bound."""
    identity = cache.tool_identity(tool, memo_directory())
    context = context_of(identity, options.clusters, options.sources, options.sync_source)
    files = RepoFiles(root)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # the repository walk a leaf's artifact check reads (flux.build), while the record is read and the
        # change bounded; then git lists ignored files
        walked = pool.submit(files.walked)
        ignored = pool.submit(_discovery_sees_ignored, repo, root)
        record = load(found, context)
        try:
            affected = _affected(record, repo, root, base, changed) if record is not None else None
            if record is None or affected is None:
                return None
            walked.result()
            with source_memo.paused():
                built = _rebuild(record, root, files, affected, options, tool, jobs, pool)
            if ignored.result():
                return None  # what was built stays in the render cache, where the ordinary path finds it
        except (GitopsError, OSError, ValueError):
            return None
    if built is None:
        return None
    return _sides(record, built)


def _load_comparison() -> None:
    """The modules comparing the sides (the caller's next step), loaded in the pool's thread during the builds."""
    import gitops.diff.engine  # noqa: F401  (the import is the point)


def _affected(record: FluxRecord, repo: git.Repository, root: Path, base: str, changed: set[str]) -> list[str] | None:
    """The leaves the change reaches; None when the record cannot bound the change (module docstring)."""
    readers: dict[str, list[str]] = {}
    for target in record.targets.values():
        for rel in target.leaf_inputs or ():
            readers.setdefault(rel, []).append(target.name)
    elsewhere = []
    for rel in sorted(changed):
        if is_structural(rel, record.structural):
            return None
        if rel not in readers and _out_of_discovery(rel):
            elsewhere.append(rel)  # what the head holds there does not matter (render output: no stat each)
            continue
        path = root / rel
        on_head = path.is_file() and not path.is_symlink()
        if on_head and not _out_of_discovery(rel) and mentions_structure(path.read_bytes()):
            return None
        if rel not in readers:
            elsewhere.append(rel)
        elif not on_head:
            return None  # a leaf's input removed
    # An unseen path needs no answer from git: added, removed or modified, no walk and no target reads it.
    # (A render leaves hundreds of untracked files under rendered/, and a leaf's change is one path.)
    target_paths = {target.path for target in record.targets.values() if target.path is not None}
    seen = [rel for rel in elsewhere if not _unseen(rel, target_paths)]
    in_base = git.existing(repo, base, seen) if seen else set()
    for rel in seen:
        if rel not in in_base or not (root / rel).is_file() or (root / rel).is_symlink():
            return None  # added or removed where discovery or a generated kustomization may look
    return sorted({name for rel in changed for name in readers.get(rel, ())})


def _unseen(rel: str, target_paths: set[str]) -> bool:
    """Whether an added or removed path is one no discovery walk and no generated kustomization lists:
    out of discovery's walk, and no target's path (`target_paths`) is "." or a directory above it."""
    if not _out_of_discovery(rel) or "." in target_paths:
        return False
    parts = rel.split("/")
    return not any("/".join(parts[:depth]) in target_paths for depth in range(1, len(parts)))


def _out_of_discovery(rel: str) -> bool:
    """Whether discovery's walk never enters the directory of `rel` (hidden ones, render output)."""
    return any(part.startswith(".") or part in NOT_SOURCES for part in rel.split("/")[:-1])


def _discovery_sees_ignored(repo: git.Repository, root: Path) -> bool:
    """Whether an ignored file (git reports none as changed) is one discovery or a generated kustomization reads."""
    for rel in git.ignored_paths(repo):
        parts = rel.rstrip("/").split("/")
        if any(part.startswith(".") or part in NOT_SOURCES for part in parts):
            continue
        if not rel.endswith("/"):
            if rel.endswith(YAML_SUFFIXES) or parts[-1] == IGNORE_FILE:
                return True
            continue
        for folder, directories, files in os.walk(root / rel):
            directories[:] = [d for d in directories if not d.startswith(".") and d not in NOT_SOURCES]
            if any(f.endswith(YAML_SUFFIXES) or f == IGNORE_FILE for f in files):
                return True
            del folder
    return False


def _rebuild(
    record: FluxRecord,
    root: Path,
    files: RepoFiles,
    names: list[str],
    options: FluxOptions,
    tool: Kustomize,
    jobs: int | None,
    pool: ThreadPoolExecutor,
) -> dict[str, FluxTarget] | None:
    """The affected leaves built from the working tree as the ordinary path's head side builds them
    (`files`: the run's, its walk done or not). While they build, `pool` loads the modules that compare
    the sides, the caller's next step (loaded earlier, they would delay the builds' start)."""
    if not names:
        return {}
    tree = Tree(root, scan_symlinks=False)  # a few leaves' references, each resolved alone: no scan of every directory
    files.apply_spec_ignore(record.spec_ignore)  # as the ordinary path's graph applies it (flux.clusters)
    leaf_test = LeafTest(files, tree)
    sync_source = record.sync_source
    with scratch_space() as scratch:
        run = DiscoveryRun(root, files, scratch, tool, dict(options.sources), sync_source, options.identities, False)
        run.cache = cache.for_run(tool, tree)
        run.tree = tree
        run.workers = max(1, jobs or default_jobs() + 1)
        run.origins = False
        outputs: dict[str, list[dict[str, Any]] | None] = {}
        for name in names:
            recorded = record.targets[name]
            if recorded.kustomization is None or recorded.path is None or recorded.output is None:
                return None
            ks = parse_kustomization(recorded.kustomization, name)
            if leaf_test.leaf_inputs(ks, (root / recorded.path).resolve()) is None:
                return None
            for holder, kind, namespace, object_name in recorded.sources:
                if holder not in outputs:
                    outputs[holder] = record.documents(holder)
                found = [d for d in outputs[holder] or () if object_key(d) == (kind, namespace, object_name)]
                if len(found) != 1:
                    return None
                run.index[(recorded.cluster, kind, namespace, object_name)] = found[0]
            target = FluxTarget(name, recorded.cluster, ks, recorded.path, parent=recorded.parent)
            state = TargetState(target, (ks.key,))
            run.states[(recorded.cluster, ks.key)] = state
            run.to_build.append(state)
        count = len(run.states)
        pool.submit(_load_comparison)
        run.run()
        if len(run.states) != count:
            return None  # it yielded a Kustomization after all
        # No trim of the render cache here: it stats every entry, for the few this run adds (render trims).
    return {state.target.name: state.target for state in run.states.values()}


def _sides(record: FluxRecord, built: Mapping[str, FluxTarget]) -> RecordedDiff | None:
    """Both sides as the ordinary path reports them: the affected leaves compared, the targets that are not
    leaves' warnings on both sides (they are built there), every other target unchanged."""
    base_side, head_side = FluxSide(found=True), FluxSide(found=True)
    for name in sorted(record.targets):
        recorded = record.targets[name]
        if recorded.skipped is not None:
            base_side.skipped[name] = head_side.skipped[name] = recorded.skipped
            continue
        if name in built:
            documents = record.documents(name)
            if documents is None:
                return None
            base_side.targets[name] = _manifests(name, documents)
            head_side.targets[name] = _manifests(name, built[name].documents)
            base_side.warnings.extend(recorded.warnings)
            head_side.warnings.extend(built[name].warnings)
            continue
        if recorded.leaf_inputs is None:
            base_side.warnings.extend(recorded.warnings)
            head_side.warnings.extend(recorded.warnings)
        head_side.unchanged.add(name)
    return RecordedDiff(base_side, head_side, sorted(built))


def _manifests(name: str, documents: list[dict[str, Any]]) -> list[Manifest]:
    return [Manifest(identity_of(doc), doc, name, None, index) for index, doc in enumerate(documents)]
