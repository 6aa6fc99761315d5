"""Finding and running the real kustomize binary (standalone `kustomize` >= 5, or `kubectl kustomize`)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from gitops.atomic import write_text_atomically
from gitops.cache_location import memo_directory
from gitops.errors import BuildError, GitopsError, MissingInputError
from gitops.limits import BUILD_ADDRESS_SPACE, DEFAULT_BUILD_TIMEOUT
from gitops.processes import run_bounded

MIN_MAJOR = 5
# Flux builds with LoadRestrictionsNone; our own guard (targets.py) keeps references inside the repository.
BUILD_FLAGS = ("--load-restrictor", "LoadRestrictionsNone")
_VERSION = re.compile(r"v?(\d+)\.(\d+)\.(\d+)")


def build_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for kustomize runs.

    A build is a short-lived Go process, and its garbage collector spends about a third of its CPU
    collecting memory the process is about to give back by exiting (measured: 2.6 s -> 1.6 s user time
    over 50 builds). Collection is therefore deferred to a 1 GiB soft limit, unless the user set GOGC.
    """
    env = dict(os.environ if environ is None else environ)
    if "GOGC" not in env:
        env["GOGC"] = "off"
        env.setdefault("GOMEMLIMIT", "1GiB")
    return env


@dataclass(frozen=True)
class Kustomize:
    """A usable kustomize: the argv prefix that builds a directory, and its version."""

    argv: tuple[str, ...]
    version: str
    env: dict[str, str] | None = field(default=None, compare=False, hash=False)

    def build(self, directory: Path, *, timeout: float = DEFAULT_BUILD_TIMEOUT) -> str:
        """`kustomize build` of one directory, killed after `timeout` seconds; errors name the cause.

        A failed build raises BuildError, or MissingInputError when a file it reads does not exist."""
        try:
            proc = run_bounded(
                [*self.argv, str(directory), *BUILD_FLAGS],
                timeout=timeout,
                env=self.env if self.env is not None else build_environment(),
                address_space=BUILD_ADDRESS_SPACE,
            )
        except OSError as exc:
            raise GitopsError(f"{self.argv[0]}: cannot run kustomize: {exc.strerror}") from None
        if proc.returncode != 0:
            message = build_error(proc.stderr) or f"kustomize exited with {proc.returncode}"
            # Go's wording of ENOENT, whichever loader (resources, patches, generator files) hit it.
            missing = "no such file or directory" in proc.stderr
            raise (MissingInputError if missing else BuildError)(message)
        return proc.stdout


# kubectl's klog line: `E1130 05:20:57.896 10212 run.go:72] "command failed" err="..."`, or with a
# multi-line error `err=<` followed by tab-indented lines and a closing ` >`.
_KLOG_QUOTED = re.compile(r'^\S+ [\d:.]+\s+\d+ \S+\] "command failed" err="(.*)"\s*$')
_KLOG_BLOCK = re.compile(r'^\S+ [\d:.]+\s+\d+ \S+\] "command failed" err=<\s*$')
# The innermost YAML cause kustomize reports, e.g. `yaml: line 4: found unexpected end of stream in File: x.yaml`.
_YAML_CAUSE = re.compile(r"(?:MalformedYAMLError: )?yaml: (?:line (\d+): )?(.*?) in File: (\S+)$")
_MAX_MESSAGE = 1000


def build_error(stderr: str) -> str:
    """kustomize's error as one line, from either flavour's output, with the cause kept.

    kustomize nests causes ("accumulating resources: ... : <cause>"): the cause comes last, so a long
    message is shortened from the front. A YAML cause becomes `file:line: cause`.
    """
    lines = stderr.splitlines()
    message: list[str] = []
    for number, line in enumerate(lines):
        quoted = _KLOG_QUOTED.match(line)
        if quoted:
            message = [quoted.group(1).encode("latin-1", "backslashreplace").decode("unicode_escape", "replace")]
            break
        if _KLOG_BLOCK.match(line):
            block = []
            for inner in lines[number + 1 :]:
                if inner.strip() == ">":
                    break
                block.append(inner.strip())
            message = block
            break
    if not message:  # standalone kustomize: "Error: <message>" (possibly over several lines)
        message = [re.sub(r"^Error:\s*", "", line.strip()) for line in lines]
    text = " ".join(part for part in message if part)
    cause = _YAML_CAUSE.search(text)
    if cause:
        line_number, problem, file = cause.groups()
        return f"{file}{':' + line_number if line_number else ''}: {problem}"
    return text if len(text) <= _MAX_MESSAGE else "..." + text[-(_MAX_MESSAGE - 3) :]


def _version_cache_file() -> Path:
    return memo_directory() / "kustomize-versions.json"


def _binary_stamp(path: str) -> str:
    """Identifies one build of a binary: its real path, size and modification time."""
    real = os.path.realpath(path)
    info = os.stat(real)
    return f"{real}:{info.st_size}:{info.st_mtime_ns}"


def _version_of(argv: list[str]) -> str | None:
    """The kustomize version a binary reports, remembered per binary build.

    Asking costs a process start (~40 ms of every `gitops render`); the answer only changes when the binary
    does, so it is cached under ~/.cache/gitops, keyed by real path, size and mtime. A cache that cannot be
    read or written is simply not used.
    """
    try:
        key = f"{_binary_stamp(argv[0])}:{' '.join(argv[1:])}"
    except OSError:
        return None
    cache_file = _version_cache_file()
    try:
        cache = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    if isinstance(cache, dict) and isinstance(cache.get(key), str):
        return str(cache[key])
    version = _ask_version(argv)
    if version is not None and isinstance(cache, dict):
        cache[key] = version
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs a later lookup
            write_text_atomically(cache_file, json.dumps(cache, sort_keys=True))
    return version


def _ask_version(argv: list[str]) -> str | None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = proc.stdout + proc.stderr
    if argv[1:2] == ["version"] and "kubectl" in Path(argv[0]).name:
        match = re.search(r"Kustomize Version:\s*(\S+)", text)
        text = match.group(1) if match else ""
    found = _VERSION.search(text)
    return ".".join(found.groups()) if found else None


def _candidate(binary: str, search_path: str) -> Kustomize | str | None:
    """A Kustomize for this binary, None when it does not exist, or a problem description."""
    path = shutil.which(binary, path=search_path or None)
    if path is None:
        return None
    if "kubectl" in Path(path).name:
        version = _version_of([path, "version", "--client"])
        argv: tuple[str, ...] = (path, "kustomize")
    else:
        version = _version_of([path, "version"])
        argv = (path, "build")
    if version is None:
        return f"{path}: cannot tell its kustomize version"
    if int(version.split(".")[0]) < MIN_MAJOR:
        return f"{path}: kustomize v{version} is too old (need >= {MIN_MAJOR})"
    return Kustomize(argv, version)


def find_kustomize(environ: Mapping[str, str] | None = None) -> Kustomize:
    """$KUSTOMIZE, else `kustomize` >= 5 on PATH, else `kubectl kustomize`."""
    env = os.environ if environ is None else environ
    return _find(env.get("KUSTOMIZE", ""), env.get("PATH", ""))


@lru_cache(maxsize=8)
def _find(override: str, path_env: str) -> Kustomize:
    if override:
        found = _candidate(override, path_env)
        if found is None:
            raise GitopsError(f"KUSTOMIZE={override}: no such executable")
        if isinstance(found, str):
            raise GitopsError(f"KUSTOMIZE={found}")
        return found
    problems: list[str] = []
    for binary in ("kustomize", "kubectl"):
        found = _candidate(binary, path_env)
        if isinstance(found, Kustomize):
            return found
        if isinstance(found, str):
            problems.append(found)
    detail = f" ({'; '.join(problems)})" if problems else ""
    raise GitopsError(f"kustomize not found: install kustomize >= {MIN_MAJOR} or kubectl, or set KUSTOMIZE{detail}")
