"""sops' comment selectors (`unencrypted_comment_regex`, `encrypted_comment_regex`): what a file's comments put
in or out of encryption.

sops walks every mapping and sequence in file order keeping, per nesting level, the comments met since that
level's last value, and asks Scope.should_encrypt_after for each value and each comment. The same walk runs
here over the ruamel tree. yaml.v3 (sops' parser) files a comment at the end of an entry's line as that entry's
line comment, before the entry; any other comment sits, in line order, in the container comments.owner picks
by its column. A value's choice is keyed by (container, key); a comment line's by (token, line index).
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.tokens import CommentToken

from gitops.errors import GitopsError
from gitops.sops import crypto
from gitops.sops.comments import comment_slots, owner
from gitops.sops.rules import Scope
from gitops.sops.tree import Comment


@dataclass
class Choices:
    """Which values and comment lines a comment selector encrypts; other selectors go by key path."""

    scope: Scope
    values: dict[tuple[int, Any], bool] = field(default_factory=dict)
    comment_lines: dict[tuple[int, int], bool] = field(default_factory=dict)
    entries: dict[int, bool] = field(default_factory=dict)
    """dotenv: by index in the layout."""

    def value(self, container: Any, key: Any, path: tuple[str, ...]) -> bool:
        if not self.values:  # a path selector, or no comments at all: called once per value, so kept short
            return self.scope.should_encrypt(path)
        return self.values.get((id(container), key), self.scope.should_encrypt(path))

    def comment(self, token: CommentToken, index: int, path: tuple[str, ...]) -> bool:
        if not self.scope.by_comments:
            return self.scope.should_encrypt(path)
        return self.comment_lines.get((id(token), index), self.scope.should_encrypt(path))

    def entry(self, index: int) -> bool:
        return self.entries.get(index, self.scope.should_encrypt(()))


def for_yaml(documents: Sequence[Any], scope: Scope) -> Choices:
    """The choices for YAML documents as loaded (plaintext comments to encrypt, or a file's stored comments)."""
    choices = Choices(scope)
    if not scope.by_comments:
        return choices
    events: dict[int, list[tuple[int, int, Any]]] = {}
    _place_comments(documents, events)
    for document in documents:
        if isinstance(document, MutableMapping | MutableSequence):
            _walk(document, [], events, choices)
    return choices


def for_dotenv(values: dict[str, Any], layout: list[tuple[str, str]], scope: Scope) -> Choices:
    """dotenv is one level: comments and KEY=value entries in file order (`values` holds the entries)."""
    choices = Choices(scope)
    if not scope.by_comments:
        return choices
    active: list[str] = []
    for index, (kind, text) in enumerate(layout):
        if kind == "comment":
            active.append(text)
            choices.entries[index] = scope.should_encrypt_after([active], is_comment=True)
        else:
            choices.values[(id(values), text)] = scope.should_encrypt_after([active], is_comment=False)
            active = []
    return choices


def refuse_matching_ciphertext(scope: Scope, text: str, source: str) -> None:
    """sops refuses to write an encrypted comment its unencrypted_comment_regex matches: reading the file back
    would take it for plaintext and the MAC would not verify."""
    if scope.selector == "unencrypted_comment_regex" and re.search(scope.pattern, text):
        raise GitopsError(
            f"{source}: an encrypted comment matches unencrypted_comment_regex; the regex must not match ENC[...] text"
        )


def _item_lines(node: Any) -> list[int | None]:
    lines: list[int | None] = []
    if isinstance(node, CommentedMap):
        lines = [_line(node.lc.data.get(key)) for key in node]
    elif isinstance(node, CommentedSeq):
        lines = [_line(node.lc.data.get(index)) for index in range(len(node))]
    return lines


def _line(position: Any) -> int | None:
    return position[0] if isinstance(position, list | tuple) and position else None


def _place_comments(documents: Sequence[Any], events: dict[int, list[tuple[int, int, Any]]]) -> None:
    """events[id(container)] gets (line, 0, (token, index, text)) for each comment line it holds."""
    deepest: dict[int, Any] = {}  # line -> the innermost container with an entry on that line
    stack = [doc for doc in documents if isinstance(doc, CommentedMap | CommentedSeq)]
    while stack:
        node = stack.pop(0)
        for number in _item_lines(node):
            if number is not None:
                deepest[number] = node
        children = node.values() if isinstance(node, CommentedMap) else node
        stack += [child for child in children if isinstance(child, CommentedMap | CommentedSeq)]
    for token, chain, _own in comment_slots(list(documents)):
        texts = token.value.split("\n")
        # start_mark is the line of the first comment; a token may begin with the rest of an entry's line
        first = next((i for i, text in enumerate(texts) if text.lstrip(" \t").startswith("#")), None)
        if first is None:
            continue
        for index, text in enumerate(texts):
            stripped = text.lstrip(" \t")
            if not stripped.startswith("#"):
                continue
            number = token.start_mark.line + index - first
            inline = index == 0 and number in deepest  # no full-line comment shares a line with an entry
            if inline:
                container = deepest[number]
            else:
                column = token.column if index == 0 else len(text) - len(stripped)
                container = owner(chain, column).node
            events.setdefault(id(container), []).append((number, 0, (token, index, stripped[1:])))


def _walk(node: Any, outer: list[list[str]], events: dict[int, list[tuple[int, int, Any]]], choices: Choices) -> None:
    """sops' walkBranch / walkSlice: comments join this level's list, a value is decided (or walked into) with
    every level's list, then this level's list starts again."""
    keys = list(node.keys()) if isinstance(node, MutableMapping) else list(range(len(node)))
    comments = events.get(id(node), [])
    placed: list[tuple[int, int, Any]] = [(0, 1, key) for key in keys]  # no comment here: the container's order
    if comments:
        lines = _item_lines(node)
        entries = [(line if line is not None else -1, 1, key) for line, key in zip(lines, keys, strict=True)]
        placed = sorted([*comments, *entries], key=lambda event: (event[0], event[1]))
    active: list[str] = []
    for _line_number, kind, what in placed:
        if kind == 0:
            token, index, text = what
            active.append(text)
            choices.comment_lines[(id(token), index)] = choices.scope.should_encrypt_after(
                [*outer, active], is_comment=True
            )
            continue
        value = node[what]
        if _is_list_comment(node, value):  # a comment sops wrote as a list item is a comment of this level
            active.append(str(value))
            choices.values[(id(node), what)] = choices.scope.should_encrypt_after([*outer, active], is_comment=True)
            continue
        if isinstance(value, MutableMapping | MutableSequence):
            _walk(value, [*outer, active], events, choices)
        else:
            choices.values[(id(node), what)] = choices.scope.should_encrypt_after([*outer, active], is_comment=False)
        active = []


def _is_list_comment(node: Any, value: Any) -> bool:
    if not isinstance(node, MutableSequence):
        return False
    return isinstance(value, Comment) or (crypto.is_enc(value) and str(value).endswith(",type:comment]"))
