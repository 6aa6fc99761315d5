"""Which repository files source-controller leaves out of the artifact it builds for a GitRepository.

Facts from fluxcd/pkg (sourceignore, artifact/storage) and the GitRepository docs:
- `.sourceignore` files anywhere in the repository (`.git` not walked) hold gitignore-style patterns, scoped to
  their own directory; blank lines and lines starting with `#` are skipped;
- with no pattern at all, the defaults apply: VCS files, common binary extensions, CI configuration and
  `.goreleaser.yml`/`.sops.yaml`/`.flux.yaml` anywhere; with patterns, only the VCS ones stay in front of them
  (so a `.sourceignore` replaces the other defaults);
- the last pattern that matches a path decides (`!` re-includes); a path is matched as a whole (every
  directory above a file is tested by name patterns), so a file under an excluded directory is excluded
  unless a later pattern includes it again.
Pattern semantics are go-git's gitignore (which Flux vendors): a pattern without `/` matches any path
component by `filepath.Match`; one with `/` matches component by component from its directory, `**` spanning
directories; a trailing `/` matches directories only.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path

IGNORE_FILE = ".sourceignore"
VCS_PATTERNS = (".git/", ".gitignore", ".gitmodules", ".gitattributes")
DEFAULT_PATTERNS = (
    *("*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip"),
    *(".github/", ".circleci/", ".travis.yml", ".gitlab-ci.yml", "appveyor.yml", ".drone.yml", "cloudbuild.yaml"),
    *("codeship-services.yml", "codeship-steps.yml"),
    *("**/.goreleaser.yml", "**/.sops.yaml", "**/.flux.yaml"),
)
_ANY_DIRS = "**"
_NOT_WALKED = frozenset({"node_modules"})


@dataclass(frozen=True)
class Pattern:
    domain: tuple[str, ...]
    parts: tuple[str, ...]
    include: bool
    dir_only: bool
    anchored: bool
    """Contains a `/`: matched from the domain down, not against any component."""
    origin: str = field(default="", compare=False)
    """The file it was read from (`apps/.sourceignore`, `spec.ignore`); "" for source-controller's defaults."""

    @classmethod
    def parse(cls, text: str, domain: tuple[str, ...] = (), origin: str = "") -> Pattern:
        include = text.startswith("!")
        if include:
            text = text[1:]
        if not text.endswith("\\ "):
            text = text.rstrip(" ")
        dir_only = text.endswith("/")
        if dir_only:
            text = text[:-1]
        return cls(domain, tuple(text.split("/")), include, dir_only, "/" in text, origin)

    def matches(self, path: tuple[str, ...], is_dir: bool) -> bool:
        if len(path) <= len(self.domain) or path[: len(self.domain)] != self.domain:
            return False
        rest = path[len(self.domain) :]
        return self._glob(rest, is_dir) if self.anchored else self._any_name(rest, is_dir)

    def _any_name(self, path: tuple[str, ...], is_dir: bool) -> bool:
        for index, name in enumerate(path):
            if go_match(self.parts[0], name):
                return not (self.dir_only and not is_dir and index == len(path) - 1)
        return False

    def _glob(self, path: tuple[str, ...], is_dir: bool) -> bool:
        matched = False
        traverse = False
        remaining = list(path)
        for index, part in enumerate(self.parts):
            if part == "":
                traverse = False
                continue
            if part == _ANY_DIRS:
                if index == len(self.parts) - 1:
                    break
                traverse = True
                continue
            if _ANY_DIRS in part or not remaining:
                return False
            if traverse:
                traverse = False
                while remaining:
                    name = remaining.pop(0)
                    if go_match(part, name):
                        matched = True
                        break
                    if not remaining:
                        matched = False
            else:
                if not go_match(part, remaining[0]):
                    return False
                matched = True
                remaining.pop(0)
        return not (matched and self.dir_only and not is_dir and not remaining) and matched


@dataclass(frozen=True)
class SourceIgnore:
    """The patterns of one source (lowest priority first)."""

    patterns: tuple[Pattern, ...]

    def excludes(self, rel: str, is_dir: bool = False) -> bool:
        return self.excluding(rel, is_dir) is not None

    def excluding(self, rel: str, is_dir: bool = False) -> Pattern | None:
        """The pattern that leaves `rel` out of the artifact (the last one matching, not a `!`), or None."""
        if self._screen.search(rel) is None:  # no pattern can match: most files of a repository
            return None
        path = tuple(part for part in rel.split("/") if part)
        for pattern in reversed(self.patterns):
            if pattern.matches(path, is_dir):
                return None if pattern.include else pattern
        return None

    @cached_property
    def _screen(self) -> re.Pattern[str]:
        # Kept on the instance: an lru_cache would hash every pattern again for each of thousands of paths.
        return _screen(self.patterns)

    def explain(self, rel: str) -> str | None:
        """Why `rel` is not in the artifact, for messages: the pattern and where it comes from; None if it is."""
        pattern = self.excluding(rel)
        if pattern is None:
            return None
        text = "/".join(pattern.parts) + ("/" if pattern.dir_only else "")
        if pattern.origin:
            return f"'{text}' in {pattern.origin}"
        return f"source-controller's default ignore pattern '{text}' (a .sourceignore replaces the defaults)"


@lru_cache(maxsize=16)
def _screen(patterns: tuple[Pattern, ...]) -> re.Pattern[str]:
    """One regex matching every path some pattern may match (more, never fewer): a pattern's parts as
    component regexes, `**` as any directories, unanchored names at any depth, a trailing rest allowed."""
    alternatives = []
    for pattern in patterns:
        parts = [_compile(part) for part in pattern.parts if part not in ("", _ANY_DIRS)]
        if any(part is None for part in parts):
            continue  # a malformed part matches nothing
        domain = "".join(re.escape(name) + "/" for name in pattern.domain)
        if pattern.anchored:
            kept = [part for part in pattern.parts if part != ""]
            while kept and kept[-1] == _ANY_DIRS:  # a last `**` takes whatever follows
                kept.pop()
            body = "/".join(
                "(?:[^/]+/)*" if part == _ANY_DIRS else _compile(part).pattern  # type: ignore[union-attr]
                for part in kept
            ).replace("(?:[^/]+/)*/", "(?:[^/]+/)*")
        else:
            body = "(?:[^/]+/)*" + _compile(pattern.parts[0]).pattern  # type: ignore[union-attr]
        alternatives.append(f"^{domain}{body}(?:/|$)")
    return re.compile("|".join(alternatives) or "(?!)", re.DOTALL)


def load(root: Path, spec_ignore: str | None = None) -> SourceIgnore:
    """The patterns source-controller applies to a GitRepository of `root` (with its `spec.ignore`)."""
    return _with_defaults(_read_tree(root, ()), spec_ignore)


def from_files(root: Path, ignore_files: list[Path], spec_ignore: str | None = None) -> SourceIgnore:
    """As `load`, from `.sourceignore` files a walk of `root` already found, in its depth-first order."""
    found: list[Pattern] = []
    for file in ignore_files:
        domain = file.parent.relative_to(root).parts
        with contextlib.suppress(OSError):
            text = file.read_text(encoding="utf-8", errors="replace")
            found += _read_patterns(text, tuple(domain), "/".join((*domain, IGNORE_FILE)))
    return _with_defaults(found, spec_ignore)


def _with_defaults(found: list[Pattern], spec_ignore: str | None) -> SourceIgnore:
    if spec_ignore is not None:
        found = [*found, *_read_patterns(spec_ignore, (), "spec.ignore")]
    vcs = [Pattern.parse(p) for p in VCS_PATTERNS]
    defaults = [] if found else [Pattern.parse(p) for p in DEFAULT_PATTERNS]
    return SourceIgnore((*vcs, *defaults, *found))


def _read_tree(directory: Path, domain: tuple[str, ...]) -> list[Pattern]:
    patterns: list[Pattern] = []
    with contextlib.suppress(OSError):
        text = (directory / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
        patterns += _read_patterns(text, domain, "/".join((*domain, IGNORE_FILE)))
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return patterns
    for entry in entries:
        # Hidden directories and tool output (.git, .venv, node_modules) are not what a repository commits.
        if entry.is_dir(follow_symlinks=False) and not entry.name.startswith(".") and entry.name not in _NOT_WALKED:
            patterns += _read_tree(Path(entry.path), (*domain, entry.name))
    return patterns


def _read_patterns(text: str, domain: tuple[str, ...], origin: str) -> list[Pattern]:
    return [
        Pattern.parse(line, domain, origin) for line in text.splitlines() if line.strip() and not line.startswith("#")
    ]


def go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match on one path component; a malformed pattern matches nothing (Go's ErrBadPattern)."""
    compiled = _compile(pattern)
    return compiled is not None and compiled.fullmatch(name) is not None


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str] | None:
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        index += 1
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\":
            if index >= len(pattern):
                return None
            out.append(re.escape(pattern[index]))
            index += 1
        elif char == "[":
            parsed = _char_class(pattern, index)
            if parsed is None:
                return None
            text, index = parsed
            out.append(text)
        else:
            out.append(re.escape(char))
    return re.compile("".join(out), re.DOTALL)


def _char_class(pattern: str, index: int) -> tuple[str, int] | None:
    """`[...]` from just after `[`: Go negates with `^`, ranges `a-z`, `\\` escapes; None when malformed."""
    negate = index < len(pattern) and pattern[index] == "^"
    if negate:
        index += 1
    ranges: list[str] = []
    first = True
    while True:
        if index >= len(pattern):
            return None
        if pattern[index] == "]" and not first:
            index += 1
            break
        low, index = _class_char(pattern, index)
        if low is None:
            return None
        high = low
        if index < len(pattern) and pattern[index] == "-":
            upper, index = _class_char(pattern, index + 1)
            if upper is None:
                return None
            high = upper
        if low <= high:  # Go compares lo <= c <= hi: a reversed range matches nothing, it is no error
            ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
        first = False
    body = "".join(ranges)
    if not body:
        return ("[^/]" if negate else "(?!)"), index
    return (f"[^/{body}]" if negate else f"[{body}]"), index


def _class_char(pattern: str, index: int) -> tuple[str | None, int]:
    if index >= len(pattern) or pattern[index] in "-]":
        return None, index
    if pattern[index] == "\\":
        index += 1
        if index >= len(pattern):
            return None, index
    return pattern[index], index + 1
