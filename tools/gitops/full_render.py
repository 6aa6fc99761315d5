"""`gitops render` of every target into the output directory, reusing what the last full render recorded.

With the cache on, a directory-mode repository keeps a render record (render_record): when it holds, only
the targets a change touches are rendered and written, and the run costs a stat per source file instead of
a walk, a parse and a digest of the whole repository. Otherwise (no record, or anything in doubt) every
target is rendered as usual (through the cache) and the output directory is replaced as a whole; a new
record is written for the next run. Both paths leave the same files behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gitops import cache, render_record
from gitops.cache_location import caching_enabled, memo_directory
from gitops.config import RepoConfig
from gitops.flux import record as flux_record
from gitops.flux.graph import FluxGraph
from gitops.flux.rendering import parse_source_options
from gitops.kustomize import find_kustomize
from gitops.outdir import MARKER, MARKER_TEXT
from gitops.render import RenderedTarget, output_path, render_targets, tty_progress, write_rendered
from gitops.targets import Tree
from gitops.workspace import TargetOptions, open_workspace, print_notices


@dataclass(frozen=True)
class Outcome:
    empty: list[str]
    """Targets that build to zero documents (a warning each)."""
    rendered: int
    """How many targets were rendered in this run (the others were current)."""


def render_all(root: Path, config: RepoConfig, options: TargetOptions, out_dir: Path) -> Outcome:
    """Render every target into `out_dir` (which passed outdir.check_output_dir)."""
    started = time.time_ns()
    roots = tuple(config.target_roots)
    if not caching_enabled() or options.clusters or options.sources or config.clusters:
        return _whole(root, config, options, out_dir, None)
    identity = cache.tool_identity(find_kustomize(), memo_directory())
    path = render_record.record_path(root, out_dir)
    data = render_record.load(path, render_record.context_of(root, config, out_dir, identity))
    verified = render_record.verify(data, root, out_dir, roots, started) if data is not None else None
    if verified is None:
        return _whole(root, config, options, out_dir, render_record.begin(root, config, out_dir, identity, started))
    tree = Tree(root, limits=config.limits)
    results = []
    if verified.stale:
        # The few targets a change touched: a miss builds plain (nothing here needs origins), about a fifth
        # cheaper than an origin build; a later check or diff of such a target adds its origin entry.
        results = render_targets(
            root,
            verified.stale,
            jobs=options.jobs,
            progress=tty_progress(len(verified.stale)),
            limits=config.limits,
            tree=tree,
            plain_misses=True,
        )
    changed = [r for r in results if r.target not in verified.current or not _same_file(out_dir, r)]
    if changed:
        write_rendered(changed, out_dir, complete=False)
    if results or verified.refresh:
        render_record.save(
            path,
            verified.data,
            root,
            out_dir,
            roots,
            tree,
            render_record.entries_of(tree, [(r.target, r.is_empty) for r in results]),
            _written(changed),
            started,
            verified.changed,
        )
    empty = sorted([*verified.empty, *(r.target for r in results if r.is_empty)])
    return Outcome(empty, len(results))


def _whole(
    root: Path, config: RepoConfig, options: TargetOptions, out_dir: Path, record: render_record.Pending | None
) -> Outcome:
    on_graph = _flux_recorder(config, options) if caching_enabled() else None
    workspace = open_workspace(root, config, options, origins=False, on_graph=on_graph)
    print_notices(workspace)
    names = workspace.names
    results = workspace.render(names, progress=tty_progress(len(names)))
    empty = workspace.empty_targets(results)
    write_rendered(results, out_dir, complete=True)
    if record is not None and workspace.tree is not None:
        render_record.finish(record, workspace.tree, [(r.target, r.is_empty) for r in results], _written(results))
    return Outcome(empty, len(results))


def _flux_recorder(config: RepoConfig, options: TargetOptions) -> Callable[[FluxGraph], None]:
    """Saves a Flux render's record for the next diff against this commit (flux.record)."""
    started = time.time_ns()

    def save(graph: FluxGraph) -> None:
        if graph.run.kustomize is None:
            return  # a listing's graph (kustomize possibly never found): not a render
        identity = cache.tool_identity(graph.run.kustomize, memo_directory())
        sources = {**config.sources, **parse_source_options(options.sources)}
        clusters = options.clusters or tuple(config.clusters)
        flux_record.save(graph, flux_record.context_of(identity, clusters, sources, config.sync_source), started)

    return save


def _same_file(out_dir: Path, result: RenderedTarget) -> bool:
    """Whether the target's output file already holds this text (then it is not written again)."""
    try:
        return output_path(out_dir, result.target).read_text(encoding="utf-8") == result.text
    except (OSError, UnicodeDecodeError):
        return False


def _written(results: list[RenderedTarget]) -> dict[str, tuple[str | None, str]]:
    written: dict[str, tuple[str | None, str]] = {MARKER: (None, MARKER_TEXT)} if results else {}
    for result in results:
        written[output_path(Path(), result.target).as_posix()] = (result.target, result.text)
    return written
