"""The variable substitution kustomize-controller runs on postBuild (fluxcd/pkg/envsubst, a drone/envsubst fork).

Behaviour follows that implementation rather than bash, quirks included, because the output must be what
Flux applies:
- `${var}` and the operators `${#var}`, `${var^}`, `${var^^}`, `${var,}`, `${var,,}`, `${var:pos}`,
  `${var:pos:len}`, `${var#pat}`, `${var##pat}`, `${var%pat}`, `${var%%pat}`, `${var/a/b}`, `${var//a/b}`,
  `${var/#a/b}`, `${var/%a/b}`, `${var=x}`, `${var:=x}`, `${var:-x}`; every default operator (also `:?`
  and `:+`) means "x when the value is empty" - unset and empty are the same outside strict mode.
- `${var-x}` is not an operator there: it is a "missing closing brace" error.
- `$$` is an escape for `$` anywhere in text (`$${var}` gives the literal `${var}`, `a$$b` gives `a$b`); in
  pattern/replacement arguments `\\/` and `\\\\` escape too. `$var` without braces is plain text.
- a default may itself be a `${...}` expression; lengths and substrings count UTF-8 bytes, as Go does.
- patterns are Go `path.Match` globs (`*` and `?` never match `/`); suffix trims reverse both the value and
  the pattern before matching, exactly like the original.
Unset variables become "" unless `strict` (Flux's StrictPostBuildSubstitutions), where reading one without a
default operator is an error.

The text is parsed once and every substituted value is inserted verbatim (never re-expanded), so the work
is linear in the text plus the values; nesting of `${` inside arguments is capped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from gitops.errors import GitopsError
from gitops.flux.envsubst_operations import OPERATIONS, default_value

VARIABLE_NAME_RULE = "^[_[:alpha:]][_[:alpha:][:digit:]]*$"
_VARIABLE_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")
MAX_NESTING = 64

_IDENT, _LBRACK, _RBRACK, _ESCAPE = 1, 2, 4, 8
_DOLLAR, _BACKSLASH = 1, 2
_TOP_LEVEL = _IDENT | _LBRACK | _ESCAPE
_EOF, _TEXT, _OPEN, _CLOSE, _ILLEGAL = range(5)
_DEFAULT_OPERATORS = frozenset({"-", "+", "=", "?", ":-", ":+", ":=", ":?"})

Accept = Callable[[str, int], bool]


class SubstitutionError(GitopsError):
    """The text cannot be substituted; the message is Flux's (e.g. "bad substitution")."""


def check_variable_names(names: list[str] | tuple[str, ...] | set[str] | Mapping[str, str]) -> None:
    """Flux refuses the whole substitution when any variable name is not a shell identifier."""
    for name in names:
        if not _VARIABLE_NAME.fullmatch(name):
            raise SubstitutionError(f"'{name}' var name is invalid, must match '{VARIABLE_NAME_RULE}'")


@dataclass
class _Func:
    param: str
    name: str = ""
    args: list[_Node] = field(default_factory=list)


_Node = str | _Func


class _Scanner:
    """Reads the text rune by rune. An escape (`$$`, and `\\/`, `\\\\` where enabled) drops its first
    character from the token and takes the second one literally; dropped positions are remembered instead of
    cutting the buffer, which would make long texts quadratic."""

    jump = True
    """Top-level text jumps between `$` characters (False: the character loop, for tests proving equality)."""

    def __init__(self, text: str) -> None:
        self.buf = text
        self.pos = 0
        self.start = 0
        self.dropped: list[int] = []
        self.width = 0
        self.mode = 0
        self.escapes = _DOLLAR
        self.accept: Accept = _any

    def read(self) -> str:
        if self.pos >= len(self.buf):
            self.width = 0
            return ""
        self.width = 1
        self.pos += 1
        return self.buf[self.pos - 1]

    def unread(self) -> None:
        self.pos -= self.width

    def peek(self) -> str:
        char = self.read()
        self.unread()
        return char

    def skip(self) -> None:
        self.dropped.append(self.pos - 1)
        self.pos += 1

    def token(self) -> str:
        if not self.dropped:
            return self.buf[self.start : self.pos]
        pieces, begin = [], self.start
        for index in self.dropped:
            pieces.append(self.buf[begin:index])
            begin = index + 1
        pieces.append(self.buf[begin : self.pos])
        return "".join(pieces)

    def scan(self) -> int:
        self.start = self.pos
        self.dropped = []
        char = self.read()
        if char == "":
            return _EOF
        if self._open(char):
            return _OPEN
        if self.mode & _RBRACK and char == "}":
            return _CLOSE
        if self._text(char):
            return _TEXT
        return _ILLEGAL

    def _open(self, char: str) -> bool:
        if not self.mode & _LBRACK or char != "$":
            return False
        if self.read() == "{":
            return True
        self.unread()
        return False

    def _escaped(self, char: str) -> bool:
        if not self.mode & _ESCAPE:
            return False
        if char == "$" and self.escapes & _DOLLAR and self.peek() == "$":
            return True
        return char == "\\" and bool(self.escapes & _BACKSLASH) and self.peek() in ("/", "\\")

    def _text(self, char: str) -> bool:
        if not self.mode & _IDENT:
            return False
        if self._escaped(char):
            self.skip()
        elif not self.accept(char, self.pos - self.start):
            return False
        if self.jump and self.accept is _any and self.mode == _TOP_LEVEL and self.escapes == _DOLLAR:
            return self._plain_text()
        while True:
            char = self.read()
            if char == "":
                self.unread()
                return True
            if self._open(char):
                self.unread()
                self.unread()
                return True
            if self._escaped(char):
                self.skip()
                continue
            if not self.accept(char, self.pos - self.start):
                self.unread()
                return True

    def _plain_text(self) -> bool:
        """The rest of a top-level text token, jumping from one `$` to the next: only `${` ends it and only
        `$$` escapes there, so the characters in between need no look (the character loop, same result)."""
        buf = self.buf
        while True:
            index = buf.find("$", self.pos)
            if index < 0:
                self.pos = len(buf)
                return True
            following = buf[index + 1 : index + 2]
            if following == "{":
                self.pos = index
                return True
            if following == "$":
                self.dropped.append(index)
                self.pos = index + 2
            else:
                self.pos = index + 1


def _any(char: str, index: int) -> bool:
    return True


def _identifier(char: str, index: int) -> bool:
    return char.isalpha() or char.isdecimal() or char == "_"


def _not_closing(char: str, index: int) -> bool:
    return char != "}"


def _not_colon_or_closing(char: str, index: int) -> bool:
    return char not in (":", "}")


def _not_slash(char: str, index: int) -> bool:
    return char != "/"


def _operator(first: str, second: str = "") -> Accept:
    """Accepts `first` at offset 1 and any of `second` at offset 2 (the operator after the name)."""
    return lambda char, index: (index == 1 and char in first) or (index == 2 and char in second)


def _repeated(chars: str) -> Accept:
    return lambda char, index: char in chars and index < 3


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = _Scanner(text)
        self.depth = 0

    def parse(self) -> list[_Node]:
        nodes: list[_Node] = []
        while True:
            self.s.accept = _any
            self.s.mode = _TOP_LEVEL
            self.s.escapes = _DOLLAR
            kind = self.s.scan()
            if kind == _EOF:
                return nodes
            if kind == _TEXT:
                nodes.append(self.s.token())
            elif kind == _OPEN:
                nodes.append(self._function())
            else:
                raise SubstitutionError("bad substitution")

    def _scan_as(self, accept: Accept, mode: int) -> int:
        self.s.accept = accept
        self.s.mode = mode
        return self.s.scan()

    def _function(self) -> _Func:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise SubstitutionError(f"more than {MAX_NESTING} nested ${{...}} expressions")
        try:
            return self._function_body()
        finally:
            self.depth -= 1

    def _function_body(self) -> _Func:
        self.s.escapes = _DOLLAR | _BACKSLASH
        if self.s.peek() == "#":
            return self._length()
        if self._scan_as(_identifier, _IDENT) != _TEXT:
            raise SubstitutionError("unable to parse variable name")
        name = self.s.token()
        following = self.s.peek()
        if following == ":":
            return self._default_or_substring(name)
        if following == "=":
            return self._default(name)
        if following in (",", "^"):
            return self._closed(self._operator_node(name, _repeated(",^")))
        if following == "/":
            return self._replace(name)
        if following == "#":
            return self._closed(self._with_argument(self._operator_node(name, _repeated("#"))))
        if following == "%":
            return self._closed(self._with_argument(self._operator_node(name, _repeated("%"))))
        if self._scan_as(_identifier, _RBRACK) != _CLOSE:
            raise SubstitutionError("missing closing brace")
        return _Func(name)

    def _operator_node(self, param: str, accept: Accept, error: str = "bad substitution") -> _Func:
        if self._scan_as(accept, _IDENT) != _TEXT:
            raise SubstitutionError(error)
        return _Func(param, self.s.token())

    def _argument(self, accept: Accept, mode: int) -> _Node:
        kind = self._scan_as(accept, mode | _LBRACK)
        if kind == _OPEN:
            return self._function()
        if kind in (_TEXT, _CLOSE):
            return self.s.token()
        raise SubstitutionError("unable to parse substitution within function")

    def _with_argument(self, node: _Func, accept: Accept = _not_closing, mode: int = _IDENT) -> _Func:
        node.args.append(self._argument(accept, mode))
        return node

    def _closed(self, node: _Func) -> _Func:
        if self._scan_as(_any, _RBRACK) != _CLOSE:
            raise SubstitutionError("bad substitution")
        return node

    def _length(self) -> _Func:
        node = self._operator_node("", lambda char, index: char == "#" and index == 1)
        if self._scan_as(_identifier, _IDENT) != _TEXT:
            raise SubstitutionError("bad substitution")
        node.param = self.s.token()
        return self._closed(node)

    def _default_or_substring(self, name: str) -> _Func:
        self.s.read()
        following = self.s.peek()
        self.s.unread()
        if following in ("=", "-", "?", "+"):
            return self._default(name)
        node = self._with_argument(self._operator_node(name, _operator(":")), _not_colon_or_closing)
        kind = self._scan_as(lambda char, index: char == ":", _IDENT | _RBRACK)
        if kind == _CLOSE:
            return node
        if kind != _TEXT:
            raise SubstitutionError("bad substitution")
        return self._closed(self._with_argument(node))

    def _default(self, name: str) -> _Func:
        accept = _operator("=") if self.s.peek() == "=" else _operator(":", "=-?+")
        node = self._operator_node(name, accept, "unable to parse default function")
        while self.s.peek() != "}":
            self._with_argument(node)
        return self._closed(node)

    def _replace(self, name: str) -> _Func:
        node = self._operator_node(name, _operator("/", "/#%"))
        self._with_argument(node, _not_slash, _IDENT | _ESCAPE)
        if self._scan_as(lambda char, index: char == "/", _IDENT) != _TEXT:
            raise SubstitutionError("bad substitution")
        if self.s.peek() != "}":
            self._with_argument(node, _not_closing, _IDENT | _ESCAPE)
        return self._closed(node)


def substitute(text: str, variables: Mapping[str, str], *, strict: bool = False) -> str:
    """`text` with every `${...}` expression evaluated against `variables` (see the module docstring)."""
    nodes = _Parser(text).parse()
    out: list[str] = []
    for node in nodes:
        out.append(node if isinstance(node, str) else _evaluate(node, variables, strict))
    return "".join(out)


def _evaluate(node: _Func, variables: Mapping[str, str], strict: bool) -> str:
    args = [arg if isinstance(arg, str) else _evaluate(arg, variables, strict) for arg in node.args]
    if strict and node.param not in variables and node.name not in _DEFAULT_OPERATORS:
        raise SubstitutionError(f'variable not set (strict mode): "{node.param}"')
    return OPERATIONS.get(node.name, default_value)(variables.get(node.param, ""), args)
