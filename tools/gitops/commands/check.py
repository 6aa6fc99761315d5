"""`gitops check [TARGET...]`: render, validate, report; exit 1 when any finding is an error."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops.check.formatters import REPORTS, finding_line
from gitops.check.pipeline import CheckOptions, check_new_only, check_repo
from gitops.commands.cache_options import no_cache_option, shard_option, write_merged
from gitops.commands.target_options import target_options
from gitops.errors import GitopsError
from gitops.repo import config_from_context, root_from_context
from gitops.shards import Shard, merge_check_reports, shard_targets
from gitops.target_selection import discover, select
from gitops.targets import Tree
from gitops.workspace import TargetOptions, is_flux_repository


@click.command("check")
@click.argument("targets", nargs=-1)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(sorted(REPORTS)),
    default="text",
    show_default=True,
    help="Report format (json is documented in docs/check-json.md).",
)
@click.option("--kubernetes-version", default=None, help="Kubernetes minor version to validate against.")
@click.option(
    "--ignore-missing-schemas",
    is_flag=True,
    default=None,
    help="Report kinds without a schema as warnings, not errors.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel builds (default: CPUs).")
@click.option(
    "--schemas",
    "schemas_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Schema directory (default: the schemas/ shipped with the tool).",
)
@click.option("--new-only", is_flag=True, help="Report only findings the change introduces (needs --base).")
@click.option("--base", "base_ref", default=None, metavar="REF", help="Git ref the change is compared with.")
@click.option(
    "--explain",
    "explain_rule",
    default=None,
    metavar="RULE",
    help="Explain a rule instead of reporting (DB-1 shows the connection arithmetic per environment).",
)
@target_options
@shard_option
@click.option("--merge", is_flag=True, help="Merge the JSON reports given as arguments (shards) into one report.")
@no_cache_option
@click.pass_context
def command(
    ctx: click.Context,
    targets: tuple[str, ...],
    output: str,
    kubernetes_version: str | None,
    ignore_missing_schemas: bool | None,
    jobs: int | None,
    schemas_dir: Path | None,
    new_only: bool,
    base_ref: str | None,
    explain_rule: str | None,
    clusters: tuple[str, ...],
    sources: tuple[str, ...],
    shard: Shard | None,
    merge: bool,
) -> None:
    """Validate every rendered document: strict Kubernetes/Flux schemas, secret hygiene, the Mastodon policy."""
    if merge:
        write_merged(*merge_check_reports([Path(t) for t in targets]))
    root = root_from_context(ctx)
    flux_shard = None
    if shard is not None and is_flux_repository(root, config_from_context(ctx), TargetOptions(clusters, sources)):
        flux_shard = shard  # the workspace builds the shard's part of the Flux targets
    elif shard is not None:
        tree = Tree(root)
        targets = tuple(shard_targets(tree, select(root, targets, tree) if targets else discover(root, tree), shard))
        if not targets:
            raise GitopsError(f"--shard {shard}: this shard has no targets (fewer targets than shards)")
    options = CheckOptions(
        kubernetes_version=kubernetes_version,
        ignore_missing_schemas=ignore_missing_schemas,
        jobs=jobs,
        schemas_dir=schemas_dir,
        clusters=clusters,
        sources=sources,
        shard=flux_shard,
    )
    if new_only != (base_ref is not None):
        raise click.UsageError("--new-only and --base REF go together")
    if explain_rule is not None:
        ctx.exit(_explain(root, explain_rule, targets, options))
    if base_ref is not None:
        result = check_new_only(root, base_ref, targets or None, options)
    else:
        result = check_repo(root, targets or None, options)
    sys.stdout.write(REPORTS[output](result))
    sys.stdout.flush()
    ctx.exit(1 if result.errors else 0)


def _explain(root: Path, rule_id: str, targets: tuple[str, ...], options: CheckOptions) -> int:
    """Print the rule's rationale (and, for DB-1, the arithmetic); exit 1 when the rule has errors."""
    from gitops.manifests import group_by_target
    from gitops.policy.api import explain

    explain(rule_id)  # an unknown rule is a usage error before anything renders
    result = check_repo(root, targets or None, options)
    click.echo(explain(rule_id, root, group_by_target(result.manifests), result.config_raw, flux=result.flux))
    hits = [f for f in result.findings if f.rule == rule_id.strip().upper()]
    for finding in hits:
        click.echo(finding_line(finding))
    return 1 if any(f.is_error for f in hits) else 0
