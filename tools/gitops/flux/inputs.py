"""What one Flux Kustomization's build reads, and whether that build can yield Flux Kustomizations at all.

The files a build reads key the render cache, tell the diff which targets a change can reach, and decide
which targets listing must build: a target is a **leaf** when no file its build reads can make an object
with a Flux Kustomization's apiVersion, nor an ArtifactGenerator (which maps ExternalArtifact sources for the
Kustomizations found after it). That is decided from the text, conservatively:
- no file mentions `kustomize.toolkit.fluxcd.io` or `source.extensions.fluxcd.io` (a group must be written
  somewhere to come out), and
- every line that mentions `apiVersion` is a plain `apiVersion: <literal>` line: a `${var}` that postBuild
  could fill, a double-quoted escape, a JSON patch or replacement aimed at `/apiVersion`, a flow mapping,
  all make the target interior (built), as do inputs the walk cannot tell (remote bases, helmCharts,
  paths outside the repository: the walk refuses them).
Generators (configMapGenerator, secretGenerator) only make ConfigMaps and Secrets.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from gitops.errors import GitopsError
from gitops.flux.artifacts import GENERATOR_GROUP
from gitops.flux.build import build_inputs
from gitops.flux.files import RepoFiles
from gitops.flux.objects import KUSTOMIZE_GROUP, FluxKustomization
from gitops.targets import Tree

_GROUPS = (KUSTOMIZE_GROUP.encode(), GENERATOR_GROUP.encode())
_API_VERSION = re.compile(rb"apiVersion")
# `apiVersion: v1`, `- apiVersion: apps/v1`, `"apiVersion": "v1",` (JSON), with an optional comment.
_LITERAL_API_VERSION = re.compile(
    rb"""[ \t]*(?:-[ \t]+)*(["']?)apiVersion\1[ \t]*:[ \t]*(["']?)[A-Za-z0-9./-]+\2[ \t]*,?[ \t]*(?:#[^\n]*)?\r?"""
)


class LeafTest:
    """Whether a target's build cannot yield a Flux Kustomization (see the module docstring); each file is
    read once per run."""

    def __init__(self, files: RepoFiles, tree: Tree) -> None:
        self.files, self.tree = files, tree
        self._plain: dict[Path, bool] = {}
        self._answers: dict[tuple[Path, tuple[str, ...], bool], set[Path] | None] = {}
        self._lock = threading.Lock()

    def leaf_inputs(self, ks: FluxKustomization, directory: Path) -> set[Path] | None:
        """The files the build reads when it is a leaf; None when it may yield Flux Kustomizations.

        Answered once per run for each directory and components (all of the Kustomization that build_inputs
        reads): answers can be worked out ahead, while the builds that find the Kustomizations run."""
        key = (directory, ks.components, ks.ignore_missing_components)
        with self._lock:
            if key in self._answers:
                known = self._answers[key]
                return None if known is None else set(known)
        answer = self._leaf_inputs(ks, directory)
        with self._lock:
            self._answers[key] = answer
        return None if answer is None else set(answer)

    def _leaf_inputs(self, ks: FluxKustomization, directory: Path) -> set[Path] | None:
        if not directory.is_dir():
            return None  # the build reports it
        try:
            with self._lock:  # the walk caches as it goes
                inputs = build_inputs(ks, directory, self.files, self.tree)
        except (GitopsError, ValueError, OSError):
            return None  # the build will say what is wrong; never guess
        return inputs if all(self._cannot_yield(path) for path in inputs) else None

    def _cannot_yield(self, path: Path) -> bool:
        with self._lock:
            known = self._plain.get(path)
        if known is None:
            try:
                known = cannot_yield_kustomization(self.files.data(path))
            except OSError:
                known = False  # unreadable: the build decides
            with self._lock:
                self._plain[path] = known
        return known


def cannot_yield_kustomization(data: bytes) -> bool:
    """The text rule (module docstring) on one file's bytes."""
    if any(group in data for group in _GROUPS):
        return False
    for match in _API_VERSION.finditer(data):
        start = data.rfind(b"\n", 0, match.start()) + 1
        end = data.find(b"\n", match.end())
        if not _LITERAL_API_VERSION.fullmatch(data, start, len(data) if end < 0 else end):
            return False
    return True
