"""`gitops render [TARGET...]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from gitops.errors import GitopsError
from gitops.outdir import check_output_dir
from gitops.render import render_targets, tty_progress, write_rendered
from gitops.repo import config_from_context, root_from_context
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
@click.pass_context
def command(ctx: click.Context, targets: tuple[str, ...], out: str, jobs: int | None, list_only: bool) -> None:
    """Render targets (every overlay/cluster kustomization Flux would build) to rendered/<target>.yaml."""
    root = root_from_context(ctx)
    limits = config_from_context(ctx).limits
    tree = Tree(root, limits=limits)
    if list_only:
        for name in discover(root, tree):
            click.echo(name)
        return
    names = select(root, targets, tree) if targets else discover(root, tree)
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
    write_rendered(results, out_dir, complete=not targets)
