"""Which kustomization directories are render targets, and the targets a command line names.

A *target* is a directory under the target roots (gitops.yaml `targets.roots`, default overlays/ and clusters/)
holding a kustomization file that is neither a Component nor pulled in by another kustomization of those
trees (as a resource, base or component): the directories a Flux Kustomization's `spec.path` or a person
would build. What each target reads is targets.Tree's business.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from gitops.errors import GitopsError
from gitops.paths import TARGET_ROOTS
from gitops.targets import Tree, kustomization_file


def discover(repo_root: Path, tree: Tree | None = None, roots: Sequence[str] = TARGET_ROOTS) -> list[str]:
    """All render targets of the repository under `roots`, as sorted repo-relative POSIX paths."""
    tree = tree or Tree(repo_root)
    nodes = [tree.load(d) for d in tree.files.kustomization_dirs(tree.root, roots)]
    included = {child for node in nodes for child in node.directories}
    return sorted(
        tree.rel(node.directory) for node in nodes if node.kind != "Component" and node.directory not in included
    )


def is_target(tree: Tree, directory: Path, roots: Sequence[str] = TARGET_ROOTS) -> bool:
    """Whether `directory` is a target (what discover would say), without parsing every kustomization.

    Naming one target in a large repository must cost about one build, not a parse of all of them. A
    reference resolves either to a path ending in one of its own named segments, so a kustomization including
    `directory` that way mentions its name, or (all named segments cancelled by `..`) to its own directory
    or an ancestor, so it lies inside `directory`. Only such kustomization files are parsed, and those holding
    a backslash (a YAML escape can spell the name otherwise). With symlinks in the repository a reference can
    use another name: no shortcut is taken.
    """
    parts = tree.rel(directory).split("/")
    if parts[0] not in roots or len(parts) < 2 or tree.files.virtual:
        return False
    if kustomization_file(directory, tree.files) is None or tree.load(directory).kind == "Component":
        return False
    if tree.has_symlinks():
        return False
    name = directory.name.encode()
    inside = str(directory) + "/"
    for candidate in tree.files.kustomization_dirs(tree.root, roots):
        if candidate == directory:
            continue
        text = tree.files.read(kustomization_file(candidate, tree.files) or candidate)
        mentions = name in text or b"\\" in text or str(candidate).startswith(inside)
        if mentions and directory in tree.load(candidate).directories:
            return False
    return True


def candidates(tree: Tree, selector: str) -> list[Path]:
    """Where a command-line selector may point, in the order select tries them: relative to the current
    directory, else to the repository root (the form `--list` prints)."""
    path = Path(selector)
    return [path.resolve()] if path.is_absolute() else [(Path.cwd() / path).resolve(), (tree.root / path).resolve()]


def select(
    repo_root: Path,
    requested: Iterable[str],
    tree: Tree | None = None,
    roots: Sequence[str] = TARGET_ROOTS,
    every_target: Callable[[], list[str]] | None = None,
) -> list[str]:
    """Targets named on the command line: a target itself, or a directory whose targets are all taken.

    `every_target`: the discovered targets (default: discover), only asked for when a selector names no
    target itself."""
    tree = tree or Tree(repo_root)
    available: list[str] | None = None
    chosen: list[str] = []
    for raw in requested:
        matches: list[str] = []
        for absolute in candidates(tree, raw):
            rel = tree.rel(absolute)
            if is_target(tree, absolute, roots):
                matches = [rel]
                break
            if not absolute.is_dir():
                continue  # targets are directories: none is this path or lies below it
            if available is None:
                available = every_target() if every_target is not None else discover(repo_root, tree, roots)
            matches = [t for t in available if t == rel or t.startswith(rel.rstrip("/") + "/") or rel in ("", ".")]
            if matches:
                break
        if not matches:
            raise GitopsError(f"{raw}: not a render target (see `gitops render --list`)")
        chosen.extend(m for m in matches if m not in chosen)
    return chosen
