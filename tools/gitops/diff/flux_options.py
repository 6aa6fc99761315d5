"""What selects and maps a diff's Flux targets (a module of its own: a diff reads it before it knows its mode)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FluxOptions:
    """What selects and maps Flux targets: cluster entry paths (empty: found on each side), source mappings."""

    clusters: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    sync_source: str | None = None
    identities: Sequence[Any] = ()


def flux_options_given(options: FluxOptions) -> bool:
    return bool(options.clusters or options.sources)
