"""YAML and dotenv comments encrypted as sops does: `#ENC[AES256_GCM,...,type:comment]`, AAD = parent path.

sops (yaml.v3) files a comment under the mapping or sequence it sits in, and encrypts it with that container's
key path as AAD when the scope selects that path. ruamel attaches a comment token to whichever node precedes
it, often deeper than its real container, so encryption picks the container by indentation: the deepest
candidate container whose column is at or left of the comment's. Decryption tries every candidate and lets
AES-GCM authentication tell which one is right; a comment that does not authenticate is left as it is (as sops
does with comments written by old versions).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from gitops.sops import crypto
from gitops.sops.rules import Scope

_ENC_COMMENT = re.compile(r"#(ENC\[AES256_GCM,[^\]]*type:comment\])")
COMMENT_KIND = "comment"


@dataclass(frozen=True)
class Container:
    path: tuple[str, ...]
    column: int
    node: Any = field(compare=False, repr=False)


def _aad(path: tuple[str, ...]) -> str:
    return ":".join(path) + ":"


def _tokens(value: Any) -> Iterator[CommentToken]:
    if isinstance(value, CommentToken):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _tokens(item)


def _column(node: Any) -> int:
    try:
        return int(node.lc.col or 0)
    except (AttributeError, TypeError):
        return 0


def _is_container(node: Any) -> bool:
    return isinstance(node, CommentedMap | CommentedSeq)


Slot = tuple[CommentToken, list[Container], tuple[str, ...] | None]
_EOL_SLOT = 2  # ruamel's position for the comment at the end of an entry's line


def _slots(node: Any, chain: list[Container]) -> Iterator[Slot]:
    """Every comment token on `node`, the containers it may belong to (outermost first) and, for a comment at
    the end of an entry's line, `node`'s own path (where sops files such an inline comment)."""
    attributes = node.ca
    own = chain[-1].path
    for token in _tokens(attributes.comment):
        yield token, chain, None
    for key, slot in attributes.items.items():
        child = node[key] if isinstance(node, CommentedSeq) or key in node else None
        candidates = chain
        if _is_container(child):
            child_path = (*own, key) if isinstance(node, CommentedMap) else own
            candidates = [*chain, Container(child_path, _column(child), child)]
        for position, entry in enumerate(slot or []):
            for token in _tokens(entry):
                yield token, candidates, own if position == _EOL_SLOT else None
    for token in _tokens(attributes.end):
        yield token, chain, None


def _visit(node: Any, chain: list[Container]) -> Iterator[Slot]:
    if not _is_container(node):
        return
    yield from _slots(node, chain)
    items = node.items() if isinstance(node, CommentedMap) else ((None, v) for v in node)
    for key, child in items:
        if _is_container(child):
            path = (*chain[-1].path, key) if key is not None else chain[-1].path
            yield from _visit(child, [*chain, Container(path, _column(child), child)])


def comment_slots(documents: list[Any]) -> Iterator[Slot]:
    """Each token once: ruamel may hang one token on a parent's entry and on the child mapping."""
    seen: set[int] = set()
    for document in documents:
        if _is_container(document):
            for slot in _visit(document, [Container((), _column(document), document)]):
                if id(slot[0]) not in seen:
                    seen.add(id(slot[0]))
                    yield slot


def owner(chain: list[Container], column: int) -> Container:
    """The container a full-line comment at `column` sits in: the deepest candidate at or left of it."""
    for container in reversed(chain):
        if container.column <= column:
            return container
    return chain[0]


def encrypt_comment_text(data_key: bytes, text: str, path: tuple[str, ...], ledger: crypto.Ledger) -> str:
    """`text` is what follows the `#`; returns the ENC string to put after it."""
    return ledger.encrypt(data_key, text.encode("utf-8"), _aad(path), COMMENT_KIND) or text


# Whether a comment line gets encrypted: (its token, the line's index in the token, its container's path).
CommentChoice = Callable[[CommentToken, int, tuple[str, ...]], bool]


def encrypt_comments(
    documents: list[Any],
    data_key: bytes,
    scope: Scope,
    ledger: crypto.Ledger,
    choose: CommentChoice | None = None,
) -> None:
    """Encrypt in place every YAML comment line whose container the scope selects, or that `choose` picks
    (comments are not in the MAC)."""
    for token, chain, own in comment_slots(documents):
        lines = token.value.split("\n")
        out = []
        for index, line in enumerate(lines):
            stripped = line.lstrip(" \t")
            if not stripped.startswith("#") or stripped.startswith("#ENC[AES256_GCM,"):
                out.append(line)
                continue
            column = token.column if index == 0 else len(line) - len(stripped)
            # An inline comment (first line, after a value) belongs to the innermost container of its token.
            inline = index == 0 and own is not None and token.value.lstrip(" ")[:1] == "#"
            path = own if inline and own is not None else owner(chain, column).path
            chosen = choose(token, index, path) if choose is not None else scope.should_encrypt(path)
            if not chosen or not stripped[1:]:
                out.append(line)
                continue
            out.append(
                line[: len(line) - len(stripped)] + "#" + encrypt_comment_text(data_key, stripped[1:], path, ledger)
            )
        token.value = "\n".join(out)


def encrypted_comment_texts(documents: list[Any]) -> list[str]:
    """The ENC[...] text of every encrypted YAML comment line."""
    return [match[1] for token, _, _ in comment_slots(documents) for match in _ENC_COMMENT.finditer(token.value)]


def decrypt_comments(
    documents: list[Any], data_key: bytes, ledger: crypto.Ledger, choose: CommentChoice | None = None
) -> None:
    """Replace every decryptable encrypted comment by its plaintext; others are left as they are (as sops does).
    With `choose` (a comment selector), a comment line it does not pick stays as it is, encrypted or not."""
    for token, chain, _ in comment_slots(documents):
        if "#ENC[" not in token.value:
            continue
        paths = [container.path for container in reversed(chain)]

        def plaintext(match: re.Match[str], paths: list[tuple[str, ...]] = paths) -> str:
            return "#" + open_comment(match[1], data_key, paths, ledger)

        lines = token.value.split("\n")
        token.value = "\n".join(
            _ENC_COMMENT.sub(plaintext, line) if choose is None or choose(token, index, ()) else line
            for index, line in enumerate(lines)
        )


def open_comment(value: str, data_key: bytes, paths: list[tuple[str, ...]], ledger: crypto.Ledger) -> str:
    """The plaintext of an encrypted comment tried against each candidate path (and every ancestor of them)."""
    tried: set[tuple[str, ...]] = set()
    for path in paths:
        for depth in range(len(path), -1, -1):
            candidate = path[:depth]
            if candidate in tried:
                continue
            tried.add(candidate)
            try:
                plaintext, _ = ledger.decrypt(data_key, value, _aad(candidate))
            except crypto.CipherError:
                continue
            return plaintext.decode("utf-8", errors="replace")
    return value


def encrypt_dotenv_comments(
    layout: list[tuple[str, str]],
    data_key: bytes,
    scope: Scope,
    ledger: crypto.Ledger,
    choose: Callable[[int], bool] | None = None,
) -> list[tuple[str, str]]:
    """dotenv comments are entries of the one top-level branch: AAD ":" (the empty path). `choose` picks by the
    entry's index in the layout (comment selectors); otherwise the scope decides for the top level."""
    chosen = choose or (lambda index: scope.should_encrypt(()))
    return [
        (kind, encrypt_comment_text(data_key, text, (), ledger) if kind == "comment" and text and chosen(i) else text)
        for i, (kind, text) in enumerate(layout)
    ]


def decrypt_dotenv_comments(
    layout: list[tuple[str, str]],
    data_key: bytes,
    ledger: crypto.Ledger,
    choose: Callable[[int], bool] | None = None,
) -> list[tuple[str, str]]:
    return [
        (
            kind,
            open_comment(text, data_key, [()], ledger)
            if kind == "comment" and crypto.is_enc(text) and (choose is None or choose(index))
            else text,
        )
        for index, (kind, text) in enumerate(layout)
    ]


def inline_after_ciphertext(documents: list[Any]) -> list[CommentToken]:
    """Inline comments that follow an ENC value: their column was set by the ciphertext's length."""
    found: list[CommentToken] = []
    for node, key, slot in _item_slots(documents):
        if crypto.is_enc(node[key]):
            found += [token for token in _tokens(slot) if token.value[:1] == "#"]
    return found


def _item_slots(documents: list[Any]) -> Iterator[tuple[Any, Any, Any]]:
    stack = [doc for doc in documents if _is_container(doc)]
    while stack:
        node = stack.pop()
        for key, slot in node.ca.items.items():
            if isinstance(node, CommentedSeq) or key in node:
                yield node, key, slot
        stack += [
            child for child in (node.values() if isinstance(node, CommentedMap) else node) if _is_container(child)
        ]


def tighten(tokens: list[CommentToken]) -> None:
    """Put each inline comment two spaces after its (now plaintext) value instead of at the ciphertext's end."""
    for token in tokens:
        token.start_mark.column = 0
        token.value = " " + token.value
