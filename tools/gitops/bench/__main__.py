"""Run the benchmarks: `python -m gitops.bench [--only render|check|diff|flux|sops|cache] [--sizes 1,50,200]`."""

from __future__ import annotations

import compileall
import os
import tempfile
from pathlib import Path

import click

import gitops
from gitops.bench.cache import bench_cache
from gitops.bench.check import bench_check
from gitops.bench.diff import bench_diff
from gitops.bench.flux import bench_flux
from gitops.bench.render import bench_render
from gitops.bench.sops import bench_sops
from gitops.repo import find_root


@click.command()
@click.option(
    "--only",
    type=click.Choice(["render", "check", "diff", "flux", "sops", "cache"]),
    multiple=True,
    help="Run only these sections.",
)
@click.option("--sizes", default="1,50,200", show_default=True, help="Synthetic instance counts (render).")
@click.option("--check-instances", default=200, show_default=True, help="Synthetic instances for the check bench.")
@click.option("--flux-apps", default=100, show_default=True, help="Flux Kustomizations per cluster (flux).")
@click.option("--cache-sizes", default="50,200,1000", show_default=True, help="Instance counts (cache bench).")
def main(only: tuple[str, ...], sizes: str, check_instances: int, flux_apps: int, cache_sizes: str) -> None:
    repo = find_root()
    counts = tuple(int(s) for s in sizes.split(",") if s.strip())
    # Every section runs gitops as a user's installed copy runs: with its bytecode compiled, as pip does on
    # install (an editable install under PYTHONDONTWRITEBYTECODE would compile every module in every process).
    compileall.compile_dir(os.path.dirname(gitops.__file__), quiet=1)
    click.echo(f"machine: {os.cpu_count()} CPUs; repository: {repo}")
    with tempfile.TemporaryDirectory(prefix="gitops-bench-") as scratch:
        work = Path(scratch)
        if not only or "render" in only:
            for line in bench_render(repo, work, counts):
                click.echo(line)
        if not only or "check" in only:
            click.echo()
            for line in bench_check(repo, work, check_instances):
                click.echo(line)
        if not only or "diff" in only:
            click.echo()
            for line in bench_diff(repo, work):
                click.echo(line)
        if not only or "flux" in only:
            click.echo()
            for line in bench_flux(work, flux_apps):
                click.echo(line)
        if not only or "sops" in only:
            click.echo()
            for line in bench_sops(repo, work):
                click.echo(line)
        if not only or "cache" in only:
            click.echo()
            cache_counts = tuple(int(s) for s in cache_sizes.split(",") if s.strip())
            for line in bench_cache(repo, work, cache_counts):
                click.echo(line)


if __name__ == "__main__":
    main()
