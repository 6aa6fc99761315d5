"""Render targets with kustomize, in parallel, and write them atomically."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from gitops import cache
from gitops.errors import GitopsError
from gitops.kustomize import Kustomize, find_kustomize
from gitops.manifests import Manifest, dump_documents, manifests_from_build
from gitops.targets import Tree, discover

Progress = Callable[[int, int, str], None]


@dataclass
class RenderedTarget:
    """kustomize's output for one target; `manifests` are parsed on first use.

    `output` is what kustomize printed: with origins (build_root set) it carries origin annotations, which
    `manifests` resolve and strip; `text` is then the manifests serialised again, without them.
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
    def text(self) -> str:
        if self.build_root is None:
            return self.output
        if self._text is None:
            self._text = dump_documents(m.body for m in self.manifests) if self.manifests else ""
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
) -> list[RenderedTarget]:
    """Build each target (all discovered ones by default); results keep the order of `targets`.

    With `origins`, each manifest knows its source file: the target is built through a throw-away wrapper
    kustomization (outside the repository) that turns on `buildMetadata: [originAnnotations]`; the
    annotations are stripped from the manifests, and `text` is the plain build output without them.
    """
    root = repo_root.resolve()
    tree = Tree(root)
    names = list(targets) if targets is not None else discover(root, tree)
    for name in names:
        tree.inputs(root / name)  # the guard: refuses references outside the root before kustomize runs
    tool = kustomize or find_kustomize()
    workers = max(1, min(jobs or default_jobs(), len(names) or 1))
    cached = cache.for_run(tool, tree)

    with tempfile.TemporaryDirectory(prefix="gitops-wrap-") as scratch:

        def build(index_name: tuple[int, str]) -> RenderedTarget:
            index, name = index_name
            directory = root / name
            if not origins:
                if cached is not None:
                    return RenderedTarget(name, cached.build(name, lambda: _build(tool, directory, name)), root)
                return RenderedTarget(name, _build(tool, directory, name), root)
            wrapper = Path(scratch) / str(index)
            wrapper.mkdir()
            rel = os.path.relpath(directory, wrapper)
            (wrapper / "kustomization.yaml").write_text(
                f"resources:\n- {rel}\nbuildMetadata: [originAnnotations]\n", encoding="utf-8"
            )
            if cached is not None:
                prefix = os.path.relpath(root, wrapper) + "/"
                output = cached.build(name, lambda: _build(tool, wrapper, name), origin_prefix=prefix)
            else:
                output = _build(tool, wrapper, name)
            rendered = RenderedTarget(name, output, root, wrapper)
            rendered.manifests  # noqa: B018 - parse in the worker thread, overlapping the other builds
            return rendered

        results: list[RenderedTarget | None] = [None] * len(names)
        errors: list[GitopsError] = []
        with ThreadPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(build, (i, n)): i for i, n in enumerate(names)}
            for done, future in enumerate(as_completed(futures), start=1):
                i = futures[future]
                try:
                    results[i] = future.result()
                except GitopsError as exc:
                    errors.append(exc)
                if progress is not None:
                    progress(done, len(names), names[i])
    if cached is not None:
        cached.store.trim()
    if errors:
        raise sorted(errors, key=str)[0]
    return [r for r in results if r is not None]


def _build(tool: Kustomize, directory: Path, name: str) -> str:
    try:
        return tool.build(directory)
    except GitopsError as exc:
        raise GitopsError(f"{name}: kustomize build failed: {exc}") from None


def output_path(out_dir: Path, target: str) -> Path:
    return out_dir / f"{target}.yaml"


def write_rendered(results: Sequence[RenderedTarget], out_dir: Path, *, complete: bool) -> None:
    """Write one YAML file per target. Nothing is written unless every target rendered.

    With `complete` (all targets were rendered) the whole directory is swapped in, so files of targets that
    no longer exist disappear; otherwise each file is replaced atomically and the others stay.
    """
    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        for result in results:
            path = output_path(staging, result.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(result.text, encoding="utf-8")
        if complete:
            _swap_directory(staging, out_dir)
        else:
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
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=final.parent))
    old.rmdir()
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
