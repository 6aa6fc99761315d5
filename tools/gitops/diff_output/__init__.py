"""Formatters of a DiffResult: text, unified, markdown, json. Each is a small pure function."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO

from gitops.diff import DiffResult
from gitops.diff_output.json_format import format_json
from gitops.diff_output.markdown import format_markdown
from gitops.diff_output.text import format_text
from gitops.diff_output.unified import format_unified

FORMATS: dict[str, Callable[[DiffResult], str]] = {
    "text": format_text,
    "unified": format_unified,
    "markdown": format_markdown,
    "json": format_json,
}


def use_colour(stream: TextIO, choice: str = "auto") -> bool:
    """Colour when asked, or on a terminal unless NO_COLOR is set to anything (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


def render(result: DiffResult, fmt: str, *, colour: bool = False) -> str:
    if fmt == "text":
        return format_text(result, colour=colour)
    return FORMATS[fmt](result)
