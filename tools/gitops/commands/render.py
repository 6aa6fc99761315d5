"""`gitops render [TARGET...]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops.commands.cache_options import no_cache_option, shard_option
from gitops.errors import GitopsError
from gitops.flux.discovery import FluxRender, render_flux, select_targets
from gitops.flux.rendering import flux_entries, listing_line, notices, parse_source_options, rendered_targets
from gitops.outdir import check_output_dir
from gitops.render import RenderedTarget, render_targets, tty_progress, write_rendered
from gitops.repo import config_from_context, root_from_context
from gitops.shards import Shard, shard_targets
from gitops.targets import Tree, discover, select


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
@click.option("--cluster", "clusters", multiple=True, help="Flux cluster entry path (repeatable): Flux targets.")
@click.option("--source", "sources", multiple=True, help="Map a Flux source to a repository path: NAME=PATH.")
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
    """Render targets (every overlay/cluster kustomization Flux would build) to rendered/<target>.yaml.

    With --cluster, or in a Flux repository whose overlay/cluster kustomizations (if any) all lie inside
    Flux cluster entry paths, the targets are Flux Kustomizations: rendered/<cluster>/<namespace>/<name>.yaml."""
    root = root_from_context(ctx)
    limits = config_from_context(ctx).limits
    tree = Tree(root, limits=limits)
    entries = list(clusters) or flux_entries(root, discover(root, tree))
    if entries or sources:
        flux = render_flux(root, entries, sources=parse_source_options(sources), identities=_identities(), jobs=jobs)
        if flux is not None:
            _flux_command(root, flux, targets, out, list_only)
            return
    if list_only:
        for name in discover(root, tree):
            click.echo(name)
        return
    names = select(root, targets, tree) if targets else discover(root, tree)
    if shard is not None:
        names = shard_targets(tree, names, shard)
    if not names:
        raise GitopsError(f"{root}: no render targets under overlays/ or clusters/")
    if out == "-":
        if len(names) != 1:
            raise GitopsError(f"--out - writes one target, but {len(names)} were selected")
        (result,) = render_targets(root, names, jobs=jobs, limits=limits)
        sys.stdout.write(result.text)
        return
    out_dir = check_output_dir(Path(out) if Path(out).is_absolute() else root / out, root, out)
    results = render_targets(root, names, jobs=jobs, progress=tty_progress(len(names)), limits=limits)
    # A shard writes its own targets' files and leaves the other shards' in place.
    write_rendered(results, out_dir, complete=not targets and shard is None)


def _identities() -> list[object]:
    from gitops.sops import load_identities

    try:
        return list(load_identities())
    except GitopsError:
        return []  # no usable key: encrypted substituteFrom Secrets stay unsubstituted, with a warning


def _flux_command(root: Path, flux: FluxRender, targets: tuple[str, ...], out: str, list_only: bool) -> None:
    for line in notices(flux):
        click.echo(line, err=True)
    if list_only:
        for target in flux.targets:
            click.echo(listing_line(target))
        return
    chosen = select_targets(flux.targets, targets) if targets else flux.targets
    results: list[RenderedTarget] = rendered_targets(FluxRender(flux.clusters, chosen, []), root)
    if not results:
        raise GitopsError(f"{root}: every selected Flux Kustomization was skipped; nothing to render")
    if out == "-":
        if len(results) != 1:
            raise GitopsError(f"--out - writes one target, but {len(results)} were selected")
        sys.stdout.write(results[0].text)
        return
    out_dir = check_output_dir(Path(out) if Path(out).is_absolute() else root / out, root, out)
    write_rendered(results, out_dir, complete=not targets)
