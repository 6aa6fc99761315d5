"""The cheap pre-check before the alias count: every place an alias can start still triggers the count."""

from __future__ import annotations

import itertools

import pytest

from gitops.bounded_yaml import refuse_alias_bombs
from gitops.errors import GitopsError

LEVELS = "abcdefghi"


def compact_bomb(separator: str, quote_keys: bool) -> str:
    """Billion laughs written without a space before any alias (`[*a,*a]`, `{"b":*a}`): still valid YAML."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in itertools.pairwise(LEVELS):
        items = separator.join([f"*{previous}"] * 9)
        if quote_keys:
            items = separator.join(f'"k{i}":*{previous}' for i in range(9))
            lines.append(f"{name}: &{name} {{{items}}}")
        else:
            lines.append(f"{name}: &{name} [{items}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("separator", "quote_keys"), [(",", False), (", ", False), (",", True), (",\n  ", False)])
def test_aliases_after_flow_indicators_are_counted(separator: str, quote_keys: bool) -> None:
    with pytest.raises(GitopsError, match="alias bomb"):
        refuse_alias_bombs(compact_bomb(separator, quote_keys), "bomb.yaml")


def test_an_alias_at_a_line_start_is_counted() -> None:
    # An undefined alias is a parse error: raised only if the pre-check let the parser see it.
    with pytest.raises(GitopsError, match=r"line\.yaml:3: not valid YAML: found undefined alias"):
        refuse_alias_bombs("a: &a [1]\nb: [\n*nowhere]\n", "line.yaml")


def test_a_star_inside_a_word_is_not_an_alias() -> None:
    # Not valid YAML at all: if the pre-check took `_*` for an alias, the parse would raise instead.
    refuse_alias_bombs("# KEY_*: rotate\nkey: [unclosed_*\n", "comment.yaml")
