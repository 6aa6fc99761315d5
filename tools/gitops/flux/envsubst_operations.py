"""What each envsubst operator does to a variable's value (fluxcd/pkg envsubst, drone/envsubst's functions):
case changes, length, substrings (UTF-8 bytes, as Go slices strings), glob trims and replacements, defaults.
Each takes the value and the evaluated arguments; flux.envsubst parses the text and picks the operator."""

from __future__ import annotations

import re
from collections.abc import Callable

from gitops.flux.glob import glob_matcher


def default_value(value: str, args: list[str]) -> str:
    return "".join(args) if not value and args else value


def _length_or_trim(value: str, args: list[str]) -> str:
    return str(len(value.encode())) if not args else _trim(value, args[0], longest=False)


def _go_int(text: str) -> int | None:
    """strconv.Atoi: optional sign and decimal digits only, within int64."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return None
    number = int(text)
    return number if -(2**63) <= number < 2**63 else None


def _substring(value: str, args: list[str]) -> str:
    data = value.encode()
    position = _go_int(args[0]) if args else None
    if position is None:
        return value
    if position < 0:
        position = max(0, len(data) + position)
    if len(args) == 1:
        return data[position:].decode(errors="replace")
    length = _go_int(args[1])
    if length is None:
        return value
    if position + length >= len(data):
        return data[position:].decode(errors="replace")
    return data[position : position + length].decode(errors="replace")


def _replace(count: int) -> Callable[[str, list[str]], str]:
    def replace(value: str, args: list[str]) -> str:
        if not args:
            return value
        return value.replace(args[0], args[1] if len(args) > 1 else "", count)

    return replace


def _replace_prefix(value: str, args: list[str]) -> str:
    if len(args) != 2 or not value.startswith(args[0]):
        return value
    return value.replace(args[0], args[1], 1)


def _replace_suffix(value: str, args: list[str]) -> str:
    if len(args) != 2 or not value.endswith(args[0]):
        return value
    return value[: len(value) - len(args[0])] + args[1]


def _trim(value: str, pattern: str, *, longest: bool, suffix: bool = False) -> str:
    if suffix:
        return _trim(value[::-1], pattern[::-1], longest=longest)[::-1]
    try:
        matcher = glob_matcher(pattern)
    except ValueError:
        return value
    # Prefixes from the longest down to one character, as the original loops (the empty one is never tried).
    found = ""
    for end in range(len(value), 0, -1):
        if matcher(value[:end]):
            found = value[:end]
            if longest:
                break
    return value[len(found) :] if found else value


def _trimmer(longest: bool, suffix: bool) -> Callable[[str, list[str]], str]:
    return lambda value, args: _trim(value, args[0], longest=longest, suffix=suffix) if args else value


OPERATIONS: dict[str, Callable[[str, list[str]], str]] = {
    ",": lambda value, args: value[:1].lower() + value[1:],
    ",,": lambda value, args: value.lower(),
    "^": lambda value, args: value[:1].upper() + value[1:],
    "^^": lambda value, args: value.upper(),
    "#": _length_or_trim,
    "##": _trimmer(longest=True, suffix=False),
    "%": _trimmer(longest=False, suffix=True),
    "%%": _trimmer(longest=True, suffix=True),
    ":": _substring,
    "/#": _replace_prefix,
    "/%": _replace_suffix,
    "/": _replace(1),
    "//": _replace(-1),
}
