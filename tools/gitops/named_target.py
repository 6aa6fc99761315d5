"""`gitops render DIR --out -`: one kustomize directory target printed, at about the cost of one build.

The general path (workspace.open_workspace, then select, then render_targets) first decides the repository's
mode and whether DIR is a target: reads of every YAML file (the Flux markers) and of every kustomization
under the target roots (does another one include DIR?), O(N) Python work before the build begins, and then
an origin build, which costs more than a plain one. Here the build starts as soon as DIR's own inputs passed
the preflight, and runs while those questions are answered; a plain build, since nothing asks for origins.
Its output is used only when the answers are the ones under which the general path makes that very build
(DIR's inputs pass the preflight, directory mode, DIR is the first candidate select tries and a target);
anything else, a failed build included, gives None and the general path decides, errors and all. The build
starts only after the structural guard passed (every reference inside the repository, no remote base, no Helm
chart); the preflight's checks of the files' content run during the build (kustomize is bounded in time and
memory, and an output that failed them is never used).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from gitops import cache
from gitops.config import RepoConfig
from gitops.errors import GitopsError
from gitops.kustomize import find_kustomize
from gitops.target_selection import candidates, is_target
from gitops.targets import Tree, kustomization_file


def render_named(root: Path, config: RepoConfig, selector: str) -> str | None:
    """What `render SELECTOR --out -` prints in directory mode, or None when the general path must decide.

    Callers pass only runs without --cluster, --source and --shard options."""
    if config.clusters:
        return None
    root = root.resolve()
    tree = Tree(root, limits=config.limits, scan_symlinks=False)  # one target's references: no repository walk
    directory = candidates(tree, selector)[0]
    parts = tree.rel(directory).split("/")
    if parts[0] not in config.target_roots or len(parts) < 2 or kustomization_file(directory, tree.files) is None:
        return None  # no target: nothing is built before the general path says what it is
    try:
        # The guard a build must pass first: every kustomization parses, no reference leaves the repository,
        # no remote base or Helm chart (the input checks of the files' content follow while it builds).
        tree.inputs(directory)
        tool = find_kustomize()
    except GitopsError:
        return None  # the general path names the problem
    name = tree.rel(directory)
    cached = cache.for_run(tool, tree)
    known = cached.plain_output(name) if cached is not None else None
    if known is not None:
        return known if _decides_build(root, config, tree, directory) else None
    pool = ThreadPoolExecutor(max_workers=1)
    build = pool.submit(tool.build, directory, timeout=config.limits.build_timeout)
    try:
        if not _decides_build(root, config, tree, directory):
            return None  # the build finishes unused (interpreter exit joins it) while the general path runs
        output = build.result()
    except GitopsError:
        return None  # the general path reports the failure (a failed input check, a build) in its own words
    finally:
        pool.shutdown(wait=False)
    if cached is not None:
        cached.store_plain(name, output)
        cached.store.trim()
    return output


def _decides_build(root: Path, config: RepoConfig, tree: Tree, directory: Path) -> bool:
    """Whether the general path renders exactly `directory`: its inputs pass the content checks (the
    preflight: size, UTF-8, alias bombs, duplicate keys; else the general path raises the same problem),
    directory mode (no Flux Kustomization at all; otherwise Flux mode or the general path's own error), and
    `directory` is a target. Raises GitopsError when the preflight fails."""
    from gitops.flux.clusters import find_clusters  # imported while the build runs: off its critical path

    tree.preflight(directory)
    if find_clusters(root, sync_source=config.sync_source) is not None:
        return False
    return is_target(tree, directory, config.target_roots)
