"""age identities and recipients (pyrage), found exactly where sops looks for them.

sops reads SOPS_AGE_KEY (the keys themselves), SOPS_AGE_KEY_FILE (a path), SOPS_AGE_KEY_CMD (a command whose
output is the keys, sops 3.10+) and the user config file `<config dir>/sops/age/keys.txt`, and tries every
identity it found. Error messages name sources, never keys.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyrage
from pyrage import x25519

from gitops.errors import GitopsError

IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
PQ_IDENTITY_PREFIX = "AGE-SECRET-KEY-PQ-1"
PQ_RECIPIENT_PREFIX = "age1pq1"
KEY_CMD = "SOPS_AGE_KEY_CMD"
# A password manager asked for a key answers in seconds; a hung one must not hang the command.
KEY_CMD_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class AgeStanza:
    """One entry of the `sops.age` list: the data key wrapped for `recipient` (armored age file)."""

    recipient: str
    enc: str


def default_keys_file(env: Mapping[str, str] | None = None, home: Path | None = None) -> Path:
    """os.UserConfigDir() + sops/age/keys.txt, as sops computes it."""
    env = os.environ if env is None else env
    home = home or Path(env.get("HOME") or Path.home())
    config = env.get("XDG_CONFIG_HOME")
    if config:
        base = Path(config)
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = home / ".config"
    return base / "sops" / "age" / "keys.txt"


def parse_identities(text: str, source: str) -> list[x25519.Identity]:
    """age's ParseIdentities: one identity per line, blank lines and # comments ignored.

    Post-quantum (age 1.3 hybrid ML-KEM-768 + X25519) identities are skipped when the file also holds X25519
    ones; a file with only those is refused by name: pyrage 1.4 (the maintained age binding on PyPI, rage
    underneath) has no ML-KEM recipient type, only the `tagpq` hardware-tag recipient."""
    identities: list[x25519.Identity] = []
    post_quantum: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(PQ_IDENTITY_PREFIX):
            post_quantum.append(number)
            continue
        if not line.startswith(IDENTITY_PREFIX):
            raise GitopsError(f"{source}: line {number} is not an age identity")
        try:
            identities.append(x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise GitopsError(f"{source}: line {number} is not a valid age identity") from None
    if post_quantum and not identities:
        raise GitopsError(
            f"{source}: line {post_quantum[0]}: post-quantum age identity ({PQ_IDENTITY_PREFIX}..., age 1.3 hybrid "
            "ML-KEM) is not supported"
        )
    return identities


def load_identities(env: Mapping[str, str] | None = None, home: Path | None = None) -> list[x25519.Identity]:
    """Every identity from SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and the default keys file (when it exists)."""
    env = os.environ if env is None else env
    identities: list[x25519.Identity] = []
    inline = env.get("SOPS_AGE_KEY")
    if inline:
        identities += parse_identities(inline, "SOPS_AGE_KEY")
    key_file = env.get("SOPS_AGE_KEY_FILE")
    if key_file:
        identities += parse_identities(_read_key_file(Path(key_file)), key_file)
    command = env.get(KEY_CMD)
    if command:
        identities += parse_identities(_run_key_command(command, env), KEY_CMD)
    default = default_keys_file(env, home)
    if default.is_file():
        identities += parse_identities(_read_key_file(default), str(default))
    return identities


def identities_if_any() -> list[x25519.Identity]:
    """load_identities for callers where a key is optional (rendering substituteFrom Secrets, comparing SOPS
    values in a diff): no usable key is an empty list, and those callers say what they could not do.
    `gitops secrets` and `gitops check` call load_identities and report a bad key file."""
    try:
        return load_identities()
    except GitopsError:
        return []


def _run_key_command(command: str, env: Mapping[str, str]) -> str:
    """The command's stdout, run as sops runs it: split like a shell would, no shell, no stdin. Its stderr is
    not repeated (a key tool may print secrets there); a failure is an error, not a silently missing key."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise GitopsError(f"{KEY_CMD}: cannot split the command: {exc}") from None
    if not argv:
        raise GitopsError(f"{KEY_CMD}: the command is empty")
    from gitops.processes import TimedOut, run_bounded  # subprocess and threading only when a key command runs

    try:
        done = run_bounded(argv, timeout=KEY_CMD_TIMEOUT_SECONDS, env=env)
    except TimedOut:
        raise GitopsError(f"{KEY_CMD}: {argv[0]} did not finish within {KEY_CMD_TIMEOUT_SECONDS:g} s") from None
    except OSError as exc:
        raise GitopsError(f"{KEY_CMD}: cannot run {argv[0]}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise GitopsError(f"{KEY_CMD}: {argv[0]} exited with status {done.returncode}")
    return done.stdout


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not readable as UTF-8"
        raise GitopsError(f"{path}: cannot read age key file: {reason}") from None


def parse_recipient(recipient: str, source: str) -> x25519.Recipient:
    if recipient.strip().startswith(PQ_RECIPIENT_PREFIX):
        raise GitopsError(f"{source}: post-quantum age recipient ({PQ_RECIPIENT_PREFIX}...) is not supported")
    try:
        return x25519.Recipient.from_str(recipient.strip())
    except pyrage.RecipientError:
        raise GitopsError(f"{source}: {recipient.strip()!r} is not a valid age recipient") from None


def wrap_data_key(data_key: bytes, recipients: Iterable[str], source: str) -> list[AgeStanza]:
    """One armored age file per recipient, as sops writes them (age.Encrypt + armor.NewWriter)."""
    stanzas = []
    for recipient in recipients:
        parsed = parse_recipient(recipient, source)
        armored = pyrage.encrypt(data_key, [parsed], armored=True).decode("ascii")
        stanzas.append(AgeStanza(recipient.strip(), armored))
    if not stanzas:
        raise GitopsError(f"{source}: no age recipients to encrypt for")
    return stanzas


def unwrap_data_key(
    stanzas: Sequence[AgeStanza], identities: Sequence[x25519.Identity], source: str, size: int = 32
) -> bytes:
    """The data key (or, in a key group, its `size`-byte Shamir share) from the first stanza any identity opens;
    recipients do not pick the identity."""
    if not stanzas:
        raise GitopsError(f"{source}: no age key in the sops metadata (only age is supported)")
    if all(stanza.recipient.startswith(PQ_RECIPIENT_PREFIX) for stanza in stanzas):
        raise GitopsError(
            f"{source}: post-quantum age recipient ({PQ_RECIPIENT_PREFIX}..., age 1.3 hybrid ML-KEM) is not supported"
        )
    if not identities:
        raise GitopsError(
            f"{source}: no age identity found (set SOPS_AGE_KEY_FILE, SOPS_AGE_KEY or SOPS_AGE_KEY_CMD, "
            "or create ~/.config/sops/age/keys.txt)"
        )
    for stanza in stanzas:
        try:
            data_key = pyrage.decrypt(stanza.enc.lstrip().encode("ascii"), list(identities))
        except (pyrage.DecryptError, UnicodeEncodeError, ValueError):
            continue
        if len(data_key) != size:
            raise GitopsError(f"{source}: the age stanza holds a {len(data_key)}-byte data key, expected {size}")
        return bytes(data_key)
    listed = ", ".join(s.recipient for s in stanzas)
    raise GitopsError(f"{source}: no available age identity matches the file's recipients ({listed})")
