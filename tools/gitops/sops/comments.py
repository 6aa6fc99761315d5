"""Decrypting sops' `#ENC[...,type:comment]` YAML comments.

sops encrypts a comment with its parent mapping's path as AAD. ruamel attaches a comment to whichever node
precedes it, which may be deeper than its real parent, so each candidate path from the attaching node up to
the root is tried; AES-GCM authentication tells which one is right. Comments we write stay plaintext (the
format allows it), so this only matters for files written by sops itself.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from gitops.sops import crypto

_ENC_COMMENT = re.compile(r"#(ENC\[AES256_GCM,[^\]]*type:comment\])")


def _tokens(value: Any) -> Iterator[CommentToken]:
    if isinstance(value, CommentToken):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _tokens(item)


def _comment_slots(node: Any) -> Iterator[CommentToken]:
    attributes = node.ca
    yield from _tokens(attributes.comment)
    yield from _tokens(list(attributes.items.values()))
    yield from _tokens(attributes.end)


def decrypt_comments(documents: list[Any], data_key: bytes) -> None:
    """Replace every decryptable encrypted comment by its plaintext; others are left as they are (as sops does)."""
    for document in documents:
        _visit(document, data_key, ())


def _visit(node: Any, data_key: bytes, path: tuple[str, ...]) -> None:
    if not isinstance(node, CommentedMap | CommentedSeq):
        return
    for token in _comment_slots(node):
        if "#ENC[" in token.value:
            token.value = _ENC_COMMENT.sub(lambda m: "#" + _open(m[1], data_key, path), token.value)
    items = node.items() if isinstance(node, CommentedMap) else ((None, v) for v in node)
    for key, child in items:
        _visit(child, data_key, (*path, key) if key is not None else path)


def _open(value: str, data_key: bytes, path: tuple[str, ...]) -> str:
    for depth in range(len(path), -1, -1):
        try:
            plaintext, _ = crypto.decrypt(data_key, value, ":".join(path[:depth]) + ":")
        except crypto.CipherError:
            continue
        return plaintext.decode("utf-8", errors="replace")
    return value
