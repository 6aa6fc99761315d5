"""kustomize's origin annotations read from its output text, without a YAML parse per annotation.

One build with `buildMetadata: [originAnnotations]` serves every command: `without_origins` turns its output
into exactly what a plain build prints (the render cache stores one entry per target, and a `render` warms
`check` and `diff`), and `origin_path` reads an annotation's source file.

kustomize prints block-style YAML with two-space indentation: in a document, `metadata:` starts at column 0,
its keys at column 2, annotation keys at column 4, and a block scalar's lines are indented deeper than its
key. So a line indented exactly four spaces inside `  annotations:` inside `metadata:` is an annotation key,
never the content of some string. Anything else (a document without exactly one origin annotation found this
way) gives None, and the caller builds without origins instead of guessing.
"""

from __future__ import annotations

ORIGIN_ANNOTATION = "config.kubernetes.io/origin"
_SPECIAL_STARTS = frozenset("'\"&!*{[|>%@`#")
_ORIGIN_KEY = f"    {ORIGIN_ANNOTATION}: |"
_SEPARATOR = "---\n"


def without_origins(text: str) -> str | None:
    """`text` (an origin build's output) as a plain build prints it, or None when that is not certain."""
    out: list[str] = []
    documents = text.count("\n" + _SEPARATOR) + 1 if text.strip() else 0
    removed = 0
    in_metadata = in_annotations = skipping = False
    annotations_line = kept_annotations = -1

    def close_annotations() -> None:
        if kept_annotations == 0:
            out[annotations_line] = ""  # the origin was its only annotation: kustomize prints no `annotations:`

    for line in text.splitlines(keepends=True):
        if skipping:
            if line.startswith("     ") or not line.strip():
                continue  # the annotation's block scalar
            skipping = False
        if line == _SEPARATOR or not line.startswith(" "):
            if in_annotations:
                close_annotations()
            in_annotations = False
            in_metadata = line == "metadata:\n"
        elif in_metadata and line.startswith("  ") and line[2] != " ":
            if in_annotations:
                close_annotations()
            in_annotations = line == "  annotations:\n"
            if in_annotations:
                annotations_line, kept_annotations = len(out), 0
        elif in_annotations and line.startswith("    ") and line[4] != " ":
            if line.rstrip("\n").rstrip("-+") == _ORIGIN_KEY:
                removed += 1
                skipping = True
                continue
            kept_annotations += 1
        out.append(line)
    if in_annotations:
        close_annotations()
    return "".join(out) if removed == documents else None


def origin_source(annotation: str) -> str | None:
    """The `path` (a resource) or `configuredIn` (a generated object) an origin annotation names, read from
    its plain lines; None when the value is quoted or otherwise special (the caller parses it as YAML)."""
    for line in annotation.splitlines():
        key, _, value = line.partition(": ")
        if key in ("path", "configuredIn") and value and value[0] not in _SPECIAL_STARTS and " #" not in value:
            return value.rstrip()
    return None
