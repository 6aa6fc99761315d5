"""Scale-out over CI runners: a deterministic partition of targets, and merging the shards' JSON reports.

`--shard K/N` takes the K-th of N bins. Targets go largest first (by the bytes of their inputs, ties broken
by name) into the bin with the fewest bytes so far (ties: the lowest bin number), so every runner gets about
the same build work and every runner computes the same partition from the same checkout.

Shards share the render cache's key scheme: a later run on any runner (or unsharded) hits what they stored.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gitops.errors import GitopsError
from gitops.targets import Tree

if TYPE_CHECKING:
    from gitops.flux.graph import FluxGraph

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
CHECK_FORMAT_VERSION = 1
DIFF_FORMAT = "gitops-diff/v1"
DIFF_STATUSES = ("added", "changed", "removed", "moved", "rolling")


@dataclass(frozen=True)
class Shard:
    index: int
    """1-based."""
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`K/N` with 1 <= K <= N."""
    match = _SHARD.match(text)
    if match is None:
        raise GitopsError(f"--shard {text}: expected K/N, e.g. 2/4")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise GitopsError(f"--shard {text}: K must be between 1 and N")
    return Shard(index, count)


def input_size(tree: Tree, target: str) -> int:
    """Bytes a build of `target` reads: a stand-in for its build time."""
    return _bytes(tree.inputs(tree.root / target))


def partition(sizes: dict[str, int], count: int) -> list[list[str]]:
    """`count` bins of target names (each sorted), greedy largest-first by size."""
    bins: list[list[str]] = [[] for _ in range(count)]
    loads = [0] * count
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        lightest = min(range(count), key=lambda i: (loads[i], i))
        bins[lightest].append(name)
        loads[lightest] += sizes[name]
    return [sorted(b) for b in bins]


def shard_targets(tree: Tree, targets: Sequence[str], shard: Shard) -> list[str]:
    """The targets of `shard` (possibly none: more shards than targets)."""
    sizes = {name: input_size(tree, name) for name in targets}
    return partition(sizes, shard.count)[shard.index - 1]


def flux_shard(graph: FluxGraph, shard: Shard) -> set[str]:
    """The Flux targets of `shard`, partitioned on a graph opened with leaves deferred (the same graph on
    every runner). Leaves weigh the bytes their build reads; targets built while the graph was found (those
    yielding other Kustomizations) cost every shard the same and weigh one byte, so that they still spread."""
    targets = [t for t in graph.result().targets if t.skipped is None]
    sizes = {t.name: 1 + _bytes(graph.inputs(t) or ()) for t in targets}
    return set(partition(sizes, shard.count)[shard.index - 1])


def _bytes(paths: Iterable[Path]) -> int:
    total = 0
    for path in paths:
        try:
            total += os.stat(path).st_size
        except OSError:
            continue
    return total


def _load_reports(paths: Sequence[Path]) -> list[tuple[Path, Any]]:
    if not paths:
        raise GitopsError("--merge needs at least one report")
    reports = []
    for path in paths:
        try:
            reports.append((path, json.loads(path.read_text(encoding="utf-8"))))
        except OSError as exc:
            raise GitopsError(f"{path}: cannot read: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise GitopsError(f"{path}: not a JSON report: {str(exc).splitlines()[0]}") from None
    return reports


def _finding_order(finding: dict[str, Any]) -> tuple[Any, ...]:
    """The order docs/check-json.md promises (file, line, target, rule, path; then message)."""
    return (
        finding.get("file") or "~",
        finding.get("line") or 0,
        finding.get("target") or "",
        finding.get("rule") or "",
        finding.get("path") or "",
        finding.get("message") or "",
    )


def merge_check_reports(paths: Sequence[Path]) -> tuple[dict[str, Any], int]:
    """One `gitops check -o json` report from the shards' reports, and its exit code (1 on any error).

    Findings that several shards report alike (about source files every shard scans) count once.
    """
    reports = _load_reports(paths)
    versions = set()
    findings: dict[str, dict[str, Any]] = {}
    targets = documents = 0
    skipped: set[str] = set()
    for path, report in reports:
        if not isinstance(report, dict) or report.get("version") != CHECK_FORMAT_VERSION:
            raise GitopsError(f"{path}: not a `gitops check -o json` report (version {CHECK_FORMAT_VERSION})")
        summary, listed = report.get("summary"), report.get("findings")
        if not isinstance(summary, dict) or not isinstance(listed, list):
            raise GitopsError(f"{path}: a check report needs `summary` and `findings`")
        versions.add(report.get("kubernetesVersion"))
        targets += int(summary.get("targets") or 0)
        documents += int(summary.get("documents") or 0)
        skipped.update(summary.get("skippedTargets") or [])
        for finding in listed:
            findings.setdefault(json.dumps(finding, sort_keys=True), finding)
    if len(versions) != 1:
        raise GitopsError(
            f"the reports were checked against different Kubernetes versions: {sorted(map(str, versions))}"
        )
    merged = sorted(findings.values(), key=_finding_order)
    errors = sum(1 for f in merged if f.get("severity") == "error")
    report = {
        "version": CHECK_FORMAT_VERSION,
        "kubernetesVersion": versions.pop(),
        "summary": {
            "targets": targets,
            "skippedTargets": sorted(skipped),
            "documents": documents,
            "errors": errors,
            "warnings": sum(1 for f in merged if f.get("severity") == "warning"),
        },
        "findings": merged,
    }
    return report, 1 if errors else 0


def merge_diff_reports(paths: Sequence[Path]) -> tuple[dict[str, Any], int]:
    """One `gitops diff -o json` report from reports over disjoint target sets, and its exit code.

    All must compare the same base and head commits; a target reported by two shards must be reported alike.
    """
    reports = _load_reports(paths)
    sides: set[str] = set()
    targets: dict[str, dict[str, Any]] = {}
    rendered = unchanged = 0
    skipped: dict[str, Any] = {}
    for path, report in reports:
        if not isinstance(report, dict) or report.get("format") != DIFF_FORMAT:
            raise GitopsError(f"{path}: not a `gitops diff -o json` report ({DIFF_FORMAT})")
        sides.add(json.dumps([report.get("base"), report.get("head")], sort_keys=True))
        summary = report.get("summary") or {}
        rendered += int(summary.get("targetsRendered") or 0)
        unchanged += int(summary.get("targetsUnchanged") or 0)
        items = [item for item in report.get("skipped") or [] if isinstance(item, dict)]
        skipped.update((str(item.get("target")), item) for item in items)
        for target in report.get("targets") or []:
            name = target.get("target")
            if name in targets and targets[name] != target:
                raise GitopsError(f"{path}: target {name} differs from another report's")
            targets[name] = target
    if len(sides) != 1:
        raise GitopsError("the diff reports compare different base or head commits")
    base, head = json.loads(sides.pop())
    ordered = [targets[name] for name in sorted(targets)]
    counts = dict.fromkeys(DIFF_STATUSES, 0)
    for target in ordered:
        for status, number in (target.get("counts") or {}).items():
            counts[status] = counts.get(status, 0) + int(number)
    changed = bool(ordered)
    report = {
        "format": DIFF_FORMAT,
        "base": base,
        "head": head,
        "changed": changed,
        "summary": {
            "targetsChanged": len(ordered),
            "targetsRendered": rendered,
            "targetsUnchanged": unchanged,
            "resources": counts,
        },
        "targets": ordered,
        "skipped": [skipped[name] for name in sorted(skipped)],
    }
    return report, 1 if changed else 0
