"""What each render target reads, walked once per run: targets.Tree.

The walk of a kustomization tree enforces our guard (no reference may leave the repository root, no remote
bases, no helmCharts), runs the preflight on every file kustomize would read (bounded, UTF-8, no alias bomb,
no duplicate key) and lists those files, which the render cache digests and `diff` compares to skip targets
whose inputs did not change. Which directories are targets: target_selection.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from gitops import source_memo
from gitops.bounded_yaml import decode_source, refuse_alias_bombs, refuse_oversize, yaml_error
from gitops.errors import GitopsError, MissingInputError
from gitops.limits import DEFAULT_LIMITS, Limits
from gitops.manifests import source_loader
from gitops.paths import TARGET_ROOTS

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")

# Fields whose entries are paths (files or directories) relative to the kustomization directory.
_PATH_LISTS = (
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
)
_PLUGIN_LISTS = ("generators", "transformers", "validators")
_PATCH_LISTS = ("patches", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
# A kustomization with no other field only gathers its resources: kustomize outputs their objects unchanged.
_GATHERING_FIELDS = frozenset({"apiVersion", "kind", "resources"})
_KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


class Files:
    """Where a Tree reads from: the disk. A diff reads the base side from git objects instead (git.py)."""

    virtual = False
    """True when paths do not exist on disk (then no symlink resolution applies)."""

    def is_file(self, path: Path) -> bool:
        return path.is_file()

    def is_dir(self, path: Path) -> bool:
        return path.is_dir()

    def read(self, path: Path) -> bytes:
        return path.read_bytes()

    def files_in(self, directory: Path) -> list[Path]:
        """The regular files directly in `directory`."""
        try:
            return [Path(e.path) for e in os.scandir(directory) if e.is_file()]
        except OSError:
            return []

    def prefetch(self, paths: Iterable[Path]) -> None:
        """A hint that these files will be read (a git-backed source fetches them in one go)."""
        del paths

    def kustomization_dirs(self, root: Path, roots: Sequence[str] = TARGET_ROOTS) -> Iterator[Path]:
        """Directories under `roots` (overlays/ and clusters/) holding a kustomization file, in sorted walk order."""
        for top in roots:
            base = root / top
            if not base.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                # the walk's listing says which names may be kustomization files: a stat only for those
                if any(n in filenames and os.path.isfile(os.path.join(dirpath, n)) for n in KUSTOMIZATION_FILES):
                    yield Path(dirpath)


DISK = Files()


def kustomization_file(directory: Path, files: Files = DISK) -> Path | None:
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if files.is_file(candidate):
            return candidate
    return None


def _is_remote(ref: str) -> bool:
    return "://" in ref or ref.startswith(("git@", "github.com/", "gitlab.com/", "bitbucket.org/"))


@dataclass
class Kustomization:
    """One parsed kustomization file and the local paths it references."""

    directory: Path
    file: Path
    kind: str
    directories: list[Path] = field(default_factory=list)
    """Referenced directories (resources, bases, components): each holds a kustomization of its own."""
    files: list[Path] = field(default_factory=list)
    """Referenced files (resources, patches, generator sources, ...)."""
    references: list[Reference] = field(default_factory=list)
    """Every local reference as written, for messages that point at the kustomization entry."""
    plugin_configs: list[Path] = field(default_factory=list)
    """Transformer/generator/validator config files: they may name files of their own (`path:`, `files:`)."""
    plugin_dirs: list[Path] = field(default_factory=list)
    """Transformer/generator/validator entries that are kustomizations whose resources are plugin configs."""
    gathered: tuple[Path, ...] | None = None
    """Its resources in order when it sets nothing else (flux.gather); None when it transforms anything."""


@dataclass(frozen=True)
class Reference:
    field_name: str
    written: str
    path: Path

    @property
    def is_yaml(self) -> bool:
        """kustomize parses the file as YAML (generator sources are data: any bytes)."""
        return self.field_name not in _GENERATORS


class Tree:
    """Parses kustomization files once per run and checks every reference against the repository root."""

    def __init__(
        self, root: Path, files: Files = DISK, limits: Limits = DEFAULT_LIMITS, *, scan_symlinks: bool = True
    ) -> None:
        """`scan_symlinks=False`: references resolve with os.path.realpath each, instead of through one scan of
        the repository's symlinks (cheaper for one target's few references than a walk of every directory)."""
        self.files = files
        self._scan_symlinks = scan_symlinks
        self.limits = limits
        self.root = root if files.virtual else root.resolve()
        self._root_prefix = str(self.root).rstrip("/") + "/"
        self._cache: dict[Path, Kustomization] = {}
        self._symlinks: _Symlinks | None = None
        self._sound: set[Path] = set()  # files preflight found in order (each is checked once per run)
        self._content_digests: dict[Path, bytes] = {}
        self._own: dict[Path, frozenset[Path]] = {}
        self._limits_tag = repr(limits)  # a file sound under one size bound may not be under another
        self.resolved_unscanned = False
        """Whether a reference was resolved through a place the symlink scan does not cover (render_record)."""

    def rel(self, path: Path) -> str:
        text = str(path)  # string slicing: pathlib's relative_to was a tenth of a run's time at 1,000 targets
        if text.startswith(self._root_prefix):
            return text[len(self._root_prefix) :]
        return "." if text == str(self.root) else text

    def load(self, directory: Path) -> Kustomization:
        cached = self._cache.get(directory)
        if cached is not None:
            return cached
        real = Path(self._real(str(directory)))
        cached = self._cache.get(real)
        if cached is None:
            cached = self._parse(real)
            self._cache[real] = cached
        self._cache[directory] = cached
        return cached

    def _parse(self, directory: Path) -> Kustomization:
        file = kustomization_file(directory, self.files)
        if file is None:
            raise GitopsError(f"{self.rel(directory)}: no kustomization.yaml")
        text = self._text(file)
        memo_key = source_memo.content_key(text)
        data = source_memo.parsed(memo_key)
        if data is None:
            refuse_alias_bombs(text, self.rel(file))
            try:
                data = _parse_kustomization(text)
            except yaml.YAMLError as exc:
                raise yaml_error(exc, self.rel(file)) from None
            source_memo.remember_parsed(memo_key, data)
        if not isinstance(data, dict):
            raise GitopsError(f"{self.rel(file)}: a kustomization must be a mapping")
        node = Kustomization(directory, file, str(data.get("kind") or "Kustomization"))
        self._collect(node, data)
        return node

    def real(self, path: Path) -> Path:
        """`path` resolved as Path.resolve() would, without system calls where no symlink lies on the way."""
        return Path(self._real(str(path)))

    def _real(self, path: str) -> str:
        """os.path.realpath, without its per-component system calls when no symlink lies on the way.

        Walking many kustomizations resolves thousands of references; in a repository without symlinks a
        lexical normalisation gives the same answer (a path leaving the root is refused either way).
        """
        normal = os.path.normpath(path)
        if self.files.virtual:
            return normal
        if not normal.startswith(self._root_prefix) or (not self._scan_symlinks and self._symlinks is None):
            self.resolved_unscanned = True
            return os.path.realpath(normal)
        if self._symlinks is None:
            self._symlinks = _symlinks_below(self.root)
        top = normal[len(self._root_prefix) :].split("/", 1)[0]
        if top not in self._symlinks.walked:
            self.resolved_unscanned = True
            return os.path.realpath(normal)
        probe = normal
        while self._symlinks.links and probe.startswith(self._root_prefix):
            if probe in self._symlinks.links:
                return os.path.realpath(normal)
            probe = os.path.dirname(probe)
        return normal

    def _collect(self, node: Kustomization, data: dict[str, Any]) -> None:
        if data.get("helmCharts") or data.get("helmChartInflationGenerator"):
            raise GitopsError(
                f"{self.rel(node.file)}: helmCharts needs --enable-helm, which Flux's kustomize-controller refuses;"
                " use a HelmRelease instead"
            )
        resources: list[Path] = []
        for key in _PATH_LISTS:
            for ref in _as_list(data.get(key)):
                if isinstance(ref, str) and "\n" not in ref:  # multi-line entries are inline YAML
                    added = self._add(node, key, ref)
                    if key == "resources":
                        resources.append(added)
        if _only_gathers(data):
            node.gathered = tuple(resources)
        for key in _PATCH_LISTS:
            for entry in _as_list(data.get(key)):
                if isinstance(entry, dict) and isinstance(entry.get("path"), str):
                    self._add(node, key, entry["path"])
        for ref in _as_list(data.get("patchesStrategicMerge")):
            if isinstance(ref, str) and "\n" not in ref:
                self._add(node, "patchesStrategicMerge", ref)
        for key in _GENERATORS:
            for generator in _as_list(data.get(key)):
                if not isinstance(generator, dict):
                    continue
                sources = [*_as_list(generator.get("files")), *_as_list(generator.get("envs"))]
                if isinstance(generator.get("env"), str):
                    sources.append(generator["env"])
                for ref in sources:
                    if isinstance(ref, str):
                        self._add(node, key, ref.split("=", 1)[-1])
        openapi = data.get("openapi")
        if isinstance(openapi, dict) and isinstance(openapi.get("path"), str):
            self._add(node, "openapi", openapi["path"])

    def _add(self, node: Kustomization, field_name: str, ref: str) -> Path:
        if _is_remote(ref):
            raise GitopsError(
                f"{self.rel(node.file)}: {field_name} entry '{ref}' is a remote reference;"
                " only references inside the repository render offline"
            )
        real = self._real(os.path.join(node.directory, ref))
        if not real.startswith(self._root_prefix) and real != str(self.root):
            raise GitopsError(f"{self.rel(node.file)}: {field_name} entry '{ref}' points outside the repository root")
        target = Path(real)
        if self.files.is_dir(target):
            node.directories.append(target)
            if field_name in _PLUGIN_LISTS:
                node.plugin_dirs.append(target)
        else:
            node.files.append(target)
            node.references.append(Reference(field_name, ref, target))
            if field_name in _PLUGIN_LISTS:
                node.plugin_configs.append(target)
        return target

    def _text(self, file: Path) -> str:
        """A source file's text, bounded in size and UTF-8; unreadable files are named with the cause."""
        self._refuse_oversize_on_disk(file)
        try:
            data = self.files.read(file)
        except OSError as exc:
            raise GitopsError(f"{self.rel(file)}: cannot read: {_os_cause(exc)}") from None
        return decode_source(data, self.rel(file), self.limits)

    def preflight(self, directory: Path) -> None:
        """Refuse, naming file and line, every input a build of `directory` would choke on or misread.

        kustomize reports such problems as nested stubs (or hangs on an alias bomb, or silently keeps the
        last of two duplicate keys); each referenced file must exist, stay within the size limit, be UTF-8
        YAML without alias bombs and without duplicate keys.
        """
        from gitops.check.sourcemap import duplicate_keys_in  # check's detection: render and check agree

        self.inputs(directory)
        nodes = [self._cache[d] for d in self._walked(directory)]
        for node in nodes:
            checks: list[tuple[Path, str]] = [(node.file, self.rel(node.file))]
            for ref in node.references:
                where = f"{self.rel(node.file)}: {ref.field_name} entry '{ref.written}'"
                if not self.files.is_file(ref.path):
                    raise MissingInputError(f"{where}: {self._missing_cause(ref.path)}")
                if ref.is_yaml:
                    checks.append((ref.path, self.rel(ref.path)))
                else:
                    self._size_only(ref.path)
            for path, shown in checks:
                if path in self._sound:
                    continue
                self._refuse_oversize_on_disk(path)  # before the whole file is read to hash it
                memo_key = self._content_digest(path).hex()
                if source_memo.is_sound(memo_key, self._limits_tag):
                    self._sound.add(path)
                    continue
                text = self._text(path)
                refuse_alias_bombs(text, shown)
                try:
                    duplicates = duplicate_keys_in(text)
                except yaml.YAMLError as exc:
                    raise yaml_error(exc, shown) from None
                if duplicates:
                    key, pointer, line, first = duplicates[0]
                    raise GitopsError(
                        f"{shown}:{line}: duplicate key '{key}' in {pointer or '/'} (first on line {first});"
                        " kustomize would refuse it or keep only one"
                    )
                self._sound.add(path)
                source_memo.remember_sound(memo_key, self._limits_tag)

    def _walked(self, directory: Path) -> list[Path]:
        order, stack = [], [Path(self._real(str(directory)))]
        while stack:
            current = stack.pop()
            if current in order:
                continue
            order.append(current)
            stack.extend(self._cache[current].directories)
        return order

    def _refuse_oversize_on_disk(self, path: Path) -> None:
        """The size limit from the file system, before a huge file is read into memory."""
        if not self.files.virtual:
            with contextlib.suppress(OSError):  # unreadable: the read that follows names the cause
                refuse_oversize(os.stat(path).st_size, self.rel(path), self.limits)

    def _size_only(self, path: Path) -> None:
        self._refuse_oversize_on_disk(path)
        try:
            data = self.files.read(path)
        except OSError as exc:
            raise GitopsError(f"{self.rel(path)}: cannot read: {_os_cause(exc)}") from None
        if len(data) > self.limits.max_file_bytes:
            decode_source(data, self.rel(path), self.limits)

    def _missing_cause(self, path: Path) -> str:
        if self.files.virtual:
            return "no such file"
        try:
            os.stat(path)
        except OSError as exc:
            return _os_cause(exc)
        return "not a regular file"

    def inputs(self, directory: Path) -> set[Path]:
        """Every file a build of `directory` reads (kustomization files included).

        Every file beside each kustomization counts too: transformer and generator configs can name files
        of their own (a PatchTransformer's `path:`) that no walk of kustomization fields sees, and a change
        the digest misses would be a diff that silently shows nothing.
        """
        files: set[Path] = set()
        for current, node in self.walk(directory):
            files.update(self._own_inputs(current, node))
        return files

    def walk(self, directory: Path) -> Iterator[tuple[Path, Kustomization]]:
        """Every kustomization a build of `directory` reaches (through resources, bases and components),
        once each, with its resolved directory."""
        seen: set[Path] = set()
        stack = [Path(self._real(str(directory)))]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            node = self.load(current)
            yield current, node
            stack.extend(node.directories)

    def _own_inputs(self, directory: Path, node: Kustomization) -> frozenset[Path]:
        """The files one kustomization reads itself, once per run: every target walks the same bases."""
        known = self._own.get(directory)
        if known is None:
            own = {node.file, *node.files, *self._plugin_files(node), *self.files.files_in(directory)}
            known = self._own[directory] = frozenset(own)
        return known

    def _plugin_files(self, node: Kustomization) -> list[Path]:
        """Files a plugin config names: a PatchTransformer's `path:`, a builtin generator's `files:`, `envs:`
        and `env:`, a ReplacementTransformer's nested `path:`, and whatever field a kind we do not know uses.

        A cache key or diff digest that misses such a file gives a stale answer, so every string of the config
        that names an existing file inside the repository counts (relative to the kustomization, which is how
        kustomize resolves them, and to the config itself): a string that only happens to match costs a miss.
        """
        configs = list(node.plugin_configs)
        for directory in node.plugin_dirs:  # `transformers: [dir]`: the dir's resources are the configs
            configs.extend(p for p in self.inputs(directory) if p.name not in KUSTOMIZATION_FILES)
        found = []
        for config in configs:
            try:
                text = self.files.read(config).decode("utf-8")
                documents = list(yaml.load_all(text, Loader=source_loader(text)))
            except (OSError, yaml.YAMLError, UnicodeDecodeError):
                continue  # kustomize reports an unreadable config itself
            for text in _strings_in(documents):
                for ref in {text, text.split("=", 1)[-1]}:
                    for base in {node.directory, config.parent}:
                        real = self._real(os.path.join(base, ref))
                        if real.startswith(self._root_prefix) and self.files.is_file(Path(real)):
                            found.append(Path(real))
        return found

    def has_symlinks(self) -> bool:
        """Whether the repository holds symlinks (outside hidden top-level entries and tool directories)."""
        if self._symlinks is None:
            self._symlinks = _symlinks_below(self.root)
        return bool(self._symlinks.links)

    def reads_plugin_configs(self, directory: Path) -> bool:
        """Whether a build of `directory` reads transformer/generator/validator configs (which may name files)."""
        self.inputs(directory)
        return any(self._cache[d].plugin_configs or self._cache[d].plugin_dirs for d in self._walked(directory))

    def read_digests(self) -> dict[Path, bytes]:
        """The content digest of every file hashed in this run, as it was read."""
        return {p: d for p, d in self._content_digests.items() if d != _MISSING}

    def digest(self, directory: Path) -> str:
        """A content digest over a target's inputs (paths and bytes)."""
        return self.digest_files(self.inputs(directory))

    def digest_files(self, paths: Iterable[Path]) -> str:
        """A content digest over `paths` (repository-relative names and bytes)."""
        h = hashlib.sha256()
        for path in sorted(paths):
            h.update(self.rel(path).encode() + b"\0" + self._content_digest(path) + b"\0")
        return h.hexdigest()

    def _content_digest(self, path: Path) -> bytes:
        """Per file, once per run: the targets of a repository share most of their inputs (the bases)."""
        known = self._content_digests.get(path)
        if known is None:
            try:
                known = hashlib.sha256(self.files.read(path)).digest()
            except OSError:
                known = _MISSING
            self._content_digests[path] = known
        return known


_MISSING = b"<missing>"


@lru_cache(maxsize=4096)
def _parse_kustomization(content: str) -> Any:
    """Parsed by content: the base and head sides of a diff share most files."""
    return yaml.load(content, Loader=source_loader(content)) or {}


def _os_cause(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno == errno.ENOENT:
        return "no such file"
    return exc.strerror or str(exc)


@dataclass(frozen=True)
class _Symlinks:
    walked: frozenset[str]
    """Top-level entries whose symlinks are listed (hidden ones, rendered/ and virtualenvs are not)."""
    links: frozenset[str]


_NOT_WALKED = ("rendered", "node_modules", "venv")


def _symlinks_below(root: Path) -> _Symlinks:
    walked, links = set(), set()
    for entry in os.scandir(root):
        if entry.name.startswith(".") or entry.name in _NOT_WALKED:
            continue
        walked.add(entry.name)
        if entry.is_symlink():
            links.add(entry.path)
        elif entry.is_dir():
            _collect_links(entry.path, links)
    return _Symlinks(frozenset(walked), frozenset(links))


def _collect_links(top: str, links: set[str]) -> None:
    """Symlinks below `top`; scandir's entry types save a stat per file (thousands in a large repository)."""
    stack = [top]
    while stack:
        try:
            entries = list(os.scandir(stack.pop()))
        except OSError:
            continue
        for entry in entries:
            if entry.is_symlink():
                links.add(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)


_MAX_CONFIG_STRINGS = 10_000  # a plugin config is a few lines; a huge one is bounded by the file size limit too


def _strings_in(documents: list[Any]) -> list[str]:
    """Every one-line string value (not key) in parsed YAML documents that could be a relative path."""
    found: list[str] = []
    stack = list(documents)
    while stack and len(found) < _MAX_CONFIG_STRINGS:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and value and "\n" not in value and "://" not in value and len(value) < 4096:
            found.append(value)
    return found


def _only_gathers(data: dict[str, Any]) -> bool:
    """Whether a kustomization lists resources (plain local paths) and sets nothing else."""
    resources = data.get("resources")
    return (
        data.keys() <= _GATHERING_FIELDS
        and data.get("kind", "Kustomization") == "Kustomization"
        and data.get("apiVersion", _KUSTOMIZE_API) == _KUSTOMIZE_API
        and isinstance(resources, list)
        and all(isinstance(ref, str) and ref and "\n" not in ref for ref in resources)
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
