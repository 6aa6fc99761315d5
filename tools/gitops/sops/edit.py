"""`secrets edit`: decrypt into a private memory-backed file, run the editor, re-encrypt with the same data key.

Nothing is written when the plaintext did not change; an edit that no longer parses is offered back to the
editor (or abandoned with the file untouched). The plaintext never reaches a disk-backed path.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pyrage import x25519

from gitops.atomic import write_text_atomically
from gitops.errors import GitopsError
from gitops.sops import formats
from gitops.sops.api import open_text, reseal_text
from gitops.sops.files import read_text
from gitops.sops.private import memory_directory, private_file

_SUFFIX = {"yaml": ".yaml", "json": ".json", "dotenv": ".env", "binary": ""}
DEFAULT_EDITOR = "vi"


def editor_command(env: Mapping[str, str]) -> list[str]:
    command = shlex.split(env.get("EDITOR") or env.get("VISUAL") or DEFAULT_EDITOR)
    if not command:
        raise GitopsError("EDITOR is empty")
    return command


def run_editor(command: Sequence[str], path: Path, source: str) -> None:
    try:
        code = subprocess.run([*command, str(path)], check=False).returncode
    except OSError as exc:
        raise GitopsError(f"{source}: cannot start the editor {command[0]!r}: {exc.strerror}; file untouched") from None
    if code != 0:
        raise GitopsError(f"{source}: the editor exited with status {code}; file untouched")


def edit_file(
    path: Path,
    source: str,
    fmt: str,
    identities: Sequence[x25519.Identity],
    env: Mapping[str, str],
    reopen: Callable[[str], bool],
) -> bool:
    """Edit `path` in place; True when a new ciphertext was written. `reopen(error)` decides whether an edit
    that fails to parse goes back to the editor."""
    directory = memory_directory(env)
    command = editor_command(env)
    opened = open_text(read_text(path, source), fmt, source, identities)
    plaintext = formats.dump(opened.parsed, fmt, None)
    with private_file(plaintext, _SUFFIX[fmt], directory) as scratch:
        while True:
            run_editor(command, scratch, source)
            edited = read_text(scratch, source, raw=fmt == "binary")
            if edited == plaintext:
                return False
            try:
                ciphertext = reseal_text(edited, opened, source)
            except GitopsError as exc:
                if reopen(str(exc)):
                    continue
                raise GitopsError(f"{exc}; file untouched") from None
            write_text_atomically(path, ciphertext)
            return True
