"""`gitops check` as a library: sources -> render -> validate -> findings.

Pipeline (`check_repo`):
1. gitops.yaml (kubernetesVersion, check settings), the committed schemas for that version;
2. the source index (check.sourcemap.SourceIndex) reads and parses every file under base/, overlays/,
   clusters/ once; duplicate keys and invalid YAML are findings, and the targets reading such a file are not
   rendered (kustomize would refuse them with an unhelpful message): CHECK-NOT-RENDERED says what that left out;
3. every selected target rendered with origins; every document validated (schema.validate_manifests);
4. the secret-hygiene gate and the Mastodon policy pack judge the same manifests (gitops.yaml
   check.disable may turn off "hygiene" or "policy");
5. `gitops/ignore` suppressions apply to findings of every rule; findings that name a source file get a line
   where the source index can find one (the same parse the gate and the duplicate scan used).

Every rule id is listed in gitops.check.registry; adding a rule means defining it in its module's RULES.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gitops import cache, render_record
from gitops.cache_location import caching_enabled, memo_directory
from gitops.check.attribution import attribute_to_setters, target_inputs
from gitops.check.coverage import empty_target_findings, not_rendered_findings, skipped_target_findings
from gitops.check.findings import CheckResult, Finding
from gitops.check.object_size import oversized_objects
from gitops.check.registry import RETIRED
from gitops.check.schema import DEFAULT_ENV_CONFIGMAPS, SchemaSet, ValidationOptions, validate_manifests
from gitops.check.secret_gate import check_hygiene
from gitops.check.sourcemap import SourceIndex
from gitops.config import RepoConfig, load_config
from gitops.errors import GitopsError
from gitops.kustomize import find_kustomize
from gitops.manifests import Manifest, group_by_target
from gitops.policy.runner import run_policy
from gitops.policy.suppress import suppress_findings
from gitops.shards import Shard
from gitops.targets import Tree
from gitops.workspace import TargetOptions, Workspace, open_workspace


@dataclass(frozen=True)
class CheckOptions:
    kubernetes_version: str | None = None
    """Overrides gitops.yaml kubernetesVersion."""
    ignore_missing_schemas: bool | None = None
    """None: gitops.yaml check.ignoreMissingSchemas decides."""
    jobs: int | None = None
    schemas_dir: Path | None = None
    previous: dict[str, list[Manifest]] | None = None
    """The base ref's manifests by target (--new-only): policy rules about changes compare with them."""
    clusters: tuple[str, ...] = ()
    """`--cluster PATH`: Flux cluster entry paths (gitops.workspace)."""
    sources: tuple[str, ...] = ()
    """`--source NAME=PATH`: Flux source mappings."""
    shard: Shard | None = None
    """`--shard K/N` of a Flux repository (gitops.workspace.TargetOptions)."""
    record: bool = True
    """Leave a sources record for diff (render_record); not for a temporary checkout of a base."""


def _finding_key(finding: Finding) -> tuple[Any, ...]:
    return (finding.file or "~", finding.line or 0, finding.target or "", finding.rule, finding.path, finding.message)


def _blocked_targets(tree: Tree, targets: Sequence[str], bad_files: set[str]) -> dict[str, list[str]]:
    """{target: the unreadable source files it reads} for targets kustomize would refuse to build."""
    if not bad_files:
        return {}
    blocked = {}
    for target in targets:
        inputs = {tree.rel(p) for p in tree.inputs(tree.root / target)}
        if inputs & bad_files:
            blocked[target] = sorted(inputs & bad_files)
    return blocked


def _blocked_flux_targets(
    workspace: Workspace, tree: Tree, targets: Sequence[str], bad_files: set[str]
) -> dict[str, list[str]]:
    """Flux targets that read an unreadable source file (as for directory targets, they are not judged,
    whether or not kustomize managed to build them); any other build failure is the error it is."""
    failed = workspace.failed
    if not bad_files and not failed:
        return {}
    blocked = {}
    for target in targets:
        path = workspace.source_path(target) or "."
        try:
            inputs = {tree.rel(p) for p in tree.inputs(tree.root / path)}
        except GitopsError:
            inputs = set()
        inputs |= {f for f in bad_files if path == "." or f.startswith(path.rstrip("/") + "/")}
        if inputs & bad_files:
            blocked[target] = sorted(inputs & bad_files)
        elif target in failed:
            raise failed[target]
    return blocked


def check_repo(
    repo_root: Path, targets: Sequence[str] | None = None, options: CheckOptions | None = None
) -> CheckResult:
    """Run the whole check over the given targets (default: all). Raises GitopsError for bad input."""
    options = options or CheckOptions()
    root = repo_root.resolve()
    config = load_config(root, options.schemas_dir)
    version = options.kubernetes_version or config.kubernetes_version
    schema_set = SchemaSet.load(version, options.schemas_dir, config.schema_dirs)
    ignore_missing = (
        options.ignore_missing_schemas if options.ignore_missing_schemas is not None else config.ignore_missing_schemas
    )
    validation = ValidationOptions(
        ignore_missing_schemas=ignore_missing,
        env_configmaps=config.env_configmaps if config.env_configmaps is not None else DEFAULT_ENV_CONFIGMAPS,
    )

    record = _begin_record(root, config, targets, options)
    sources = SourceIndex(root)
    findings = sources.findings()
    target_options = TargetOptions(options.clusters, options.sources, options.jobs, options.shard)
    workspace = open_workspace(root, config, target_options, keep_going=True)
    every_target = workspace.names
    names = workspace.select(targets or ())
    bad_files = {f.file for f in findings if f.file}
    tree = workspace.tree or Tree(root, limits=config.limits)
    if workspace.is_flux:
        blocked = _blocked_flux_targets(workspace, tree, names, bad_files)
    else:
        blocked = _blocked_targets(tree, names, bad_files)
    to_render = [n for n in names if n not in blocked]
    rendered = workspace.render(to_render, origins=True) if to_render else []
    if record is not None and workspace.tree is not None and not blocked:
        # what diff needs to find the targets a change touches without walking them all (render_record)
        render_record.finish(record, workspace.tree, [(r.target, r.is_empty) for r in rendered], {})
    findings.extend(empty_target_findings(workspace.empty_targets(rendered)))
    findings.extend(skipped_target_findings({t.name: t.skipped or "" for t in workspace.skipped}))
    manifests = [m for r in rendered for m in r.manifests]
    schema_set.learn_crds(manifests)  # a CustomResourceDefinition in the output is its kind's schema
    findings.extend(validate_manifests(manifests, schema_set, validation))
    findings.extend(oversized_objects(manifests))

    if "hygiene" not in config.disabled_checks:
        findings.extend(check_hygiene(root, manifests, sources=sources))
    policy_skipped: list[str] = []
    if "policy" not in config.disabled_checks and sorted(names) == every_target:
        # Policy rules judge whole environments (migration chain, connection budget, one scheduler across all
        # layers): an environment with a target missing is not judged, every other environment is.
        policy_skipped = sorted({workspace.environment(t) for t in blocked})
        judged = {
            t: ms for t, ms in group_by_target(manifests).items() if workspace.environment(t) not in policy_skipped
        }
        policy = run_policy(root, judged, config.raw, previous=options.previous, flux=workspace.is_flux)
        findings.extend(policy)
    findings.extend(not_rendered_findings(blocked, policy_skipped, flux=workspace.is_flux))
    findings = suppress_findings(findings, manifests, RETIRED)

    findings = attribute_to_setters(
        sources, findings, manifests, lambda t: target_inputs(tree, workspace.source_path(t) or t)
    )
    findings = _with_lines(sources, findings)
    findings.sort(key=_finding_key)
    return CheckResult(findings, names, manifests, version, sorted(blocked), config.raw, workspace.is_flux)


def _begin_record(
    root: Path, config: RepoConfig, targets: Sequence[str] | None, options: CheckOptions
) -> render_record.Pending | None:
    """A sources record for a check of every directory target of the checkout, with the cache on."""
    if targets or not options.record or options.clusters or options.sources or config.clusters:
        return None
    if not caching_enabled():
        return None
    started = time.time_ns()
    try:
        identity = cache.tool_identity(find_kustomize(), memo_directory())
    except GitopsError:
        return None  # without kustomize, rendering reports it (if anything is to be rendered at all)
    return render_record.begin(root, config, None, identity, started)


def _with_lines(sources: SourceIndex, findings: list[Finding]) -> list[Finding]:
    out = []
    for finding in findings:
        if finding.file and finding.line is None and finding.identity is not None:
            line = sources.line(finding.file, finding.identity, finding.path)
            if line is not None:
                finding = replace(finding, line=line)
        out.append(finding)
    return out


def check_new_only(
    repo_root: Path, base_ref: str, targets: Sequence[str] | None = None, options: CheckOptions | None = None
) -> CheckResult:
    """Findings the change from `base_ref` to the working tree introduces (`gitops check --new-only`).

    The base is checked in a temporary git worktree (the user's checkout is never touched); a finding counts
    as old when the base has one with the same rule, resource, path and message, ignoring generator hashes
    and line numbers. Policy rules about changes (a skipped minor version, a changed domain) see the base.
    """
    from gitops import git
    from gitops.policy.baseline import new_findings

    options = options or CheckOptions()
    repo = git.open_repository(repo_root.resolve())
    commit = git.resolve(repo, base_ref)
    with git.checkout(repo, commit) as base_root:
        base = check_repo(base_root, targets, replace(options, record=False))
    previous = group_by_target(base.manifests)
    head = check_repo(repo_root, targets, replace(options, previous=previous))
    head.findings = new_findings(base.findings, head.findings)
    return head
