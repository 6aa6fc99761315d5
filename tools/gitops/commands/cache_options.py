"""Options render, check and diff share: `--no-cache`, `--shard K/N`, and writing a merged JSON report."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from gitops.cache_location import set_enabled

if TYPE_CHECKING:
    from gitops.shards import Shard

F = TypeVar("F", bound=Callable[..., Any])


def _no_cache(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    del param
    if value:
        set_enabled(False)
        ctx.call_on_close(lambda: set_enabled(True))  # in-process callers (tests) get it back


def no_cache_option(function: F) -> F:
    return click.option(
        "--no-cache",
        is_flag=True,
        expose_value=False,
        callback=_no_cache,
        help="Build every target afresh; neither read nor write the render cache (also GITOPS_NO_CACHE=1).",
    )(function)


def _shard(ctx: click.Context, param: click.Parameter, value: str | None) -> Shard | None:
    del ctx, param
    if value is None:
        return None
    from gitops.shards import parse_shard  # only a run given --shard pays for it (click calls this for every run)

    return parse_shard(value)


def shard_option(function: F) -> F:
    return click.option(
        "--shard",
        "shard",
        default=None,
        metavar="K/N",
        callback=_shard,
        help="Only the K-th of N parts of the targets, balanced by input size (CI matrix jobs).",
    )(function)


def write_merged(report: dict[str, Any], code: int) -> None:
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    sys.stdout.flush()
    click.get_current_context().exit(code)
