"""Go's path.Match, the glob syntax of envsubst's trim operators: `*` and `?` never match `/`, classes
`[a-z]`/`[^a-z]`, backslash escapes; a malformed pattern is an error (Go: ErrBadPattern)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class _GlobItem:
    kind: str  # "*", "?", "=" (a literal) or "[" (a class)
    char: str = ""
    negate: bool = False
    ranges: tuple[tuple[str, str], ...] = ()


def glob_matcher(pattern: str) -> Callable[[str], bool]:
    """Go's path.Match as a predicate; ValueError for a malformed pattern (Go: ErrBadPattern)."""
    items: list[_GlobItem] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "*":
            items.append(_GlobItem("*"))
            i += 1
        elif char == "?":
            items.append(_GlobItem("?"))
            i += 1
        elif char == "[":
            i, item = _char_class(pattern, i + 1)
            items.append(item)
        elif char == "\\":
            if i + 1 >= len(pattern):
                raise ValueError("bad pattern")
            items.append(_GlobItem("=", pattern[i + 1]))
            i += 2
        else:
            items.append(_GlobItem("=", char))
            i += 1
    return lambda name: _match(items, name)


def _char_class(pattern: str, i: int) -> tuple[int, _GlobItem]:
    negate = i < len(pattern) and pattern[i] == "^"
    if negate:
        i += 1
    ranges: list[tuple[str, str]] = []
    first = True
    while True:
        if i >= len(pattern):
            raise ValueError("bad pattern")
        if pattern[i] == "]" and not first:
            return i + 1, _GlobItem("[", negate=negate, ranges=tuple(ranges))
        first = False
        low, i = _class_char(pattern, i)
        high = low
        if i < len(pattern) and pattern[i] == "-":
            high, i = _class_char(pattern, i + 1)
        ranges.append((low, high))


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if i >= len(pattern) or pattern[i] in "-]":
        raise ValueError("bad pattern")
    if pattern[i] == "\\":
        i += 1
        if i >= len(pattern):
            raise ValueError("bad pattern")
    return pattern[i], i + 1


def _item_matches(item: _GlobItem, char: str) -> bool:
    if item.kind == "?":
        return char != "/"
    if item.kind == "=":
        return char == item.char
    inside = any(low <= char <= high for low, high in item.ranges)
    return char != "/" and inside != item.negate


def _match(items: list[_GlobItem], name: str) -> bool:
    """Wildcard matching with backtracking to the last `*` only: O(len(items) * len(name))."""
    p = n = 0
    star_p, star_n = -1, 0
    while n < len(name):
        if p < len(items) and items[p].kind == "*":
            star_p, star_n = p, n
            p += 1
        elif p < len(items) and _item_matches(items[p], name[n]):
            p += 1
            n += 1
        elif star_p >= 0 and name[star_n] != "/":
            star_n += 1
            p, n = star_p + 1, star_n
        else:
            return False
    while p < len(items) and items[p].kind == "*":
        p += 1
    return p == len(items)
