"""What the last full render of a repository saw, so that the next one costs a few stats per file.

A render with the cache on leaves a record beside the cache: the stat identity (size, mtime, ctime, inode)
of every file the run depended on (each target's inputs, every YAML file the Flux mode decision scans, every
kustomization file discovery parses), of every directory whose listing could change that (all directories
outside hidden ones, and the ancestors of every input), each target's input list, and the files it wrote
under the output directory. The next full render verifies the record instead of walking the repository:

- a directory whose entries differ (a file added, removed or renamed), a changed file that now holds Flux's
  markers, a changed kustomization file whose kind or referenced directories differ (the target set could
  change), or anything unexpected in the output directory: the record is not used (the slow path);
- otherwise only the targets reading a changed file, the targets whose inputs cannot be listed up front
  (plugin configs name files of their own) and the targets whose output file is not as written are rendered
  (through the cache) and written; every other target's output is known to be current.

Stat identity follows git's "racily clean" rule: an entry whose mtime or ctime is not older than the moment
its content was read (less a margin for coarse file-system clocks) is not trusted by stat; the record keeps
the digest of the content that was used instead, and the next run compares content. A repository holding
symlinks, Flux mode, `--no-cache`, named targets and shards never use a record.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops import __version__
from gitops.atomic import write_text_atomically
from gitops.cache_location import RENDER_RECORDS, cache_directory
from gitops.config import RepoConfig
from gitops.errors import GitopsError
from gitops.flux.clusters import FLUX_MARKERS, file_mentions_flux
from gitops.flux.files import NOT_SOURCES, RepoFiles
from gitops.targets import KUSTOMIZATION_FILES, Tree

FORMAT = "gitops-render-record-1"
RACY_MARGIN_NS = 2_000_000_000  # file systems with 1-2 s timestamps, and the kernel's coarse clock
UNKNOWN = "?"  # a racy entry whose used content is not known: always treated as changed

Stat = tuple[int, int, int, int]


def stat_of(path: str) -> Stat | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)


def _racy(stat: Stat, read_ns: int) -> bool:
    return max(stat[1], stat[2]) >= read_ns - RACY_MARGIN_NS


def _sha(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def record_path(root: Path, out_dir: Path | None) -> Path:
    where = hashlib.sha256(f"{root}\0{out_dir}".encode()).hexdigest()[:32]
    return cache_directory() / RENDER_RECORDS / f"{where}.json"


def context_of(root: Path, config: RepoConfig, out_dir: Path | None, tool_identity: str) -> str:
    """Everything besides files that decides a render's targets and output: a record of another is unused."""
    parts = [FORMAT, __version__, str(root), str(out_dir), tool_identity, repr(config.limits)]
    parts += [json.dumps(config.raw, sort_keys=True, default=str), json.dumps(list(config.target_roots))]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


@dataclass
class Verified:
    """A record that holds: the targets are `names`; only `stale` ones need rendering and writing."""

    names: list[str]
    stale: list[str]
    empty: list[str]
    """Targets that build to zero documents (render warns about each one)."""
    data: dict[str, Any]
    changed: set[int]
    """Indices (in data["files"]) of files that changed since the record was written."""
    refresh: bool
    """Whether entries were confirmed by content (the record is worth rewriting without them racy)."""
    current: set[str]
    """Targets whose output file is as it was written."""


def load(path: Path, context: str) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("context") != context:
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # last use: records count toward the render cache's size bound (cache.RenderCache.trim)
    return data


def verify(data: dict[str, Any], root: Path, out_dir: Path, roots: tuple[str, ...], started: int) -> Verified | None:
    """The record checked against the disk, or None when anything means the slow path must decide.

    `started`: when this run began. Any surprise (a malformed record included) is None: the slow path is
    always correct."""
    try:
        return _verify(data, root, out_dir, roots, started)
    except (KeyError, TypeError, ValueError, IndexError, GitopsError, OSError):
        return None


def _verify(data: dict[str, Any], root: Path, out_dir: Path, roots: tuple[str, ...], started: int) -> Verified | None:
    sources = _verify_sources(data, root, out_dir, roots, started)
    if sources is None:
        return None
    changed, stale, refresh = sources
    outputs = data["outputs"]
    found = {}
    for dirpath, _, filenames in os.walk(out_dir):
        rel_dir = os.path.relpath(dirpath, out_dir)
        for filename in filenames:
            found[filename if rel_dir == "." else f"{rel_dir}/{filename}"] = os.path.join(dirpath, filename)
    if set(found) != set(outputs):
        return None  # files of no target, or a missing marker: the whole directory is written again
    current = set()
    for rel, (target, recorded, sha) in outputs.items():
        now = stat_of(found[rel])
        if target is None:
            continue  # the marker file: its content is rewritten with every write
        if now is None or list(now) != recorded or (sha and _sha(found[rel]) != sha):
            stale.add(target)
            continue
        current.add(target)
        if sha and not _racy(now, started):
            refresh = True
    names = sorted(data["targets"])
    empty = [name for name in names if data["targets"][name]["empty"] and name not in stale]
    return Verified(names, sorted(stale), empty, data, changed, refresh, current)


@dataclass(frozen=True)
class Sources:
    """What a verified record says about the sources alone: the targets, and the inputs of those whose
    inputs are known (every target but `stale` ones, which read a changed file or plugin configs)."""

    names: list[str]
    inputs: dict[str, set[str]]
    stale: set[str]


def current_sources(
    root: Path, config: RepoConfig, tool_identity: str, out_dirs: list[Path | None], started: int
) -> Sources | None:
    """The sources part of the first record (of a render into one of `out_dirs`, None: of a check) that holds."""
    roots = tuple(config.target_roots)
    for out_dir in out_dirs:
        data = load(record_path(root, out_dir), context_of(root, config, out_dir, tool_identity))
        if data is None:
            continue
        try:
            verified = _verify_sources(data, root, out_dir, roots, started)
            if verified is None:
                continue
            files = data["files"]
            inputs = {
                name: {files[i][0] for i in entry["inputs"]}
                for name, entry in data["targets"].items()
                if name not in verified[1]
            }
            return Sources(sorted(data["targets"]), inputs, verified[1])
        except (KeyError, TypeError, ValueError, IndexError, GitopsError, OSError):
            continue
    return None


def _verify_sources(
    data: dict[str, Any], root: Path, out_dir: Path | None, roots: tuple[str, ...], started: int
) -> tuple[set[int], set[str], bool] | None:
    """(indices of changed files, targets reading one or reading plugin configs, whether entries were
    confirmed by content), or None when the targets themselves could differ."""
    refresh = False
    prefix = str(root) + "/"
    for rel, recorded, names, racy in data["dirs"]:
        path = prefix + rel if rel else str(root)
        now = stat_of(path)
        if now is None:
            return None
        if (list(now) != recorded or racy) and _listing(path, out_dir) != names:
            return None  # entries added, removed or renamed: targets and inputs must be found again
    changed: set[int] = set()
    for index, (rel, recorded, sha) in enumerate(data["files"]):
        now = stat_of(prefix + rel)
        if now is None or list(now) != recorded or sha == UNKNOWN:
            changed.add(index)
        elif sha:
            if _sha(prefix + rel) != sha:
                changed.add(index)
            elif not _racy(now, started):
                refresh = True
    files = data["files"]
    if len(changed) > len(files) // 2:
        return None  # a fresh checkout (a CI runner restoring the cache): every stat differs, walk instead
    structure = data["kustomizations"]
    marked = set(data["marked"])
    tree = Tree(root)
    for index in changed:
        rel = files[index][0]
        try:
            text = Path(prefix + rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        if rel in marked or any(marker in text for marker in FLUX_MARKERS):
            return None  # the Flux mode decision could change (a marker added, or a marked file edited)
        directory, _, name = rel.rpartition("/")
        if name in KUSTOMIZATION_FILES and directory in structure:
            node = tree.load(root / directory)
            if [node.kind, sorted(tree.rel(d) for d in node.directories)] != structure[directory]:
                return None  # discovery could find other targets
        elif name in KUSTOMIZATION_FILES and directory.split("/")[0] in roots:
            return None
    stale = {name for name, entry in data["targets"].items() if entry["volatile"] or changed & set(entry["inputs"])}
    return changed, stale, refresh


def snapshot_directories(root: Path, roots: tuple[str, ...], out_dir: Path | None, started: int) -> list[list[Any]]:
    """[rel, stat, listing, racy] of every directory whose listing a render depends on, taken before the run
    reads anything. Next time a directory whose stat differs, or that changed within the racy margin, is
    compared by listing (the output directory and its staging folders left out: render writes them).

    Walked: all directories except hidden ones, the output directory and top-level tool directories
    (rendered/, node_modules/) that are no target root. Inputs elsewhere add their ancestors (see save)."""
    skip_top = {name for name in NOT_SOURCES if name not in roots}
    found: list[list[Any]] = []
    stack = [(str(root), "")]
    while stack:
        path, rel = stack.pop()
        now = stat_of(path)
        try:
            entries = list(os.scandir(path))
        except OSError:
            continue
        if now is None:
            continue
        found.append([rel, list(now), _listing(path, out_dir, entries), _racy(now, started)])
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            if (not rel and entry.name in skip_top) or entry.path == str(out_dir):
                continue
            stack.append((entry.path, f"{rel}/{entry.name}" if rel else entry.name))
    return found


def _listing(path: str, out_dir: Path | None, entries: list[os.DirEntry[str]] | None = None) -> list[str]:
    """The names in a directory, but for the output directory and its staging folders (render writes them)."""
    names = [e.name for e in entries] if entries is not None else os.listdir(path)
    if out_dir is not None and path == str(out_dir.parent):
        names = [n for n in names if n != out_dir.name and not n.startswith(f".{out_dir.name}-")]
    return sorted(names)


def _ancestors(rel: str) -> list[str]:
    parts = rel.split("/")[:-1]
    return ["/".join(parts[:i]) for i in range(len(parts) + 1)]


@dataclass(frozen=True)
class Rendered:
    """What a record keeps of one rendered target."""

    inputs: set[Path]
    volatile: bool
    """Its walk reads plugin configs: inputs are not fully known up front, it is rendered every time."""
    empty: bool


def save(
    path: Path,
    data: dict[str, Any],
    root: Path,
    out_dir: Path | None,
    roots: tuple[str, ...],
    tree: Tree,
    targets: dict[str, Rendered],
    written: dict[str, tuple[str | None, str]],
    started: int,
    changed: set[int] | None = None,
) -> None:
    """Write the record of a render that rendered `targets` and wrote `written` ({path under out_dir: (target,
    or None for the marker file, and the text)}).

    `data`: a verified record (Verified.data) that every other target and file keeps its entry from, or a new
    one (new_record). `started`: when the run began; `changed`: Verified.changed."""
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, GitopsError):
        if _update(data, root, out_dir, roots, tree, targets, written, started, changed or set()):
            write_text_atomically(path, json.dumps(data, separators=(",", ":")))


def _changed_since(path: Path, started: int) -> bool:
    """Changed after the run began. Unlike the racy margin, a file edited just before the run is not in doubt
    here: the run read it after that, as it is now. (The kernel's coarse clock can stamp a change up to a tick
    early; the mode decision reads files well after the run begins.)"""
    now = stat_of(str(path))
    return now is None or max(now[1], now[2]) >= started


def new_record(context: str, directories: list[list[Any]]) -> dict[str, Any]:
    return {"format": FORMAT, "context": context, "dirs": directories, "files": [], "kustomizations": {}}


def _update(
    data: dict[str, Any],
    root: Path,
    out_dir: Path | None,
    roots: tuple[str, ...],
    tree: Tree,
    targets: dict[str, Rendered],
    written: dict[str, tuple[str | None, str]],
    started: int,
    changed: set[int],
) -> bool:
    """Fill `data` in; False when no sound record can be written."""
    if tree.has_symlinks() or tree.resolved_unscanned:
        return False  # a symlink can point elsewhere without any stat here changing
    prefix = str(root) + "/"
    used = {tree.rel(p): digest.hex() for p, digest in tree.read_digests().items()}
    files: list[list[Any]] = data["files"]
    index = {entry[0]: i for i, entry in enumerate(files)}
    fresh = "targets" not in data

    def entry_for(rel: str) -> list[Any]:
        now = stat_of(prefix + rel)
        if now is None or rel.startswith("/"):
            raise ValueError(rel)
        return [rel, list(now), (used.get(rel) or UNKNOWN) if _racy(now, started) else ""]

    listed = {entry[0] for entry in data["dirs"]}

    def number(rel: str) -> int:
        if rel in index:
            files[index[rel]] = entry_for(rel)  # read in this run: its identity as of now
        else:
            if not fresh and not listed.issuperset(_ancestors(rel)):
                raise ValueError(rel)  # a new input where no directory listing is watched: walk next time
            index[rel] = len(files)
            files.append(entry_for(rel))
        return index[rel]

    for i, (_rel, recorded, sha) in enumerate(files):
        if sha and sha != UNKNOWN and not _racy(tuple(recorded), started):
            files[i][2] = ""  # confirmed by content, and older than this run: its stat is enough from now on
    if fresh:
        data["targets"], data["outputs"] = {}, {}
        known = {entry[0] for entry in data["dirs"]}
        rels = {tree.rel(p) for t in targets.values() for p in t.inputs}
        scanned = {RepoFiles(root).rel(p): p for p in RepoFiles(root).yaml_files()}
        rels |= set(scanned)
        # the files the Flux mode decision reads (flux.discovery.find_clusters): any edit of one is in doubt
        # (one changed while the run read it counts too: what the decision saw is not known)
        data["marked"] = sorted(
            rel for rel, p in scanned.items() if file_mentions_flux(p) or _changed_since(p, started)
        )
        for directory in tree.files.kustomization_dirs(tree.root, roots):
            node = tree.load(directory)
            data["kustomizations"][tree.rel(directory)] = [node.kind, sorted(tree.rel(d) for d in node.directories)]
            rels.add(tree.rel(node.file))
        for rel in sorted(rels):
            number(rel)
        for rel in sorted({a for r in rels for a in _ancestors(r)} - known):
            path = prefix + rel if rel else str(root)
            now = stat_of(path)
            if now is None or _racy(now, started):
                return False  # a directory outside the walk changed during the run: its listing is unknown
            data["dirs"].append([rel, list(now), _listing(path, out_dir), False])
    else:
        for i in changed:
            number(files[i][0])
    for name, rendered in targets.items():
        inputs = sorted(number(rel) for rel in {tree.rel(p) for p in rendered.inputs})
        data["targets"][name] = {"inputs": inputs, "volatile": rendered.volatile, "empty": rendered.empty}
    outputs = data["outputs"]
    for rel, (_target, recorded, sha) in list(outputs.items()):
        if sha and not _racy(tuple(recorded), started):
            outputs[rel][2] = ""
    for rel, (target, text) in written.items():
        if out_dir is None:
            return False
        now = stat_of(os.path.join(out_dir, rel))
        if now is None:
            return False
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest() if target is not None and _racy(now, started) else ""
        outputs[rel] = [target, list(now), sha]
    return True


@dataclass(frozen=True)
class Pending:
    """A record begun before a run reads anything (its directory snapshot), finished once the run is done."""

    path: Path
    data: dict[str, Any]
    root: Path
    out_dir: Path | None
    roots: tuple[str, ...]
    started: int


def begin(root: Path, config: RepoConfig, out_dir: Path | None, tool_identity: str, started: int) -> Pending:
    """`out_dir`: where the run writes one file per target; None for a run that writes nothing (check)."""
    roots = tuple(config.target_roots)
    context = context_of(root, config, out_dir, tool_identity)
    directories = snapshot_directories(root, roots, out_dir, started)
    return Pending(record_path(root, out_dir), new_record(context, directories), root, out_dir, roots, started)


def finish(
    pending: Pending, tree: Tree, rendered: Sequence[tuple[str, bool]], written: dict[str, tuple[str | None, str]]
) -> None:
    """Save the record of a run over every target: `rendered` holds (target, builds to zero documents)."""
    save(
        pending.path,
        pending.data,
        pending.root,
        pending.out_dir,
        pending.roots,
        tree,
        entries_of(tree, rendered),
        written,
        pending.started,
    )


def entries_of(tree: Tree, rendered: Sequence[tuple[str, bool]]) -> dict[str, Rendered]:
    entries = {}
    for target, empty in rendered:
        directory = tree.root / target
        entries[target] = Rendered(tree.inputs(directory), tree.reads_plugin_configs(directory), empty)
    return entries
