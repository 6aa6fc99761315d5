"""Formatters of a DiffResult: text, unified, markdown, json. Each is a small pure function."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from gitops.diff.model import DiffResult

# format -> module under gitops.diff.formatters and its function; imported only when that format is asked for.
DIFF_FORMATS: dict[str, tuple[str, str]] = {
    "text": ("text", "format_diff_text"),
    "unified": ("unified", "format_unified"),
    "markdown": ("markdown", "format_markdown"),
    "json": ("json_format", "format_diff_json"),
}


def use_colour(stream: TextIO, choice: str = "auto") -> bool:
    """Colour when asked, or on a terminal unless NO_COLOR is set to anything (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def format_diff(result: DiffResult, fmt: str, *, colour: bool = False) -> str:
    """The report in one of DIFF_FORMATS; `colour` applies to text only."""
    module, function = DIFF_FORMATS[fmt]
    formatter: Callable[..., str] = getattr(importlib.import_module(f"gitops.diff.formatters.{module}"), function)
    return formatter(result, colour=colour) if fmt == "text" else formatter(result)
