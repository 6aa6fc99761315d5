"""AES-256-GCM `ENC[...]` values as sops writes them (aes/cipher.go): 32-byte IV, AAD = key path."""

from __future__ import annotations

import base64
import binascii
import functools
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

DATA_KEY_SIZE = 32
IV_SIZE = 32
TAG_SIZE = 16
_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


class CipherError(Exception):
    """A value that is not an ENC string or does not authenticate. Messages carry no secret material."""


class NotEncrypted(CipherError):
    """The value is not an ENC[AES256_GCM,...] string at all."""


@dataclass(frozen=True)
class EncValue:
    data: bytes
    iv: bytes
    tag: bytes
    kind: str


@functools.lru_cache(maxsize=4)
def _cipher(key: bytes) -> AESGCM:
    """Setting up AES-GCM costs twice a short value's decryption; a file has one data key for all its values."""
    return AESGCM(key)


def new_data_key() -> bytes:
    return os.urandom(DATA_KEY_SIZE)


def is_enc(value: object) -> bool:
    return isinstance(value, str) and _ENC.match(value) is not None


def parse_enc(value: object) -> EncValue:
    m = _ENC.match(value) if isinstance(value, str) else None
    if not m:
        raise NotEncrypted("value does not match sops' ENC[AES256_GCM,...] format")
    try:
        data, iv, tag = (binascii.a2b_base64(m[i], strict_mode=True) for i in (1, 2, 3))
    except binascii.Error:
        raise CipherError("ENC value holds invalid base64") from None
    if len(tag) != TAG_SIZE or not iv:
        raise CipherError("ENC value has a malformed iv or tag")
    return EncValue(data, iv, tag, m[4])


def encrypt(key: bytes, plaintext: bytes, aad: str, kind: str) -> str:
    """One ENC string. An empty plaintext stays "" exactly as sops leaves empty values."""
    if not plaintext:
        return ""
    iv = os.urandom(IV_SIZE)
    sealed = _cipher(key).encrypt(iv, plaintext, aad.encode("utf-8"))
    ct, tag = sealed[:-TAG_SIZE], sealed[-TAG_SIZE:]
    b64 = base64.b64encode
    return f"ENC[AES256_GCM,data:{b64(ct).decode()},iv:{b64(iv).decode()},tag:{b64(tag).decode()},type:{kind}]"


def decrypt(key: bytes, value: str, aad: str) -> tuple[bytes, str]:
    """(plaintext bytes, sops type tag). Raises CipherError when the value or its AAD was tampered with."""
    enc = parse_enc(value)
    try:
        plaintext = _cipher(key).decrypt(enc.iv, enc.data + enc.tag, aad.encode("utf-8"))
    except InvalidTag:
        raise CipherError("authentication failed (wrong data key, tampered value or value moved)") from None
    return plaintext, enc.kind


class Ledger:
    """Ciphertexts met while decrypting, keyed by (AAD, type, plaintext). Re-encrypting an unchanged value at the
    same key path reuses its ciphertext (so an edit of one value changes one line); anything new or changed gets
    a fresh IV. Each ciphertext is handed out once, so equal values in one list do not end up identical."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str, bytes], list[str]] = {}

    def record(self, aad: str, kind: str, plaintext: bytes, ciphertext: str) -> None:
        self._seen.setdefault((aad, kind, plaintext), []).append(ciphertext)

    def encrypt(self, key: bytes, plaintext: bytes, aad: str, kind: str) -> str:
        previous = self._seen.get((aad, kind, plaintext))
        if previous:
            return previous.pop(0)
        return encrypt(key, plaintext, aad, kind)

    def decrypt(self, key: bytes, value: str, aad: str) -> tuple[bytes, str]:
        plaintext, kind = decrypt(key, value, aad)
        self.record(aad, kind, plaintext, value)
        return plaintext, kind
