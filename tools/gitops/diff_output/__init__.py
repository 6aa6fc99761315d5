"""Formatters of a DiffResult: text, unified, markdown, json. Each is a small pure function."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import TextIO

from gitops.diff import DiffResult

# format -> module under gitops.diff_output and its function; imported only when that format is asked for.
FORMATS: dict[str, tuple[str, str]] = {
    "text": ("text", "format_text"),
    "unified": ("unified", "format_unified"),
    "markdown": ("markdown", "format_markdown"),
    "json": ("json_format", "format_json"),
}


def use_colour(stream: TextIO, choice: str = "auto") -> bool:
    """Colour when asked, or on a terminal unless NO_COLOR is set to anything (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def render(result: DiffResult, fmt: str, *, colour: bool = False) -> str:
    module, function = FORMATS[fmt]
    formatter: Callable[..., str] = getattr(importlib.import_module(f"gitops.diff_output.{module}"), function)
    return formatter(result, colour=colour) if fmt == "text" else formatter(result)
