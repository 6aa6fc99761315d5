"""Render targets with kustomize, in parallel, and write them atomically."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from gitops import cache
from gitops.errors import BuildError, GitopsError
from gitops.kustomize import Kustomize, find_kustomize
from gitops.limits import Limits, limits_from
from gitops.manifests import Manifest, dump_documents, manifests_from_build
from gitops.origins import without_origins
from gitops.outdir import mark, new_staging
from gitops.processes import TimedOut, stop_all
from gitops.target_selection import discover
from gitops.targets import Tree

Progress = Callable[[int, int, str], None]
# `apiVersion: v1` and the like: a plain (unquoted, not special) key at column 0 followed by ": " or a newline.
_STARTS_WITH_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_./-]*:(?: |\n)")


@dataclass
class RenderedTarget:
    """kustomize's output for one target; `manifests` are parsed on first use.

    `output` is what kustomize printed: with origins (build_root set) it carries origin annotations, which
    `manifests` resolve and strip; `text` is then the output as a plain build prints it.
    """

    target: str
    output: str
    repo_root: Path
    build_root: Path | None = None
    _manifests: list[Manifest] | None = field(default=None, repr=False)
    _text: str | None = field(default=None, repr=False)

    @property
    def manifests(self) -> list[Manifest]:
        if self._manifests is None:
            self._manifests = manifests_from_build(
                self.output, self.target, build_root=self.build_root, repo_root=self.repo_root
            )
        return self._manifests

    @property
    def is_empty(self) -> bool:
        """Whether the build printed zero documents, without parsing a whole output to learn it.

        kustomize prints a non-empty target as block-style mappings: a first line that is a plain key at column
        0 starts a mapping document, so the target has one. Anything else is decided by the parse.
        """
        if self._manifests is None:
            if not self.output.strip():
                return True
            if _STARTS_WITH_KEY.match(self.output):
                return False
        return not self.manifests

    @property
    def text(self) -> str:
        if self.build_root is None:
            return self.output
        if self._text is None:
            plain = without_origins(self.output)  # byte for byte what a plain build prints
            if plain is None:
                plain = dump_documents(m.body for m in self.manifests) if self.manifests else ""
            self._text = plain
        return self._text


def default_jobs() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def render_targets(
    repo_root: Path,
    targets: Sequence[str] | None = None,
    *,
    origins: bool = False,
    jobs: int | None = None,
    kustomize: Kustomize | None = None,
    progress: Progress | None = None,
    limits: Limits | None = None,
    tree: Tree | None = None,
    plain_misses: bool = False,
) -> list[RenderedTarget]:
    """Build each target (all discovered ones by default); results keep the order of `targets`.

    With `origins`, each manifest knows its source file: the target is built through a throw-away wrapper
    kustomization (outside the repository) that turns on `buildMetadata: [originAnnotations]`; the
    annotations are stripped from the manifests, and `text` is the plain build output without them.
    Without, the cache still stores origin builds (one entry serves render, check and diff), unless
    `plain_misses`: then a target the cache knows in neither form is built plain (cheaper by the origin
    wrapper's cost) and stored as a plain entry; a few targets re-rendered after a change take that way.
    """
    limits = limits or limits_from({})  # callers without a config still honour the environment's bounds
    root = repo_root.resolve()
    tree = tree or Tree(root, limits=limits)  # a caller's tree (check's) keeps one walk of the target graph per run
    names = list(targets) if targets is not None else discover(root, tree)
    for name in names:
        # the guard, before kustomize runs: references stay inside the root, every input file parses,
        # is bounded in size and alias expansion and has no duplicate keys
        tree.preflight(root / name)
    tool = kustomize or find_kustomize()
    workers = max(1, min(jobs or default_jobs(), len(names) or 1))
    cached = cache.for_run(tool, tree)

    with tempfile.TemporaryDirectory(prefix="gitops-wrap-") as scratch:
        gave_up = threading.Event()  # set by a timed-out build: the next ones would likely hang as long

        def build(index_name: tuple[int, str]) -> RenderedTarget | None:
            if gave_up.is_set():
                return None
            try:
                return build_one(index_name)
            except TimedOut:
                gave_up.set()
                raise

        def build_one(index_name: tuple[int, str]) -> RenderedTarget:
            index, name = index_name
            directory = root / name
            if not origins and cached is None:
                return RenderedTarget(name, _build(tool, directory, name, limits), root)
            if not origins and cached is not None and plain_misses:
                known = cached.plain_output(name)
                if known is None:
                    known = _build(tool, directory, name, limits)
                    cached.store_plain(name, known)
                return RenderedTarget(name, known, root)
            # With the cache, every build carries origins: one entry serves render, check and diff alike.
            wrapper = Path(scratch) / str(index)

            def build_wrapped() -> str:
                # written only when kustomize runs: a hit needs no wrapper (origins resolve from its path alone)
                write_origin_wrapper(wrapper, directory)
                return _build(tool, wrapper, name, limits)

            if cached is not None:
                prefix = os.path.relpath(root, wrapper) + "/"
                output = cached.build(name, build_wrapped, origin_prefix=prefix)
            else:
                output = build_wrapped()
            if not origins:
                plain = without_origins(output)
                return RenderedTarget(name, plain if plain is not None else _build(tool, directory, name, limits), root)
            rendered = RenderedTarget(name, output, root, wrapper)
            rendered.manifests  # noqa: B018 - parse in the worker thread, overlapping the other builds
            return rendered

        results: list[RenderedTarget | None] = [None] * len(names)
        errors: list[GitopsError] = []
        pool = ThreadPoolExecutor(max_workers=workers)
        try:
            futures = {pool.submit(build, (i, n)): i for i, n in enumerate(names)}
            for done, future in enumerate(as_completed(futures), start=1):
                i = futures[future]
                try:
                    results[i] = future.result()
                except GitopsError as exc:
                    errors.append(exc)
                if progress is not None:
                    progress(done, len(names), names[i])
        except BaseException:
            # Ctrl-C or SIGTERM: kill running builds' process groups, drop queued ones, do not wait
            stop_all()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)
    if cached is not None:
        cached.store.trim()
    if errors:
        raise sorted(errors, key=str)[0]
    return [r for r in results if r is not None]


def write_origin_wrapper(wrapper: Path, directory: Path) -> None:
    """A new directory `wrapper` whose kustomization builds `directory` with origin annotations."""
    wrapper.mkdir(parents=True)
    rel = os.path.relpath(directory, wrapper)
    (wrapper / "kustomization.yaml").write_text(
        f"resources:\n- {rel}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8"
    )


def _build(tool: Kustomize, directory: Path, name: str, limits: Limits) -> str:
    try:
        return tool.build(directory, timeout=limits.build_timeout)
    except (TimedOut, BuildError) as exc:
        raise type(exc)(f"{name}: kustomize build failed: {exc}") from None


def output_path(out_dir: Path, target: str) -> Path:
    return out_dir / f"{target}.yaml"


def write_rendered(results: Sequence[RenderedTarget], out_dir: Path, *, complete: bool) -> None:
    """Write one YAML file per target. Nothing is written unless every target rendered.

    `out_dir` must have passed outdir.check_output_dir. With `complete` (all targets were rendered) the
    whole directory is swapped in, so files of targets that no longer exist disappear; otherwise each file
    is replaced atomically and the others stay.
    """
    out_dir = out_dir.resolve()
    staging = new_staging(out_dir)
    try:
        for result in results:
            path = output_path(staging, result.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(result.text, encoding="utf-8")
        if complete:
            _swap_directory(staging, out_dir)
        else:
            mark(out_dir)
            for result in results:
                final = output_path(out_dir, result.target)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(output_path(staging, result.target), final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_directory(new: Path, final: Path) -> None:
    if not final.exists():
        os.replace(new, final)
        return
    old = new.with_name(new.name + "-old")
    os.replace(final, old)
    try:
        os.replace(new, final)
    except OSError:
        os.replace(old, final)
        raise
    shutil.rmtree(old, ignore_errors=True)


def tty_progress(total: int) -> Progress | None:
    """A one-line progress indicator on stderr, only on a TTY and only when more than a few targets render."""
    if total <= 3 or not sys.stderr.isatty():
        return None

    def show(done: int, count: int, name: str) -> None:
        end = "\n" if done == count else ""
        sys.stderr.write(f"\r\033[Krendering [{done}/{count}] {name}{end}")
        sys.stderr.flush()

    return show
