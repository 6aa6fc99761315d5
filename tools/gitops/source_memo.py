"""What only a source file's content decides, remembered across runs: a kustomization file's parse, and that
a file passed the preflight (bounded, UTF-8, no alias bomb, no duplicate key) under given limits.

Touching one target of a large repository must not cost a parse of every kustomization and a duplicate-key
scan of every input again: each run still reads and hashes every file (cheap), but parses only content it
has not seen. Keys are SHA-256 digests of the content, so a stale answer needs a hash collision; the memo
lives beside the render cache, is written atomically (concurrent runs: the last writer wins, and a lost entry
only costs a parse), is dropped whole when it grows past a bound, and is off with `--no-cache`.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import threading
from collections.abc import Iterator
from typing import Any

from gitops.atomic import write_text_atomically
from gitops.cache_location import cache_directory, caching_enabled

FORMAT = "gitops-source-memo-1"
MAX_ENTRIES = 50_000
_lock = threading.Lock()
_state: dict[str, Any] | None = None
_dirty = False
_paused = 0


def content_key(data: bytes | str) -> str:
    return hashlib.sha256(data.encode("utf-8") if isinstance(data, str) else data).hexdigest()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No memo while inside: for work that parses a file or two, loading and rewriting the whole memo costs
    more than the parses (the recorded Flux diff)."""
    global _paused
    with _lock:
        _paused += 1
    try:
        yield
    finally:
        with _lock:
            _paused -= 1


def _memo() -> dict[str, Any] | None:
    """The memo of this process, loaded on first use; None when caching is off (or paused)."""
    global _state
    if not caching_enabled() or _paused:
        return None
    with _lock:
        if _state is None:
            _state = {"format": FORMAT, "parsed": {}, "sound": {}}
            with contextlib.suppress(OSError, ValueError):
                loaded = json.loads((cache_directory() / "sources.json").read_text(encoding="utf-8"))
                if isinstance(loaded, dict) and loaded.get("format") == FORMAT:
                    parsed, sound = loaded.get("parsed"), loaded.get("sound")
                    if isinstance(parsed, dict) and isinstance(sound, dict):
                        _state = {"format": FORMAT, "parsed": parsed, "sound": sound}
            atexit.register(_save)
        return _state


def parsed(key: str) -> Any | None:
    memo = _memo()
    return None if memo is None else memo["parsed"].get(key)


def remember_parsed(key: str, data: Any) -> None:
    """Only data JSON keeps as it is (a YAML integer key would come back a string: not remembered)."""
    memo = _memo()
    if memo is not None and _json_keeps(data):
        _put("parsed", key, data)


def _json_keeps(data: Any) -> bool:
    """Whether JSON gives `data` back as it is: str-keyed dicts, lists, strings, numbers but NaN, booleans,
    None (no dates, no other keys, no NaN). A list or dict met twice (a YAML alias, maybe a cycle): no."""
    stack, seen = [data], set()
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is dict or kind is list:
            if id(value) in seen:
                return False
            seen.add(id(value))
        if kind is dict:
            if not all(type(key) is str for key in value):
                return False
            stack.extend(value.values())
        elif kind is list:
            stack.extend(value)
        elif kind is float:
            if value != value:  # NaN: JSON gives a NaN back, which equals nothing
                return False
        elif kind not in (str, int, bool) and value is not None:
            return False
    return True


def is_sound(key: str, limits_tag: str) -> bool:
    memo = _memo()
    return memo is not None and memo["sound"].get(key) == limits_tag


def remember_sound(key: str, limits_tag: str) -> None:
    if _memo() is not None:
        _put("sound", key, limits_tag)


def _put(kind: str, key: str, value: Any) -> None:
    global _dirty
    with _lock:
        assert _state is not None
        if len(_state["parsed"]) + len(_state["sound"]) >= MAX_ENTRIES:
            _state["parsed"], _state["sound"] = {}, {}
        _state[kind][key] = value
        _dirty = True


def _save() -> None:
    with _lock:
        if _state is None or not _dirty:
            return
        with contextlib.suppress(OSError):  # a memo that cannot be written only costs parses next time
            write_text_atomically(cache_directory() / "sources.json", json.dumps(_state, separators=(",", ":")))
