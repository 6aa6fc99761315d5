"""A content-addressed cache of kustomize build output, shared by render, check and diff.

The key is a digest of everything a build's output depends on: the bytes and repository-relative paths of
every file the target walk (targets.Tree.inputs) lists (files named only inside plugin configs included), the
kustomize binary's content and version, the build flags, the environment variables kustomize reads, the build
mode and our own version. The value is what kustomize printed: SOPS values are still encrypted there, and
nothing decrypted is ever stored. Full renders, checks and diffs store origin builds (render.py strips the
annotations, origins.py), so one entry serves every command; renders of a few targets (a named one, those a
change touched) build plain on a miss and store a plain entry, and plain_output serves them from either kind.
Flux builds (flux/build.py) store kustomize's output of their scratch kustomization, keyed also by its text,
before postBuild substitution.

Entries are single files written to a temporary name and renamed into place, so concurrent processes never
see half an entry; each carries its length and SHA-256 in a header line, and an entry whose header does not
match (truncated by a crash, garbage) is treated as a miss and replaced. The total size is bounded:
`trim` removes least recently used entries (a hit refreshes the entry's mtime) once per run; the render
records beside the cache (render_record.py, flux/record.py) count toward the same bound and are evicted the
same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gitops import __version__
from gitops.cache_location import FLUX_RECORDS, RENDER_RECORDS, cache_directory, caching_enabled, memo_directory
from gitops.cache_location import set_enabled as set_enabled
from gitops.errors import GitopsError
from gitops.kustomize import BUILD_FLAGS, Kustomize
from gitops.origins import without_origins
from gitops.targets import Tree

DEFAULT_MAX_BYTES = 1 << 30
FORMAT = b"gitops-render-cache-1"
# Variables kustomize consults while building (plugin lookup, alpha features): a change may change output.
OUTPUT_ENVIRONMENT = ("KUSTOMIZE_PLUGIN_HOME", "KUSTOMIZE_ENABLE_ALPHA_COMMANDS", "XDG_CONFIG_HOME")
_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]i?b?|b)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_size(text: str) -> int:
    """`1073741824`, `512M`, `2GiB` -> bytes."""
    match = _SIZE.match(text)
    if match is None:
        raise GitopsError(f"GITOPS_CACHE_SIZE={text}: not a size (e.g. 512M, 2G)")
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _UNITS[unit]


def from_environment(environ: Mapping[str, str] | None = None) -> RenderCache | None:
    """The cache this process uses, or None when --no-cache or GITOPS_NO_CACHE=1 turned it off."""
    env = os.environ if environ is None else environ
    if not caching_enabled(env):
        return None
    size = env.get("GITOPS_CACHE_SIZE")
    where = cache_directory(env)
    return RenderCache(
        where / "render",
        parse_size(size) if size else DEFAULT_MAX_BYTES,
        (where / RENDER_RECORDS, where / FLUX_RECORDS),
    )


_TRIMMED: set[Path] = set()


@dataclass(frozen=True)
class RenderCache:
    directory: Path
    max_bytes: int = DEFAULT_MAX_BYTES
    bounded_with: tuple[Path, ...] = ()
    """Directories of flat files that count toward `max_bytes` and are evicted in the same order (render
    records, render_record.py; a record in use has its mtime refreshed like an entry)."""

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / key

    def get(self, key: str) -> bytes | None:
        """The stored output, or None when absent or damaged (a damaged entry is removed)."""
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                blob = handle.read()
        except OSError:
            return None
        payload = _unpack(blob)
        if payload is None:
            path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # last use, for eviction
        return payload

    def put(self, key: str, payload: bytes) -> None:
        """Store atomically; a cache that cannot be written is simply not used."""
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, scratch = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        except OSError:
            return
        try:
            with os.fdopen(fd, "wb") as handle:
                # No fsync: another process sees the old file or the whole new one either way, and what a
                # crash may leave (a short or empty entry) fails the header check and is rebuilt. An fsync
                # cost about 3 ms per entry, a few seconds of a cold render of 1,000 targets.
                handle.write(_pack(payload))
            os.replace(scratch, path)
        except OSError:
            Path(scratch).unlink(missing_ok=True)

    def size(self) -> int:
        return sum(size for _, _, size in self._entries())

    def trim(self) -> None:
        """Remove least recently used entries until the total fits `max_bytes`, once per process and store (a
        diff renders twice; each scan stats every entry)."""
        if self.directory in _TRIMMED:
            return
        _TRIMMED.add(self.directory)
        entries = sorted(self._entries())
        total = sum(size for _, _, size in entries)
        for _, path, size in entries:
            if total <= self.max_bytes:
                break
            try:
                path.unlink()
            except OSError:
                continue
            total -= size

    def _entries(self) -> list[tuple[int, Path, int]]:
        """(last use in ns, path, size) of every entry."""
        found: list[tuple[int, Path, int]] = []
        try:
            shards = [shard.path for shard in os.scandir(self.directory) if shard.is_dir()]
        except OSError:
            shards = []
        for directory in [*shards, *map(str, self.bounded_with)]:
            try:
                for entry in os.scandir(directory):
                    if entry.is_file(follow_symlinks=False):
                        info = entry.stat()
                        found.append((info.st_mtime_ns, Path(entry.path), info.st_size))
            except OSError:
                continue
        return found


def _pack(payload: bytes) -> bytes:
    header = b"%s %d %s\n" % (FORMAT, len(payload), hashlib.sha256(payload).hexdigest().encode())
    return header + payload


def _unpack(blob: bytes) -> bytes | None:
    header, newline, payload = blob.partition(b"\n")
    parts = header.split(b" ")
    if not newline or len(parts) != 3 or parts[0] != FORMAT or not parts[1].isdigit():
        return None
    if int(parts[1]) != len(payload) or hashlib.sha256(payload).hexdigest().encode() != parts[2]:
        return None
    return payload


def binary_digest(path: str, cache_dir: Path) -> str:
    """SHA-256 of an executable's content, remembered per (real path, size, mtime).

    Content rather than the stamp itself: a CI runner installs the same kustomize afresh each time, and its
    restored cache must still hit.
    """
    real = os.path.realpath(path)
    info = os.stat(real)
    stamp = f"{real}:{info.st_size}:{info.st_mtime_ns}"
    memo_file = cache_dir / "binaries.json"
    try:
        memo = json.loads(memo_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        memo = {}
    if isinstance(memo, dict) and isinstance(memo.get(stamp), str):
        return str(memo[stamp])
    h = hashlib.sha256()
    with open(real, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    if isinstance(memo, dict):
        memo[stamp] = digest
        try:
            memo_file.parent.mkdir(parents=True, exist_ok=True)
            fd, scratch = tempfile.mkstemp(prefix=".binaries-", dir=memo_file.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(memo, handle, sort_keys=True)
            os.replace(scratch, memo_file)
        except OSError:
            pass
    return digest


def tool_identity(tool: Kustomize, cache_dir: Path) -> str:
    """What of the kustomize run (besides its inputs) decides the output: binary, version, flags, env, us.

    `cache_dir`: where the binary's digest is remembered (cache_location.memo_directory(), beside its version)."""
    try:
        binary = binary_digest(tool.argv[0], cache_dir)
    except OSError:
        binary = tool.argv[0]
    env = os.environ if tool.env is None else tool.env
    parts = [
        f"gitops {__version__}",
        f"binary {binary}",
        f"version {tool.version}",
        f"argv {json.dumps(list(tool.argv[1:]))}",
        f"flags {json.dumps(list(BUILD_FLAGS))}",
        *(f"env {name}={env.get(name, '')}" for name in OUTPUT_ENVIRONMENT),
    ]
    return "\n".join(parts)


def build_key(identity: str, target: str, mode: str, inputs_digest: str, extra: Sequence[str] = ()) -> str:
    """The entry key of one target's build: tool identity, target, mode and input digest.

    `extra`: further inputs a build step adds beyond the target's files (a Flux build's generated
    kustomization text, a digest of its substitution variables; never decrypted values themselves). Each
    part is length-prefixed, so no two different lists of parts hash alike.
    """
    h = hashlib.sha256()
    for part in (FORMAT.decode(), identity, target, mode, inputs_digest, *extra):
        data = part.encode()
        h.update(b"%d:" % len(data) + data)
    return h.hexdigest()


# Origin annotations name source files relative to the throw-away wrapper kustomization, so they embed
# where the repository lies (`../../../work/repo/base/web/deployment.yaml`). Entries store them with that
# prefix replaced by a placeholder: a diff's base side, built from a temporary directory, then hits what a
# render of the checkout stored, and the other way round.
_ROOT_PLACEHOLDER = "<gitops-root>/"


def _origin_lines(prefix: str) -> re.Pattern[str]:
    return re.compile(r"^(\s+(?:path|configuredIn): )" + re.escape(prefix), re.MULTILINE)


def location_independent(output: str, prefix: str) -> str | None:
    """`output` with the repository location in origin annotations replaced; None when that is not exact."""
    if _ROOT_PLACEHOLDER in output:
        return None
    canonical = _origin_lines(prefix).sub(lambda m: m.group(1) + _ROOT_PLACEHOLDER, output)
    return None if prefix in canonical else canonical


def at_location(canonical: str, prefix: str) -> str:
    return canonical.replace(_ROOT_PLACEHOLDER, prefix)


class RunCache:
    """The cache bound to one run: one tool identity, one tree of inputs."""

    def __init__(self, store: RenderCache, tool: Kustomize, tree: Tree) -> None:
        self.store = store
        self.tree = tree
        self.identity = tool_identity(tool, memo_directory())
        self.hits = 0
        self.misses = 0

    def build(
        self,
        target: str,
        run: Callable[[], str],
        *,
        origin_prefix: str | None = None,
        extra: Sequence[str] = (),
        inputs_digest: str | None = None,
    ) -> str:
        """`run()`'s output for `target`, from the cache when the same inputs were built before.

        `origin_prefix` (origin builds): the wrapper's relative path to the repository root, ending in '/'.
        `extra`: inputs beyond the target's files (see build_key).
        `inputs_digest`: the digest of the files the build reads, when they are not `target`'s walk (a Flux
        build of a directory without a kustomization reads the files the generated one lists).
        """
        key = self._key(target, origin_prefix is not None, extra, inputs_digest)
        stored = self._stored(key)
        if stored is not None:
            return stored if origin_prefix is None else at_location(stored, origin_prefix)
        self.misses += 1
        output = run()
        canonical = output if origin_prefix is None else location_independent(output, origin_prefix)
        if canonical is not None:
            self.store.put(key, canonical.encode("utf-8"))
        return output

    def plain_output(self, target: str) -> str | None:
        """What a plain build of `target` prints, when the cache knows it: a plain entry, or an origin entry whose
        annotations strip exactly (origins.without_origins). None: not known."""
        stored = self._stored(self._key(target, False))
        if stored is not None:
            return stored
        with_origins = self._stored(self._key(target, True))
        plain = without_origins(with_origins) if with_origins is not None else None
        # the placeholder outside the stripped annotations: a value the location substitution touched
        return plain if plain is not None and _ROOT_PLACEHOLDER not in plain else None

    def store_plain(self, target: str, output: str) -> None:
        """Remember what a plain build of `target` printed (after a miss of plain_output)."""
        self.misses += 1
        self.store.put(self._key(target, False), output.encode("utf-8"))

    def _key(self, target: str, origins: bool, extra: Sequence[str] = (), inputs_digest: str | None = None) -> str:
        digest = inputs_digest if inputs_digest is not None else self.tree.digest(self.tree.root / target)
        return build_key(self.identity, target, "origins" if origins else "plain", digest, extra)

    def _stored(self, key: str) -> str | None:
        stored = self.store.get(key)
        if stored is None:
            return None
        try:
            text = stored.decode("utf-8")
        except UnicodeDecodeError:
            return None
        self.hits += 1
        return text


def for_run(tool: Kustomize, tree: Tree, store: RenderCache | None = None) -> RunCache | None:
    """A RunCache over `store` (default: per environment), or None when caching is off."""
    store = store if store is not None else from_environment()
    return RunCache(store, tool, tree) if store is not None else None
