"""What a SOPS-encrypted value looks like inside a manifest: the one test every reader uses.

Kept apart from gitops.sops (whose package pulls in the age and YAML machinery) so that the diff and the
checks can tell ciphertext from plaintext without paying for decryption they may never do.
"""

from __future__ import annotations

ENC_PREFIX = "ENC[AES256_GCM,"
"""How sops (aes/cipher.go) starts every encrypted value: ENC[AES256_GCM,data:...,iv:...,tag:...,type:...]."""


def is_encrypted_value(value: object) -> bool:
    """Whether a tree value is a sops ciphertext (judged by its form alone; nothing is decoded)."""
    return isinstance(value, str) and value.startswith(ENC_PREFIX)
