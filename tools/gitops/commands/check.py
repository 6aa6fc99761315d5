"""`gitops check [TARGET...]`: render, validate, report; exit 1 when any finding is an error."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops.check import CheckOptions, check_repo
from gitops.repo import root_from_context
from gitops.report import FORMATTERS, Summary


@click.command("check")
@click.argument("targets", nargs=-1)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Choice(sorted(FORMATTERS)),
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
@click.pass_context
def command(
    ctx: click.Context,
    targets: tuple[str, ...],
    output: str,
    kubernetes_version: str | None,
    ignore_missing_schemas: bool | None,
    jobs: int | None,
    schemas_dir: Path | None,
) -> None:
    """Validate every rendered document against strict Kubernetes/Flux schemas (and registered checks)."""
    root = root_from_context(ctx)
    options = CheckOptions(
        kubernetes_version=kubernetes_version,
        ignore_missing_schemas=ignore_missing_schemas,
        jobs=jobs,
        schemas_dir=schemas_dir,
    )
    result = check_repo(root, targets or None, options)
    summary = Summary(
        kubernetes_version=result.kubernetes_version,
        targets=result.targets,
        documents=len(result.manifests),
        resources=[(m.target, m.identity) for m in result.manifests],
        skipped_targets=result.skipped_targets,
    )
    sys.stdout.write(FORMATTERS[output](result.findings, summary))
    sys.stdout.flush()
    ctx.exit(1 if result.errors else 0)
