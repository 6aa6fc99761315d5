"""The data key of a file whose sops block has several `key_groups`: one Shamir share per group."""

from __future__ import annotations

from collections.abc import Sequence

from pyrage import x25519

from gitops.errors import GitopsError
from gitops.sops import shamir
from gitops.sops.crypto import DATA_KEY_SIZE
from gitops.sops.keys import unwrap_data_key
from gitops.sops.metadata import Metadata


def data_key_for(meta: Metadata, identities: Sequence[x25519.Identity], source: str) -> bytes:
    """The file's data key: from its age stanzas, or rebuilt from the shares of enough key groups."""
    if not meta.groups:
        return unwrap_data_key(meta.age, identities, source)
    shares = []
    for group in meta.groups:
        try:
            shares.append(unwrap_data_key(group, identities, source, size=DATA_KEY_SIZE + shamir.SHARE_OVERHEAD))
        except GitopsError:
            continue
    threshold = meta.threshold or len(meta.groups)
    if len(shares) < threshold:
        raise GitopsError(
            f"{source}: the available age identities open {len(shares)} of {len(meta.groups)} key groups; "
            f"shamir_threshold needs {threshold}"
        )
    try:
        return shamir.combine(shares)
    except shamir.ShamirError as exc:
        raise GitopsError(f"{source}: cannot rebuild the data key from the key groups: {exc}") from None
