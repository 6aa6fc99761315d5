"""Comparing Secrets without ever showing a value, and redacting objects before any output.

Secret-class values outside Secrets (a ConfigMap's SMTP_PASSWORD, a literal env value, postBuild.substitute;
the key list is the secret gate's) are replaced by a marker before the field diff: the marker carries a keyed
digest, random per process, so a change is still seen, and formatters print only "value changed".

A plain Secret's values are compared by digest in memory. A SOPS-encrypted one (a top-level `sops` block,
values `ENC[AES256_GCM,...]`) is compared by plaintext digest when a decryption identity is available and
by key set otherwise. Digests never leave this process: outputs say only added/removed/changed/unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets as random_bytes
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from gitops.encrypted import is_encrypted_value
from gitops.secret_class import config_leaks

SECRET_FIELDS = ("data", "stringData")
MASK = "***"
ENCRYPTED_MASK = "<encrypted>"
HIDDEN = "<secret-class value hidden>"
_HIDDEN_TAGGED = "<secret-class value hidden #"
CHANGED_HIDDEN = "<secret-class value hidden: value changed ({side})>"
# Random per run: the tags tell equal values from different ones inside this process and mean nothing outside it.
_RUN_KEY = random_bytes.token_bytes(32)
_TAGGED = re.compile(re.escape(_HIDDEN_TAGGED) + r"[0-9a-f]{16}>")

Digests = dict[tuple[str, ...], str]
"""Key path (mapping keys only, as sops forms its AAD) -> digest of the decrypted value."""
Decrypt = Callable[[dict[str, Any], str], "Digests | None"]


class KeyStatus(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    UNKNOWN = "unknown"
    """Encrypted on a side we cannot decrypt: whether the plaintext changed cannot be told."""


class ComparedBy(StrEnum):
    VALUE = "value"
    """Plain values, by digest."""
    PLAINTEXT = "plaintext"
    """Decrypted values, by digest."""
    KEYS = "keys"
    """No decryption identity: the key set only."""


@dataclass(frozen=True)
class SecretKeyChange:
    field: str
    """"data" or "stringData"."""
    key: str
    change: KeyStatus


@dataclass(frozen=True)
class SecretChange:
    encrypted: bool
    """Either side carries a SOPS block."""
    compared_by: ComparedBy
    keys: tuple[SecretKeyChange, ...] = ()
    reencrypted: bool = False
    """The ciphertext changed and no value did (known only when decrypted)."""
    recipients_before: tuple[str, ...] = ()
    recipients_after: tuple[str, ...] = field(default=())

    @property
    def changed(self) -> bool:
        return (
            self.reencrypted
            or self.recipients_before != self.recipients_after
            or any(k.change is not KeyStatus.UNCHANGED for k in self.keys)
        )

    def status_of(self, field_name: str, key: str) -> KeyStatus:
        for entry in self.keys:
            if entry.field == field_name and entry.key == key:
                return entry.change
        return KeyStatus.UNCHANGED


def is_sops(body: Mapping[str, Any]) -> bool:
    return isinstance(body.get("sops"), dict)


def recipients(body: Mapping[str, Any]) -> tuple[str, ...]:
    block = body.get("sops")
    if not isinstance(block, dict):
        return ()
    return tuple(sorted(str(e.get("recipient")) for e in block.get("age") or [] if isinstance(e, dict)))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sops_plaintext_digests(body: dict[str, Any], source: str) -> Digests | None:
    """The adapter to gitops.sops: digests of every decrypted ENC value, or None when we cannot decrypt.

    None when no age identity is configured or none opens this object.
    Values are decrypted one by one with their key path as AAD, as Flux does after the build; the MAC is
    not checked because kustomize rewrites plaintext fields (namespace, labels) that the MAC covers.
    """
    identities = _identities()
    if not identities:
        return None
    from gitops.sops import decrypt_values  # only when a SOPS object changed: keeps the diff's start-up light

    try:
        values = decrypt_values(body, source, identities)
    except Exception:  # any failure (wrong identity, tampered value, API change) degrades to key-set comparison
        return None
    return {path: _digest(kind.encode() + b"\0" + plaintext) for path, (plaintext, kind) in values.items()}


@lru_cache(maxsize=1)
def _identities() -> tuple[Any, ...]:
    from gitops.sops import identities_if_any  # gitops.sops is imported only when a SOPS object is compared

    return tuple(identities_if_any())


def compare_secret(
    before: dict[str, Any], after: dict[str, Any], source: str, decrypt: Decrypt = sops_plaintext_digests
) -> SecretChange:
    """Key-by-key comparison of the data/stringData of two versions of one Secret."""
    encrypted = is_sops(before) or is_sops(after)
    plain_before = decrypt(before, source) if is_sops(before) else None
    plain_after = decrypt(after, source) if is_sops(after) else None
    undecryptable = (is_sops(before) and plain_before is None) or (is_sops(after) and plain_after is None)
    changes: list[SecretKeyChange] = []
    ciphertext_changed = False
    for field_name in SECRET_FIELDS:
        old = _values(before, field_name)
        new = _values(after, field_name)
        for key in sorted({*old, *new}, key=str):
            if key not in new:
                changes.append(SecretKeyChange(field_name, str(key), KeyStatus.REMOVED))
                continue
            if key not in old:
                changes.append(SecretKeyChange(field_name, str(key), KeyStatus.ADDED))
                continue
            if old[key] == new[key]:
                changes.append(SecretKeyChange(field_name, str(key), KeyStatus.UNCHANGED))
                continue
            path = (field_name, str(key))
            d_old = _value_digest(old[key], path, plain_before)
            d_new = _value_digest(new[key], path, plain_after)
            if d_old is None or d_new is None:
                state = KeyStatus.UNKNOWN
            elif d_old == d_new:
                state = KeyStatus.UNCHANGED
                ciphertext_changed = ciphertext_changed or is_encrypted_value(old[key]) or is_encrypted_value(new[key])
            else:
                state = KeyStatus.CHANGED
            changes.append(SecretKeyChange(field_name, str(key), state))
    values_same = all(c.change is KeyStatus.UNCHANGED for c in changes)
    sops_block_changed = is_sops(before) and is_sops(after) and before.get("sops") != after.get("sops")
    return SecretChange(
        encrypted=encrypted,
        compared_by=ComparedBy.KEYS if undecryptable else (ComparedBy.PLAINTEXT if encrypted else ComparedBy.VALUE),
        keys=tuple(changes),
        reencrypted=encrypted and not undecryptable and values_same and (ciphertext_changed or sops_block_changed),
        recipients_before=recipients(before),
        recipients_after=recipients(after),
    )


def _values(body: Mapping[str, Any], field_name: str) -> dict[str, Any]:
    values = body.get(field_name)
    return values if isinstance(values, dict) else {}


def _value_digest(value: Any, path: tuple[str, ...], plaintext: Digests | None) -> str | None:
    if is_encrypted_value(value):
        return None if plaintext is None else plaintext.get(path)
    return _digest(b"str\0" + str(value).encode("utf-8"))


def is_hidden(value: Any) -> bool:
    """A secret-class value replaced by `hide_secret_class` (before or after `shown`)."""
    return isinstance(value, str) and (value == HIDDEN or value.startswith(_HIDDEN_TAGGED))


def hide_secret_class(body: dict[str, Any]) -> dict[str, Any]:
    """A copy with every secret-class value outside a Secret replaced by a tagged marker (equal values, equal
    markers); `body` itself when there is none."""
    leaks = [leak_pointer for leak_pointer, _, _ in config_leaks(body)]
    if not leaks:
        return body
    hidden = copy.deepcopy(body)
    for leak_pointer in leaks:
        *parents, last = [_unescape(token) for token in leak_pointer.split("/")[1:]]
        node: Any = hidden
        for token in parents:
            node = node[int(token)] if isinstance(node, list) else node[token]
        value = json.dumps(node[last], sort_keys=True, default=str).encode("utf-8")
        tag = hmac.new(_RUN_KEY, value, hashlib.sha256).hexdigest()[:16]
        node[last] = f"{_HIDDEN_TAGGED}{tag}>"
    return hidden


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def shown(node: Any) -> Any:
    """What an output may print of a (possibly nested) value: hidden markers lose their tag."""
    if isinstance(node, dict):
        return {k: shown(v) for k, v in node.items()}
    if isinstance(node, list):
        return [shown(v) for v in node]
    return HIDDEN if is_hidden(node) else node


def label_hidden(before: str, after: str) -> tuple[str, str]:
    """Two printed sides of one object with their hidden markers' tags replaced: a value both sides share
    reads as hidden, one that differs as "value changed" (on a side that does not exist, everything is hidden)."""
    tags_before, tags_after = set(_TAGGED.findall(before)), set(_TAGGED.findall(after))
    same = tags_before | tags_after if not (before and after) else tags_before & tags_after

    def label(text: str, side: str) -> str:
        return _TAGGED.sub(lambda m: HIDDEN if m[0] in same else CHANGED_HIDDEN.format(side=side), text)

    return label(before, "before"), label(after, "after")


def without_secret_material(body: dict[str, Any]) -> dict[str, Any]:
    """The object minus what the secret comparison covers (values and the sops block), for the field diff;
    secret-class values elsewhere are hidden behind markers."""
    trimmed = {k: v for k, v in hide_secret_class(body).items() if k != "sops"}
    if body.get("kind") == "Secret":
        for field_name in SECRET_FIELDS:
            trimmed.pop(field_name, None)
    return trimmed


def redact(body: dict[str, Any], secret: SecretChange | None = None, side: str | None = None) -> dict[str, Any]:
    """A copy safe to print: Secret values become *** (marked (before)/(after) where they differ), every
    ENC[...] value becomes <encrypted>, secret-class values elsewhere become tagged markers (print them through
    `shown` or `label_hidden`, never as they are), and the sops block keeps only its recipients and lastmodified."""
    clean = mask_encrypted(hide_secret_class(body))
    if isinstance(body.get("sops"), dict):
        clean["sops"] = {"recipients": list(recipients(body)), "lastmodified": str(body["sops"].get("lastmodified"))}
    if body.get("kind") == "Secret":
        for field_name in SECRET_FIELDS:
            values = clean.get(field_name)
            if not isinstance(values, dict):
                continue
            for key in values:
                status = secret.status_of(field_name, str(key)) if secret else KeyStatus.UNCHANGED
                values[key] = f"{MASK} ({side})" if side and status in (KeyStatus.CHANGED, KeyStatus.UNKNOWN) else MASK
    return clean


def mask_encrypted(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: mask_encrypted(v) for k, v in node.items()}
    if isinstance(node, list):
        return [mask_encrypted(v) for v in node]
    return ENCRYPTED_MASK if is_encrypted_value(node) else node
