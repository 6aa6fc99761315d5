"""`gitops render [TARGET...]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops.commands.cache_options import no_cache_option, shard_option
from gitops.errors import GitopsError
from gitops.render import render_targets, tty_progress, write_rendered
from gitops.repo import root_from_context
from gitops.shards import Shard, shard_targets
from gitops.targets import Tree, discover, select


@click.command("render")
@click.argument("targets", nargs=-1)
@click.option(
    "-o",
    "--out",
    "out",
    default="rendered",
    show_default=True,
    help="Output directory (relative to the repository root), or - to write one target to stdout.",
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, help="Parallel builds (default: CPUs).")
@click.option("--list", "list_only", is_flag=True, help="List the render targets and exit.")
@shard_option
@no_cache_option
@click.pass_context
def command(
    ctx: click.Context, targets: tuple[str, ...], out: str, jobs: int | None, list_only: bool, shard: Shard | None
) -> None:
    """Render targets (every overlay/cluster kustomization Flux would build) to rendered/<target>.yaml."""
    root = root_from_context(ctx)
    tree = Tree(root)
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
        (result,) = render_targets(root, names, jobs=jobs)
        sys.stdout.write(result.text)
        return
    results = render_targets(root, names, jobs=jobs, progress=tty_progress(len(names)))
    out_dir = Path(out) if Path(out).is_absolute() else root / out
    # A shard writes its own targets' files and leaves the other shards' in place.
    write_rendered(results, out_dir, complete=not targets and shard is None)
