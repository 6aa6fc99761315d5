"""`gitops render [TARGET...]`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from gitops.commands.cache_options import no_cache_option, shard_option
from gitops.commands.target_options import target_options
from gitops.errors import GitopsError
from gitops.repo import config_from_context, root_from_context

if TYPE_CHECKING:
    from gitops.shards import Shard


def _refuse_format(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise GitopsError(
            f"render -o {value}: -o/--output selects a report format in check and diff; render writes YAML"
            " files, use --out DIR (or --out - for stdout)"
        )


@click.command("render")
@click.argument("targets", nargs=-1)
@click.option(
    "--out",
    "out",
    default="rendered",
    show_default=True,
    help="Output directory (relative to the repository root), or - to write one target to stdout. Only a new,"
    " empty or previously rendered directory is accepted.",
)
@click.option("-o", "--output", expose_value=False, callback=_refuse_format, hidden=True, is_eager=True)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel builds (default: CPUs).")
@click.option("--list", "list_only", is_flag=True, help="List the render targets and exit.")
@target_options
@shard_option
@no_cache_option
@click.pass_context
def command(
    ctx: click.Context,
    targets: tuple[str, ...],
    out: str,
    jobs: int | None,
    list_only: bool,
    clusters: tuple[str, ...],
    sources: tuple[str, ...],
    shard: Shard | None,
) -> None:
    """Render targets (each Flux Kustomization, else kustomize directories) to rendered/<target>.yaml.

    Flux targets are named <cluster path>/<namespace>/<name> (docs/flux.md); --list shows each one's source
    path, dependsOn and Flux fields, and every skipped target with its reason."""
    root = root_from_context(ctx)
    if out == "-" and len(targets) == 1 and not (list_only or clusters or sources or shard is not None):
        # the named-target path imports only what it uses: most of this command's cost is its start-up
        from gitops.named_target import render_named

        text = render_named(root, config_from_context(ctx), targets[0])
        if text is not None:
            sys.stdout.write(text)
            return
    from gitops.outdir import check_output_dir
    from gitops.render import tty_progress, write_rendered
    from gitops.shards import shard_targets
    from gitops.workspace import TargetOptions, open_workspace, print_notices

    options = TargetOptions(clusters, sources, jobs, shard)
    if not (targets or list_only or shard is not None or out == "-"):
        from gitops.full_render import render_all  # it keeps the records a listing neither reads nor writes

        out_dir = check_output_dir(Path(out) if Path(out).is_absolute() else root / out, root, out)
        for empty in render_all(root, config_from_context(ctx), options, out_dir).empty:
            click.echo(f"warning: {empty}: builds to zero documents", err=True)
        return
    # A listing goes on past a target that fails to build (a remote base offline, a broken file): every
    # other target is listed, each failure named, and the exit is still an error (the list is incomplete).
    workspace = open_workspace(
        root, config_from_context(ctx), options, listing=list_only, origins=False, keep_going=list_only
    )
    print_notices(workspace)
    if list_only:
        for line in workspace.listing():
            click.echo(line)
        failed = workspace.failed
        for error in failed.values():
            click.echo(f"error: {error}", err=True)
        if failed:
            raise GitopsError(
                f"{len(failed)} of {len(workspace.names)} targets failed to build: the Flux Kustomizations they"
                " define are not listed"
            )
        return
    names = workspace.select(targets)
    if shard is not None and workspace.tree is not None:  # Flux mode: the workspace holds the shard's part
        names = shard_targets(workspace.tree, names, shard)
    if not names:
        raise GitopsError(f"{root}: no render targets selected")
    if out == "-":
        if len(names) != 1:
            raise GitopsError(f"--out - writes one target, but {len(names)} were selected")
        (result,) = workspace.render(names)
        sys.stdout.write(result.text)
        return
    out_dir = check_output_dir(Path(out) if Path(out).is_absolute() else root / out, root, out)
    results = workspace.render(names, progress=tty_progress(len(names)))
    for empty in workspace.empty_targets(results):
        click.echo(f"warning: {empty}: builds to zero documents", err=True)
    # A shard writes its own targets' files and leaves the other shards' in place.
    write_rendered(results, out_dir, complete=not targets and shard is None)
