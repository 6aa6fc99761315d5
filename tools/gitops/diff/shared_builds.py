"""kustomize builds shared by the two sides of a Flux diff: a target whose build inputs are the same on both
sides is built once.

Each side renders its Flux targets whole (its Kustomization objects and substituteFrom variables come from
its own render), but a kustomize build is a function of the files it reads: the base side reuses the head's
output for a build whose inputs have the same paths and bytes. What Flux adds to a build (a generated
kustomization, a wrapper carrying targetNamespace, patches, images...) is part of the key, as the wrapper's
content with repository paths in place of the side's location. postBuild substitution is not a kustomize
build: it runs per side with that side's variables, so a changed substituteFrom source still changes its
consumers. The inputs are the files the target walk lists (targets.Tree), as the directory diff trusts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gitops.errors import GitopsError
from gitops.kustomize import Kustomize
from gitops.limits import DEFAULT_BUILD_TIMEOUT
from gitops.targets import Tree, kustomization_file

# Keys of a Flux wrapper kustomization whose entries are paths (flux.build writes resources and components).
_PATH_KEYS = ("resources", "components")


class SharedBuilds:
    """The builds both sides may ask for, by input key; the first to ask builds, the other waits for it."""

    def __init__(self, tool: Kustomize) -> None:
        self.tool = tool
        self._lock = threading.Lock()
        self._builds: dict[str, Future[str]] = {}
        self.reused = 0

    def for_side(self, root: Path) -> Kustomize:
        """The kustomize one side renders with."""
        return _SideKustomize(self.tool.argv, self.tool.version, self.tool.env, shared=self, side=_Side(root))

    def build(self, key: str | None, directory: Path, timeout: float) -> str:
        if key is None:
            return self.tool.build(directory, timeout=timeout)
        with self._lock:
            future = self._builds.get(key)
            owner = future is None
            if future is None:
                future = self._builds[key] = Future()
            else:
                self.reused += 1
        if owner:
            try:
                future.set_result(self.tool.build(directory, timeout=timeout))
            except BaseException as exc:
                future.set_exception(exc)
        return future.result()


class _Side:
    """One side's repository root and its target walk (one at a time: the walk caches as it goes)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.tree = Tree(self.root)
        self._lock = threading.Lock()

    def key(self, directory: Path) -> str | None:
        """The build's input key, or None when it cannot be told (then the build is not shared)."""
        try:
            with self._lock:
                if directory.resolve().is_relative_to(self.root):
                    return self._digest(["directory", self._inputs(directory.resolve())])
                return self._wrapper_key(directory)
        except (GitopsError, OSError, ValueError, yaml.YAMLError):
            return None

    def _inputs(self, path: Path) -> list[str]:
        """Repository path and content digest of a directory's build inputs, or of one file."""
        if path.is_dir():
            if kustomization_file(path) is None:
                raise ValueError(f"{path}: no kustomization")
            return [self.tree.rel(path), self.tree.digest(path)]
        return [self.tree.rel(path), hashlib.sha256(path.read_bytes()).hexdigest()]

    def _wrapper_key(self, wrapper: Path) -> str | None:
        document = yaml.safe_load((wrapper / "kustomization.yaml").read_text(encoding="utf-8"))
        if not isinstance(document, dict):
            return None
        inputs: list[Any] = []
        for key in _PATH_KEYS:
            entries = document.get(key) or []
            relative = []
            for entry in entries:
                path = Path(os.path.normpath(wrapper / str(entry)))
                if not path.is_relative_to(self.root):
                    return None
                relative.append(path.relative_to(self.root).as_posix())
                inputs.append(self._inputs(path))
            document[key] = relative
        return self._digest(["wrapper", document, inputs])

    @staticmethod
    def _digest(value: Any) -> str:
        return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class _SideKustomize(Kustomize):
    shared: SharedBuilds | None = field(default=None, compare=False, hash=False)
    side: _Side | None = field(default=None, compare=False, hash=False)

    def build(self, directory: Path, *, timeout: float = DEFAULT_BUILD_TIMEOUT) -> str:
        assert self.shared is not None and self.side is not None
        return self.shared.build(self.side.key(directory), directory, timeout)
