"""`gitops diff --base REF [--head REF]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops.atomic import write_text_atomically
from gitops.commands.cache_options import no_cache_option, write_merged
from gitops.diff.flux_options import FluxOptions
from gitops.diff.formatters import DIFF_FORMATS, format_diff, use_colour
from gitops.diff.refs import diff_refs
from gitops.identities import LazyIdentities
from gitops.repo import config_from_context, root_from_context


@click.command("diff")
@click.option("--base", "base", default=None, help="Git ref to compare from (e.g. origin/main); required.")
@click.option(
    "--head",
    "head",
    default=None,
    help="Git ref to compare to (default: the working tree, uncommitted changes included).",
)
@click.option("-o", "--output", "fmt", type=click.Choice(list(DIFF_FORMATS)), default="text", show_default=True)
@click.option(
    "--out-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report here (atomically) instead of stdout.",
)
@click.option(
    "--color",
    "colour",
    type=click.Choice(["auto", "always", "never"]),
    default="auto",
    show_default=True,
    help="Colour for -o text; auto honours NO_COLOR.",
)
@click.option(
    "-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel builds per side (default: CPUs)."
)
@click.option("--cluster", "clusters", multiple=True, help="Flux cluster entry path (repeatable): Flux targets.")
@click.option("--source", "sources", multiple=True, help="Map a Flux source to a repository path: NAME=PATH.")
@click.option("--merge", is_flag=True, help="Merge the -o json reports given as arguments (shards) into one.")
@click.argument("reports", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@no_cache_option
@click.pass_context
def command(
    ctx: click.Context,
    base: str | None,
    head: str | None,
    fmt: str,
    out_file: Path | None,
    colour: str,
    jobs: int | None,
    clusters: tuple[str, ...],
    sources: tuple[str, ...],
    merge: bool,
    reports: tuple[Path, ...],
) -> None:
    """Render BASE and HEAD, compare per target. Exit 0: no changes, 1: changes, 2: error.

    In a Flux repository (or with --cluster/--source) a target is a Flux Kustomization,
    <cluster path>/<namespace>/<name>; targets whose source is not mapped are named as skipped."""
    if merge:
        from gitops.shards import merge_diff_reports

        write_merged(*merge_diff_reports(reports))
    if base is None or reports:
        raise click.UsageError("Missing option '--base'." if base is None else "report files go with --merge")
    root = root_from_context(ctx)
    config = config_from_context(ctx)  # the head's gitops.yaml names the clusters and sources of both sides
    given: dict[str, str] = {}
    if sources:
        from gitops.flux.rendering import parse_source_options  # only a run given --source pays for it

        given = parse_source_options(sources)
    flux = FluxOptions(
        clusters or config.clusters,
        {**config.sources, **given},
        sync_source=config.sync_source,
        identities=LazyIdentities(),  # no key: encrypted substituteFrom Secrets stay unsubstituted
    )
    result = diff_refs(root, base, head, jobs=jobs, flux=flux, config=config)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    stream = sys.stdout
    text = format_diff(result, fmt, colour=fmt == "text" and out_file is None and use_colour(stream, colour))
    if out_file is not None:
        write_text_atomically(out_file.resolve(), text)
    else:
        stream.write(text)
        stream.flush()
    ctx.exit(1 if result.changed else 0)
