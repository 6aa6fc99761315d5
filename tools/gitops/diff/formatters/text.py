"""`-o text`: a dyff-style report per target, coloured on a terminal unless NO_COLOR is set."""

from __future__ import annotations

from gitops.diff.formatters.common import (
    LineRole,
    detail_lines,
    heading,
    overall_summary,
    side_text,
    skipped_lines,
    target_summary,
)
from gitops.diff.model import DiffResult, Status

_COLOURS = {Status.ADDED: "32", Status.REMOVED: "31", Status.CHANGED: "33", Status.MOVED: "36", Status.ROLLING: "35"}
_LINE_COLOURS = {LineRole.ADD: "32", LineRole.DEL: "31", LineRole.PATH: "1", LineRole.NOTE: "2", LineRole.ORDER: "36"}


def _paint(text: str, code: str, colour: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def format_diff_text(result: DiffResult, *, colour: bool = False) -> str:
    base, head = side_text(result)
    out = [_paint(f"gitops diff: {base} -> {head}", "1", colour), overall_summary(result), *skipped_lines(result)]
    for target in result.targets:
        out.append("")
        out.append(_paint(f"{target.target}", "1;4", colour) + f"  ({target_summary(target)})")
        for change in target.changes:
            out.append("  " + _paint(heading(change), _COLOURS[change.status], colour))
            for line in detail_lines(change):
                if line.role in (LineRole.ADD, LineRole.DEL):
                    marker = "+" if line.role is LineRole.ADD else "-"
                    out.append("        " + _paint(f"{marker} {line.text}", _LINE_COLOURS[line.role], colour))
                else:
                    out.append("      " + _paint(line.text, _LINE_COLOURS[line.role], colour))
    return "\n".join(out) + "\n"
