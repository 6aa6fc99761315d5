"""Flux's postBuild substitution. Expected values: the fluxcd/pkg envsubst README and its behaviour table
(eval_test.go), the kustomize-controller docs on post-build variable substitution, and Go's path.Match."""

from __future__ import annotations

import pytest

from gitops.flux.envsubst import MAX_NESTING, SubstitutionError, check_variable_names, substitute

CASES = [
    ({}, "abcdEFGH28ij", "abcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01}", "abcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${#var01}", "12"),
    ({"var01": "é"}, "${#var01}", "2"),  # Go counts bytes
    ({"var01": "abcdEFGH28ij"}, "${var01^}", "AbcdEFGH28ij"),
    ({"var01": "abcdEFGH28ij"}, "${var01^^}", "ABCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,}", "aBCDEFGH28IJ"),
    ({"var01": "ABCDEFGH28IJ"}, "${var01,,}", "abcdefgh28ij"),
    ({"p": "/home/bozo/ideas/thoughts.for.today"}, "${p:11}", "ideas/thoughts.for.today"),
    ({"p": "/home/bozo/ideas/thoughts.for.today"}, "${p:11:5}", "ideas"),
    ({"p": "abcdef"}, "${p:-2}", "abcdef"),  # `:-` is the default operator, not a negative offset
    ({"p": "abcdef"}, "${p:+2}", "abcdef"),  # unsupported `:+` behaves as a default
    ({"p": "abcdef"}, "${p:4:100}", "ef"),
    ({"p": "abcdef"}, "${p:10}", ""),
    ({"p": "abcdef"}, "${p:x}", "abcdef"),  # unparsable offset: the value unchanged
    ({"var": "abc"}, "${var=xyz}", "abc"),
    ({}, "${var=xyz}", "xyz"),
    ({"var": ""}, "${var=xyz}", "xyz"),  # unset and empty are the same
    ({}, "${var:=xyz}", "xyz"),
    ({}, "${var:-xyz}", "xyz"),
    ({"var": "set"}, "${var:-xyz}", "set"),
    ({"d": "foo"}, "something ${var=${d}}", "something foo"),
    ({"d": "foo1"}, "foo: ${var=${d}-suffix}", "foo: foo1-suffix"),
    ({"d": "foo1"}, "foo: ${var=prefix${d}-suffix}", "foo: prefixfoo1-suffix"),
    ({"s": "abcABC123ABCabc"}, "${s/%abc/XYZ}", "abcABC123ABCXYZ"),
    ({"s": "abcABC123ABCabc"}, "${s/#abc/XYZ}", "XYZABC123ABCabc"),
    ({"s": "abcABC123ABCabc"}, "${s//abc/xyz}", "xyzABC123ABCxyz"),
    ({"s": "abcABC123ABCabc"}, "${s/abc/xyz}", "xyzABC123ABCabc"),
    ({"s": "foo.bar"}, "${s/./}", "foobar"),
    ({"s": "a.b.c"}, "${s/./-}", "a-b.c"),
    ({"s": "foo/bar"}, r"${s/\//-}", "foo-bar"),
    ({"s": "foo/bar/baz"}, r"${s//\//-}", "foo-bar-baz"),
    ({"f": "bash.string.txt"}, "${f#*.}", "string.txt"),
    ({"f": "path/to/file"}, "${f#*/}", "to/file"),
    ({"f": "/path/to/file"}, "${f#*/}", "path/to/file"),
    ({"f": "bash.string.txt"}, "${f##*.}", "txt"),
    ({"f": "path/to/file"}, "${f##*/}", "to/file"),  # path.Match: `*` never crosses `/`
    ({"f": "bash.string.txt"}, "${f%.*}", "bash.string"),
    ({"f": "bash.string.txt"}, "${f%%.*}", "bash"),
    ({"f": "v1.2.3"}, "${f#v}", "1.2.3"),
    ({"f": "v1.2.3"}, "${f#[a-z]}", "1.2.3"),
    ({"f": "abc"}, "${f#[}", "abc"),  # malformed pattern: unchanged
    ({"var01": "abcdEFGH28ij"}, "${var=${var01^^}}", "ABCDEFGH28IJ"),
    ({"var01": "abcdEFGH28ij"}, "$${var01}", "${var01}"),
    ({"v": "x"}, "a$$b", "a$b"),
    ({"v": "x"}, "$v and $ alone", "$v and $ alone"),
    (
        {"var01": "abcdEFGH28ij"},
        "some text ${var01}$${var$${var01}$var01${var01}",
        "some text abcdEFGH28ij${var${var01}$var01abcdEFGH28ij",
    ),
    ({"d": "foo"}, "something $${var=${d}}", "something ${var=foo}"),
    ({"d": "foo"}, "\\\\something ${var=${d}}", "\\\\something foo"),
    ({}, "${unset}", ""),
    ({"a": "1"}, "${a}${a}-${b}", "11-"),
]


@pytest.mark.parametrize(("variables", "text", "expected"), CASES, ids=[c[1] for c in CASES])
def test_substitution(variables: dict[str, str], text: str, expected: str) -> None:
    assert substitute(text, variables) == expected


def test_values_are_not_expanded_again() -> None:
    assert substitute("${a}", {"a": "${b}", "b": "no"}) == "${b}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${var-x}", "missing closing brace"),  # `-` without `:` is not an operator in Flux's envsubst
        ("${var", "missing closing brace"),
        ("${}", "unable to parse variable name"),
        ("${var:}", "unable to parse substitution within function"),
        ("${var#}", "unable to parse substitution within function"),
        ("${#}", "bad substitution"),
        ("${var/a}", "bad substitution"),
        ("${var^x}", "bad substitution"),
    ],
)
def test_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(SubstitutionError, match=message):
        substitute(text, {"var": "v"})


STRICT_MISSING = [
    "${missing}",
    "${#missing}",
    "${missing^}",
    "${missing^^}",
    "${missing,}",
    "${missing,,}",
    "${missing:0}",
    "${missing:0:10}",
    "${missing/pattern/replacement}",
    "${missing//pattern/replacement}",
    "${missing/#pattern/replacement}",
    "${missing/%pattern/replacement}",
    "${missing#pattern}",
    "${missing##pattern}",
    "${missing%pattern}",
    "${missing%%pattern}",
]


@pytest.mark.parametrize("text", STRICT_MISSING)
def test_strict_mode_refuses_unset_variables(text: str) -> None:
    with pytest.raises(SubstitutionError, match=r'variable not set \(strict mode\): "missing"'):
        substitute(text, {"foo": "bar"}, strict=True)
    assert substitute(text.replace("missing", "foo"), {"foo": "bar"}, strict=True) is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("${missing:-fallback}", "fallback"), ("${missing:=assigned}", "assigned"), ("${missing=assigned}", "assigned")],
)
def test_strict_mode_accepts_defaults(text: str, expected: str) -> None:
    assert substitute(text, {}, strict=True) == expected


def test_strict_mode_accepts_empty_but_set_values() -> None:
    assert substitute("${foo}", {"foo": ""}, strict=True) == ""


@pytest.mark.parametrize("name", ["cluster_name", "_x", "A1"])
def test_valid_variable_names(name: str) -> None:
    check_variable_names([name])


@pytest.mark.parametrize("name", ["1abc", "my-var", "a.b", "", "é"])
def test_invalid_variable_names(name: str) -> None:
    with pytest.raises(SubstitutionError, match=r"var name is invalid, must match"):
        check_variable_names([name])


def test_nesting_is_bounded() -> None:
    deep = "${a:-" * (MAX_NESTING + 1) + "x" + "}" * (MAX_NESTING + 1)
    with pytest.raises(SubstitutionError, match="nested"):
        substitute(deep, {})
    shallow = "${a:-" * 10 + "x" + "}" * 10
    assert substitute(shallow, {}) == "x"


def test_large_input_is_linear() -> None:
    text = "k: ${v}\n" * 20000 + "$$" * 20000
    out = substitute(text, {"v": "x" * 50})
    assert out.count("x" * 50) == 20000 and out.endswith("$" * 20000)
