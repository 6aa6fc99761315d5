"""The target options render, check and diff share: Flux cluster entries and source mappings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click


def target_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--cluster PATH` (repeatable) and `--source NAME=PATH` (repeatable), as `clusters` and `sources` tuples."""
    function = click.option(
        "--source",
        "sources",
        multiple=True,
        metavar="NAME=PATH",
        help="Map a Flux source (GitRepository, OCIRepository, ...) to a repository path (repeatable).",
    )(function)
    return click.option(
        "--cluster",
        "clusters",
        multiple=True,
        metavar="PATH",
        help="Flux cluster entry path (repeatable); default: gitops.yaml clusters:, else found (docs/flux.md).",
    )(function)
