"""Encrypt, decrypt, verify, update keys and rotate sops files held in memory (text in, text out).

Nothing here touches the disk with plaintext: callers pass text and get text back. `source` names the file
in error messages, which never contain values or key material.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pyrage import x25519

from gitops.errors import GitopsError
from gitops.sops import comment_scope, crypto, formats, rendering, shamir, tree
from gitops.sops.comments import (
    decrypt_comments,
    decrypt_dotenv_comments,
    encrypt_comments,
    encrypt_dotenv_comments,
    encrypted_comment_texts,
    inline_after_ciphertext,
    tighten,
)
from gitops.sops.groups import data_key_for
from gitops.sops.keys import AgeStanza, wrap_data_key
from gitops.sops.metadata import Metadata, now_lastmodified, parse_metadata
from gitops.sops.rules import Scope
from gitops.sops.scalars import rfc3339_aad


@dataclass
class Opened:
    """A decrypted file: plaintext tree (in memory only), its metadata and data key."""

    parsed: formats.Parsed
    metadata: Metadata
    data_key: bytes
    fmt: str
    ledger: crypto.Ledger = field(default_factory=crypto.Ledger)
    """Every ciphertext of the file by (path, type, plaintext): what an edit may keep."""


def encrypt_text(
    text: str,
    fmt: str,
    source: str,
    *,
    recipients: Sequence[str],
    scope: Scope | None = None,
    now: dt.datetime | None = None,
    key_groups: Sequence[Sequence[str]] = (),
    threshold: int = 0,
) -> str:
    """Encrypt a plaintext YAML/JSON/dotenv file for the age recipients; returns the sops file text. With
    several `key_groups` the data key is split into Shamir shares, one per group, `threshold` of them needed."""
    parsed = formats.load(text, fmt, source)
    if parsed.metadata is not None:
        raise GitopsError(f"{source}: already encrypted (it has a sops metadata block)")
    if not parsed.documents:
        raise GitopsError(f"{source}: nothing to encrypt (the file is empty)")
    if len(key_groups) > 1:
        return _seal_groups(parsed, fmt, source, key_groups, threshold, scope or Scope(), now)
    return _seal(parsed, fmt, source, crypto.new_data_key(), list(recipients), scope or Scope(), now)


def _seal_groups(
    parsed: formats.Parsed,
    fmt: str,
    source: str,
    key_groups: Sequence[Sequence[str]],
    threshold: int,
    scope: Scope,
    now: dt.datetime | None,
    version: str = "",
) -> str:
    data_key = crypto.new_data_key()
    groups, needed = _wrap_shares(data_key, source, key_groups, threshold)
    lastmodified, mac = _encrypt_tree(parsed, fmt, source, data_key, scope, crypto.Ledger(), now)
    meta = Metadata((), lastmodified, mac, scope, version=version, groups=groups, threshold=needed)
    return formats.dump(parsed, fmt, meta)


def _wrap_shares(
    data_key: bytes, source: str, key_groups: Sequence[Sequence[str]], threshold: int
) -> tuple[tuple[tuple[AgeStanza, ...], ...], int]:
    """A fresh Shamir split of the data key, each share wrapped for one group; and the threshold used."""
    needed = threshold or len(key_groups)
    shares = shamir.split(data_key, len(key_groups), needed)
    groups = tuple(tuple(wrap_data_key(share, group, source)) for share, group in zip(shares, key_groups, strict=True))
    return groups, needed


def _seal(
    parsed: formats.Parsed,
    fmt: str,
    source: str,
    data_key: bytes,
    recipients: list[str],
    scope: Scope,
    now: dt.datetime | None,
    version: str = "",
) -> str:
    stanzas = wrap_data_key(data_key, recipients, source)
    lastmodified, mac = _encrypt_tree(parsed, fmt, source, data_key, scope, crypto.Ledger(), now)
    return formats.dump(parsed, fmt, Metadata(tuple(stanzas), lastmodified, mac, scope, version=version))


def _encrypt_tree(
    parsed: formats.Parsed,
    fmt: str,
    source: str,
    data_key: bytes,
    scope: Scope,
    ledger: crypto.Ledger,
    now: dt.datetime | None,
) -> tuple[str, str]:
    """Values and comments encrypted in place; returns (lastmodified, sealed MAC)."""
    render = rendering.ciphertext_renderer(fmt)
    choices = _choices(parsed, fmt, scope)
    mac = tree.encrypt_documents(parsed.documents, data_key, scope, source, render, ledger, choices.value)
    seal_comments(parsed, fmt, data_key, scope, ledger, choices, source)
    lastmodified = now_lastmodified(now)
    return lastmodified, tree.seal_mac(data_key, mac, lastmodified)


def _choices(parsed: formats.Parsed, fmt: str, scope: Scope) -> comment_scope.Choices:
    """What the scope encrypts; with a comment selector, decided by the comments as they are now (plaintext
    before encryption, as stored before decryption), as sops decides."""
    if fmt == "yaml":
        return comment_scope.for_yaml(parsed.documents, scope)
    if fmt == "dotenv":
        return comment_scope.for_dotenv(parsed.documents[0], parsed.layout, scope)
    return comment_scope.Choices(scope)


def seal_comments(
    parsed: formats.Parsed,
    fmt: str,
    data_key: bytes,
    scope: Scope,
    ledger: crypto.Ledger,
    choices: comment_scope.Choices,
    source: str,
) -> None:
    """Comments are encrypted as sops encrypts them (JSON has none); they are not part of the MAC."""
    if fmt == "yaml":
        encrypt_comments(parsed.documents, data_key, scope, ledger, choices.comment)
    elif fmt == "dotenv":
        parsed.layout = encrypt_dotenv_comments(parsed.layout, data_key, scope, ledger, choices.entry)
    if scope.selector == "unencrypted_comment_regex":
        for text in _encrypted_comments(parsed, fmt, source):
            comment_scope.refuse_matching_ciphertext(scope, text, source)


def _encrypted_comments(parsed: formats.Parsed, fmt: str, source: str) -> list[str]:
    if fmt == "dotenv":
        return [text for kind, text in parsed.layout if kind == "comment" and crypto.is_enc(text)]
    if fmt != "yaml":
        return []
    in_lists = [
        str(container[key])
        for container, key, _ in tree.walk(parsed.documents, source)
        if isinstance(container, list) and str(container[key]).endswith(",type:comment]")
    ]
    return encrypted_comment_texts(parsed.documents) + in_lists


def reseal_text(edited: str, opened: Opened, source: str, now: dt.datetime | None = None) -> str:
    """An edited plaintext of an opened file, encrypted again with the same data key and master keys. Values and
    comments unchanged at the same path keep their ciphertext; new or changed ones get a fresh IV."""
    parsed = formats.load(edited, opened.fmt, source)
    if parsed.metadata is not None:
        raise GitopsError(f"{source}: the edited text must not contain a sops block")
    if not parsed.documents:
        raise GitopsError(f"{source}: the edited text is empty")
    parsed.metadata = opened.parsed.metadata
    scope = opened.metadata.scope
    lastmodified, mac = _encrypt_tree(parsed, opened.fmt, source, opened.data_key, scope, opened.ledger, now)
    return formats.dump(parsed, opened.fmt, replace(opened.metadata, lastmodified=lastmodified, mac=mac))


def read_metadata(text: str, fmt: str, source: str) -> Metadata | None:
    """The sops metadata without decrypting anything; None for a file that is not sops-encrypted."""
    parsed = formats.load(text, fmt, source)
    if parsed.metadata is None:
        return None
    return parse_metadata(parsed.metadata, source)


def open_text(text: str, fmt: str, source: str, identities: Sequence[x25519.Identity]) -> Opened:
    """Decrypt in memory and verify the MAC. Any failure raises GitopsError naming `source`."""
    parsed = formats.load(text, fmt, source)
    if parsed.metadata is None:
        raise GitopsError(f"{source}: sops metadata not found (the file is not encrypted)")
    meta = parse_metadata(parsed.metadata, source)
    return _open(parsed, meta, data_key_for(meta, identities, source), fmt, source)


def open_with_data_key(text: str, fmt: str, source: str, data_key: bytes) -> Opened:
    """Like open_text with the data key already known (files whose master keys we cannot use, tests)."""
    parsed = formats.load(text, fmt, source)
    if parsed.metadata is None:
        raise GitopsError(f"{source}: sops metadata not found (the file is not encrypted)")
    return _open(parsed, parse_metadata(parsed.metadata, source), data_key, fmt, source)


def _open(parsed: formats.Parsed, meta: Metadata, data_key: bytes, fmt: str, source: str) -> Opened:
    displaced = inline_after_ciphertext(parsed.documents) if fmt == "yaml" else []
    ledger = crypto.Ledger()
    choices = _choices(parsed, fmt, meta.scope)
    render = rendering.renderer(fmt)
    computed = tree.decrypt_documents(
        parsed.documents, data_key, meta.scope, source, render, ledger, choices.value, raw_strings=fmt == "binary"
    )
    try:
        aad = rfc3339_aad(meta.lastmodified)
    except ValueError:
        raise GitopsError(f"{source}: sops lastmodified is not an RFC3339 time") from None
    stored = tree.open_mac(data_key, meta.mac, aad, source)
    if stored != computed:
        raise GitopsError(f"{source}: MAC mismatch (the file was changed outside sops or is corrupt)")
    if fmt == "yaml":
        decrypt_comments(parsed.documents, data_key, ledger, choices.comment if meta.scope.by_comments else None)
        tighten(displaced)
    elif fmt == "dotenv":
        parsed.layout = decrypt_dotenv_comments(
            parsed.layout, data_key, ledger, choices.entry if meta.scope.by_comments else None
        )
    return Opened(parsed, meta, data_key, fmt, ledger)


def decrypt_text(text: str, fmt: str, source: str, identities: Sequence[x25519.Identity]) -> str:
    """The plaintext file (sops metadata removed), after the MAC has been verified."""
    opened = open_text(text, fmt, source, identities)
    return formats.dump(opened.parsed, fmt, None)


def verify_text(text: str, fmt: str, source: str, identities: Sequence[x25519.Identity]) -> Metadata:
    return open_text(text, fmt, source, identities).metadata


def update_keys_text(
    text: str,
    fmt: str,
    source: str,
    identities: Sequence[x25519.Identity],
    recipients: Sequence[str],
    key_groups: Sequence[Sequence[str]] = (),
    threshold: int = 0,
) -> str:
    """Re-wrap the same data key for `recipients` (or, with several `key_groups`, a fresh Shamir split of it, one
    share per group, as sops updatekeys does); values, MAC and lastmodified stay as they are."""
    opened = open_text(text, fmt, source, identities)
    untouched = formats.load(text, fmt, source)
    if len(key_groups) > 1:
        groups, needed = _wrap_shares(opened.data_key, source, key_groups, threshold)
        meta = replace(opened.metadata, age=(), other_keys=(), groups=groups, threshold=needed)
    else:
        stanzas = tuple(wrap_data_key(opened.data_key, recipients, source))
        meta = replace(opened.metadata.with_keys(stanzas), groups=(), threshold=0)
    return formats.dump(untouched, fmt, meta)


def rotate_text(
    text: str,
    fmt: str,
    source: str,
    identities: Sequence[x25519.Identity],
    recipients: Sequence[str] | None = None,
    now: dt.datetime | None = None,
    key_groups: Sequence[Sequence[str]] = (),
    threshold: int = 0,
) -> str:
    """A new data key, every value re-encrypted, for `recipients` or several `key_groups` (default: the file's
    current recipients, in its own groups)."""
    opened = open_text(text, fmt, source, identities)
    meta = opened.metadata
    if not recipients and not key_groups and len(meta.groups) > 1:
        key_groups = [[stanza.recipient for stanza in group] for group in meta.groups]
        threshold = meta.threshold
    # sops 3.11 keeps the file's `version` on rotate (its own only on encrypt): so do we, in every format
    if len(key_groups) > 1:
        return _seal_groups(opened.parsed, fmt, source, key_groups, threshold, meta.scope, now, meta.version)
    targets = list(recipients) if recipients else list(meta.recipients)
    return _seal(opened.parsed, fmt, source, crypto.new_data_key(), targets, meta.scope, now, meta.version)


def decrypt_values(
    document: dict[str, Any], source: str, identities: Sequence[x25519.Identity]
) -> dict[tuple[str, ...], tuple[bytes, str]]:
    """Every ENC[] value of one parsed document (with its `sops` block), decrypted in memory: key path ->
    (plaintext bytes, sops type). The MAC is not checked, as Flux does not: kustomize rewrites plaintext
    fields the MAC covers (namespace, labels) between the file and the rendered object."""
    if not isinstance(document.get("sops"), dict):
        raise GitopsError(f"{source}: sops metadata not found (the object is not encrypted)")
    meta = parse_metadata(document["sops"], source)
    data_key = data_key_for(meta, identities, source)
    body = {key: value for key, value in document.items() if key != "sops"}
    return {
        path: crypto.decrypt(data_key, container[key], ":".join(path) + ":")
        for container, key, path in tree.walk([body], source)
        if crypto.is_enc(container[key])
    }
