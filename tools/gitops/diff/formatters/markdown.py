"""`-o markdown`: a pull-request comment. A summary table per target, details collapsed per target, and the
whole kept under GitHub's comment limit by summarising the largest resource details first."""

from __future__ import annotations

import html
import re

from gitops.diff.formatters.common import (
    LineRole,
    detail_lines,
    heading,
    overall_summary,
    side_text,
    skipped_lines,
    target_summary,
)
from gitops.diff.model import DiffResult, ResourceChange, Status, TargetDiff, TargetStatus

MARKER = "<!-- gitops-diff -->"
LIMIT = 65_000
_DIFF_PREFIX = {LineRole.ADD: "+ ", LineRole.DEL: "- ", LineRole.NOTE: "# ", LineRole.ORDER: "! "}


def resource_block(change: ResourceChange) -> str:
    lines = [heading(change)]
    for line in detail_lines(change):
        lines.append(f"@@ {line.text} @@" if line.role is LineRole.PATH else _DIFF_PREFIX[line.role] + line.text)
    return "\n".join(lines) + "\n"


def resource_summary(change: ResourceChange) -> str:
    size = f"{len(change.fields)} field change(s)" if change.fields else "details"
    return f"{heading(change)}\n# {size} not shown here (comment size limit); run `gitops diff` locally\n"


def _fence(body: str) -> str:
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", body)), default=0) + 1)
    return f"{ticks}diff\n{body}{ticks}\n"


def _cell(text: str) -> str:
    return html.escape(text).replace("|", "&#124;")


def _table(targets: list[TargetDiff], limit: int | None = None) -> str:
    rows = ["| Target | " + " | ".join(s.capitalize() for s in Status) + " |", "|---|" + "--:|" * len(Status)]
    shown = targets if limit is None else targets[:limit]
    for target in shown:
        note = {TargetStatus.ADDED: " (new)", TargetStatus.REMOVED: " (removed)"}.get(target.status, "")
        rows.append(f"| `{_cell(target.target)}`{note} | " + " | ".join(str(target.count(s)) for s in Status) + " |")
    if limit is not None and len(targets) > limit:
        rows.append(f"| … and {len(targets) - limit} more target(s) | " + " | ".join("" for _ in Status) + " |")
    return "\n".join(rows) + "\n"


def _details(target: TargetDiff, blocks: list[str] | None) -> str:
    summary = f"<code>{_cell(target.target)}</code>: {_cell(target_summary(target))}"
    if blocks is None:
        inner = "Details omitted (comment size limit); run `gitops diff` locally.\n"
    else:
        inner = _fence("\n".join(blocks))
    return f"<details><summary>{summary}</summary>\n\n{inner}\n</details>\n"


def format_markdown(result: DiffResult, limit: int = LIMIT) -> str:
    base, head = side_text(result)
    header = f"{MARKER}\n### gitops diff\n\n`{_cell(base)}` → `{_cell(head)}`: {_cell(overall_summary(result))}\n\n"
    header += "".join(f"- {_cell(line)}\n" for line in skipped_lines(result)) + ("\n" if result.skipped else "")
    if not result.changed:
        return header
    blocks = [[resource_block(c) for c in t.changes] for t in result.targets]
    table = _table(result.targets)

    def assemble(parts: list[list[str] | None], table_text: str) -> str:
        return (
            header + table_text + "\n" + "\n".join(_details(t, b) for t, b in zip(result.targets, parts, strict=True))
        )

    parts: list[list[str] | None] = [list(b) for b in blocks]
    text = assemble(parts, table)
    if len(text) <= limit:
        return text
    # Summarise the largest resource details first, then whole targets, then shorten the table.
    excess = len(text) - limit
    by_size = sorted(
        ((len(block), ti, ri) for ti, target_blocks in enumerate(blocks) for ri, block in enumerate(target_blocks)),
        reverse=True,
    )
    for size, ti, ri in by_size:
        if excess <= 0:
            break
        summary = resource_summary(result.targets[ti].changes[ri])
        if len(summary) < size:
            current = parts[ti]
            assert current is not None
            current[ri] = summary
            excess -= size - len(summary)
    text = assemble(parts, table)
    for ti in sorted(range(len(parts)), key=lambda i: -sum(len(b) for b in parts[i] or [])):
        if len(text) <= limit:
            return text
        parts[ti] = None
        text = assemble(parts, table)
    rows = len(result.targets)
    while len(text) > limit and rows > 0:
        rows = rows // 2
        kept = result.targets[:rows]
        text = header + _table(result.targets, rows) + "\n" + "\n".join(_details(t, None) for t in kept)
    return text if len(text) <= limit else text[: limit - 20] + "\n…(truncated)\n"
