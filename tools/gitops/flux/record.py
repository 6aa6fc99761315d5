"""The Flux render record: what a full Flux render of a committed tree found, kept by that tree's git id.

A diff against a commit whose tree a render already saw need not write that commit's files out, find its
clusters and open its graph again (diff.flux_recorded). `save` writes a record only when that render is the
commit's: every file the run read (the discovery walk's YAML and `.sourceignore` files, gitops.yaml, every
target's build inputs) is tracked and has HEAD's blob id, was not modified after the run began, and the
tree holds no symlink, submodule or `.gitattributes` (a checkout could then differ from the blobs). It also
needs the diff's selective reasoning (docs/flux.md) to hold on that tree: every substituteFrom object comes
from exactly one Kustomization that is not a leaf (flux.inputs), without cycles, and no entry is a leaf.

Per target the record keeps its name, cluster, resolved path, skip reason, warnings, its inputs when it is a
leaf, the Flux Kustomization object its parent rendered, the objects its substituteFrom reads (by the target
holding them) and, in a pack file beside the record, its final documents (after postBuild). Nothing
decrypted is kept: a target whose variables come from a SOPS-encrypted Secret (directly or through another
target's substitution) has no stored output, and a record whose interior targets need one is not written.
The record's context is the kustomize identity (binary, version, our version) and the cluster, source and
sync-source options; `load` answers None for anything that does not match or does not parse.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops import git
from gitops.atomic import write_text_atomically
from gitops.cache_location import FLUX_RECORDS, cache_directory
from gitops.errors import GitopsError
from gitops.flux.build import build_inputs
from gitops.flux.discovery import object_key
from gitops.flux.inputs import LeafTest
from gitops.flux.model import FluxTarget
from gitops.flux.objects import FluxKustomization, is_flux_kustomization, parse_kustomization
from gitops.targets import Tree

if TYPE_CHECKING:
    from gitops.flux.graph import FluxGraph  # `save` is given one; a diff reading a record opens none

FORMAT = "gitops-flux-record-2"
MAX_RECORDS = 32
# Text that makes a file part of the graph's structure: every Flux API group, and the Flux Operator's kind.
STRUCTURE_MARKERS = (b"fluxcd.io", b"FluxInstance")
# Files whose presence or name alone the mode decision and discovery read, whatever they hold.
STRUCTURAL_NAMES = frozenset({"gitops.yaml", ".sourceignore", "gotk-sync.yaml"})
_REGULAR = ("100644", "100755")

# (target holding it, kind, namespace, name)
Source = tuple[str, str, str, str]


def context_of(tool_identity: str, clusters: Sequence[str], sources: Mapping[str, str], sync_source: str | None) -> str:
    """What besides the tree decides a Flux render: the kustomize identity (with our version) and options."""
    options = {"clusters": list(clusters), "sources": dict(sorted(sources.items())), "syncSource": sync_source}
    return f"{tool_identity}\n{json.dumps(options, sort_keys=True)}"


def is_structural(rel: str, structural: frozenset[str]) -> bool:
    return rel in structural or rel.rpartition("/")[2] in STRUCTURAL_NAMES


def mentions_structure(data: bytes) -> bool:
    return any(marker in data for marker in STRUCTURE_MARKERS)


@dataclass(frozen=True)
class RecordedTarget:
    name: str
    cluster: str
    parent: str | None
    path: str | None
    skipped: str | None
    warnings: tuple[str, ...]
    leaf_inputs: frozenset[str] | None
    """Repository-relative files its build reads when it is a leaf; None for the others."""
    kustomization: dict[str, Any] | None
    """The Flux Kustomization object as its parent rendered it (leaves whose output is stored)."""
    sources: tuple[Source, ...]
    output: tuple[int, int, str] | None
    """Where its final documents are in the pack: offset, length, SHA-256."""


@dataclass(frozen=True)
class FluxRecord:
    tree: str
    targets: dict[str, RecordedTarget]
    structural: frozenset[str]
    pack: Path
    sync_source: str
    """The GitRepository syncing the repository, as the run resolved it."""
    spec_ignore: str | None
    """Its `spec.ignore`, as the run applied it to the source artifact."""

    def documents(self, name: str) -> list[dict[str, Any]] | None:
        """A target's final documents, or None when not stored or damaged."""
        where = self.targets[name].output
        if where is None:
            return None
        offset, length, digest = where
        try:
            with open(self.pack, "rb") as handle:
                handle.seek(offset)
                data = handle.read(length)
        except OSError:
            return None
        if len(data) != length or hashlib.sha256(data).hexdigest() != digest:
            return None
        try:
            documents = json.loads(data)
        except ValueError:
            return None
        return documents if isinstance(documents, list) else None


def records_directory() -> Path:
    return cache_directory() / FLUX_RECORDS


def find(repo: git.Repository, commit: str) -> Path | None:
    """Where the record of `commit`'s tree is, when there is one (in whatever context)."""
    try:
        tree = git.tree_id(repo, commit)
    except GitopsError:
        return None
    path = records_directory() / f"{tree}.json" if tree is not None else None
    return path if path is not None and path.is_file() else None


def load(path: Path, context: str) -> FluxRecord | None:
    """The record at `path` (see find) when it was made in `context`; None when it does not fit or parse."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        tree = path.stem
        if data.get("format") != FORMAT or data.get("context") != context or data.get("tree") != tree:
            return None
        targets = {t["name"]: _target(t) for t in data["targets"]}
        structural = frozenset(data["structural"])
        sync_source, spec_ignore = str(data["syncSource"]), data["specIgnore"]
        return FluxRecord(tree, targets, structural, path.with_suffix(".pack"), sync_source, spec_ignore)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _target(data: dict[str, Any]) -> RecordedTarget:
    leaf, output = data["leafInputs"], data["output"]
    return RecordedTarget(
        name=str(data["name"]),
        cluster=str(data["cluster"]),
        parent=data["parent"],
        path=data["path"],
        skipped=data["skipped"],
        warnings=tuple(map(str, data["warnings"])),
        leaf_inputs=frozenset(map(str, leaf)) if leaf is not None else None,
        kustomization=data["kustomization"],
        sources=tuple((str(a), str(b), str(c), str(d)) for a, b, c, d in data["sources"]),
        output=(int(output[0]), int(output[1]), str(output[2])) if output is not None else None,
    )


def save(graph: FluxGraph, context: str, started: int) -> None:
    """Record a full render's graph for HEAD's tree when the render is that tree's (module docstring);
    otherwise, or when anything cannot be told, write nothing."""
    with contextlib.suppress(GitopsError, OSError, ValueError, UnicodeError):
        _save(graph, context, started)


def _save(graph: FluxGraph, context: str, started: int) -> None:
    root = graph.root
    repo = git.open_repository(root)
    head = git.head_commit(repo)
    tree = git.tree_id(repo, head) if head is not None else None
    if head is None or tree is None:
        return
    directory = records_directory()
    with contextlib.suppress(OSError, ValueError):
        known = json.loads((directory / f"{tree}.json").read_text(encoding="utf-8"))
        if known.get("format") == FORMAT and known.get("context") == context:
            return  # this tree's render in this context is recorded already
    entries = git.tree_entries(repo, head)
    if any(mode not in _REGULAR or rel.rpartition("/")[2] == ".gitattributes" for rel, (mode, _) in entries.items()):
        return
    found = _graph_facts(graph, entries)
    if found is None:
        return
    read, leaves, interior_inputs = found
    marked: set[str] = set()
    for rel in read:
        data = _unchanged_blob(root / rel, entries.get(rel), started)
        if data is None:
            return
        if mentions_structure(data):
            marked.add(rel)
    targets = graph.result().targets
    sources = _sources(targets, leaves)
    if sources is None:
        return
    records, pack = _target_records(targets, leaves, sources)
    if records is None:
        return
    directory.mkdir(parents=True, exist_ok=True)
    write_text_atomically(directory / f"{tree}.pack", pack)
    record = {
        "format": FORMAT,
        "context": context,
        "tree": tree,
        "structural": sorted(marked | interior_inputs),
        "syncSource": graph.run.sync_source,
        "specIgnore": graph.run.files.spec_ignore,
        "targets": records,
    }
    write_text_atomically(directory / f"{tree}.json", json.dumps(record, separators=(",", ":")))
    _trim(directory)


def _graph_facts(
    graph: FluxGraph, entries: Mapping[str, tuple[str, str]]
) -> tuple[set[str], dict[str, frozenset[str]], set[str]] | None:
    """Every repository-relative file the run read, each leaf's inputs, and the interior targets' inputs;
    None when a read file lies outside the repository, an input cannot be told, or a target's path is not a
    directory of the commit."""
    run, root = graph.run, graph.root
    tree = run.cache.tree if run.cache is not None else Tree(root)
    leaf_test = LeafTest(run.files, tree)
    directories = {"/".join(rel.split("/")[:i]) for rel in entries for i in range(rel.count("/") + 1)}
    read = _relative(run.files.walked(), root)
    if read is None:
        return None
    if (root / "gitops.yaml").exists():
        read.add("gitops.yaml")
    leaves: dict[str, frozenset[str]] = {}
    interior: set[str] = set()
    for target in graph.result().targets:
        if target.skipped is not None:
            continue
        if target.failed is not None or target.unbuilt or target.path is None:
            return None
        if (target.path if target.path != "." else "") not in directories:
            return None
        folder = (root / target.path).resolve()
        leaf = leaf_test.leaf_inputs(target.kustomization, folder)
        inputs = _relative(
            leaf if leaf is not None else build_inputs(target.kustomization, folder, run.files, tree), root
        )
        if inputs is None or (leaf is not None and target.parent is None):
            return None  # an entry that is a leaf: the diff's graph would not adopt its own Kustomization
        read |= inputs
        if leaf is not None:
            leaves[target.name] = frozenset(inputs)
        else:
            interior |= inputs
    return read, leaves, interior


def _relative(paths: Iterable[Path], root: Path) -> set[str] | None:
    prefix = f"{root}/"
    relative = {str(path).removeprefix(prefix) for path in paths}
    return None if any(r.startswith("/") for r in relative) else relative


def _unchanged_blob(path: Path, entry: tuple[str, str] | None, started: int) -> bytes | None:
    """The file's bytes when git's HEAD holds exactly them and the file was not written since the run began."""
    if entry is None:
        return None
    before = os.stat(path)
    data = path.read_bytes()
    blob = hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()
    if blob != entry[1] or max(before.st_mtime_ns, before.st_ctime_ns) >= started:
        return None
    return data


def _sources(
    targets: Sequence[FluxTarget], leaves: Mapping[str, frozenset[str]]
) -> dict[str, tuple[Source, ...]] | None:
    """The objects each target's substituteFrom reads, by the target holding them; None when one is missing,
    held by more than one target or by a leaf, or the substitutions depend on each other in a cycle."""
    holders: dict[tuple[str, str, str, str], list[str]] = {}
    for target in targets:
        for doc in target.documents:
            kind, namespace, name = object_key(doc)
            if kind in ("ConfigMap", "Secret"):
                holders.setdefault((target.cluster, kind, namespace, name), []).append(target.name)
    found: dict[str, tuple[Source, ...]] = {}
    for target in targets:
        ks, read = target.kustomization, []
        for ref in ks.substitute_from if target.skipped is None else ():
            holder = holders.get((target.cluster, ref.kind, ks.namespace, ref.name), [])
            if len(holder) != 1 or holder[0] in leaves:
                return None
            read.append((holder[0], ref.kind, ks.namespace, ref.name))
        found[target.name] = tuple(read)
    return found if not _has_cycle({n: {s[0] for s in read} for n, read in found.items()}) else None


def _has_cycle(edges: Mapping[str, set[str]]) -> bool:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in edges:
        stack = [(start, iter(sorted(edges.get(start, ()))))]
        if state.get(start):
            continue
        state[start] = 1
        while stack:
            node, following = stack[-1]
            nxt = next(following, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return True
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(sorted(edges.get(nxt, ())))))
    return False


def _target_records(
    targets: Sequence[FluxTarget], leaves: Mapping[str, frozenset[str]], sources: Mapping[str, tuple[Source, ...]]
) -> tuple[list[dict[str, Any]] | None, str]:
    """Each target as the record keeps it, and the pack of stored outputs (leaves and the interior targets
    substituteFrom reads); None when an interior target's variables come from SOPS or a needed output does
    not survive JSON as it is."""
    objects = _KustomizationObjects(targets)
    tainted = _decrypted(targets, sources)
    providers = {source[0] for read in sources.values() for source in read}
    records: list[dict[str, Any]] = []
    chunks: list[str] = []
    offset = 0
    for target in targets:
        leaf = leaves.get(target.name)
        if target.name in tainted and leaf is None and target.skipped is None:
            return None, ""
        output = None
        wanted = (leaf is not None or target.name in providers) and target.name not in tainted
        text = json.dumps(target.documents, separators=(",", ":")) if wanted else None
        if text is not None and json.loads(text) == target.documents:
            output = [offset, len(text), hashlib.sha256(text.encode("ascii")).hexdigest()]
            chunks.append(text)
            offset += len(text)
        elif target.name in providers:
            return None, ""
        records.append(
            {
                "name": target.name,
                "cluster": target.cluster,
                "parent": target.parent,
                "path": target.path,
                "skipped": target.skipped,
                "warnings": list(target.warnings),
                "leafInputs": sorted(leaf) if leaf is not None else None,
                "kustomization": objects.of(target) if output is not None else None,
                "sources": [list(s) for s in sources.get(target.name, ())],
                "output": output,
            }
        )
    return records, "".join(chunks)


def _decrypted(targets: Sequence[FluxTarget], sources: Mapping[str, tuple[Source, ...]]) -> set[str]:
    """Targets whose variables come from a SOPS-encrypted Secret, directly or through another substitution."""
    by_name = {t.name: t for t in targets}

    def encrypted(source: Source) -> bool:
        holder, kind, namespace, name = source
        return kind == "Secret" and any(
            object_key(doc) == (kind, namespace, name) and "sops" in doc for doc in by_name[holder].documents
        )

    tainted = {name for name, read in sources.items() if any(encrypted(s) for s in read)}
    grew = True
    while grew:
        grew = False
        for name, read in sources.items():
            if name not in tainted and any(s[0] in tainted for s in read):
                tainted.add(name)
                grew = True
    return tainted


class _KustomizationObjects:
    """The Flux Kustomization objects in each target's output, parsed once per parent."""

    def __init__(self, targets: Sequence[FluxTarget]) -> None:
        self._by_name = {t.name: t for t in targets}
        self._parsed: dict[str, list[tuple[FluxKustomization, dict[str, Any]]]] = {}

    def of(self, target: FluxTarget) -> dict[str, Any] | None:
        """The object in the parent's output that made `target` (None for an entry)."""
        parent = self._by_name.get(target.parent) if target.parent is not None else None
        if parent is None:
            return None
        if parent.name not in self._parsed:
            self._parsed[parent.name] = [
                (parse_kustomization(doc, parent.name), doc) for doc in parent.documents if is_flux_kustomization(doc)
            ]
        return next((doc for ks, doc in self._parsed[parent.name] if ks == target.kustomization), None)


def _trim(directory: Path) -> None:
    """Keep the newest MAX_RECORDS records (a record and its pack)."""
    with contextlib.suppress(OSError):
        records = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in records[MAX_RECORDS:]:
            old.unlink(missing_ok=True)
            old.with_suffix(".pack").unlink(missing_ok=True)
