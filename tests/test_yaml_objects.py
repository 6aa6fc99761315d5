"""yaml_objects: documents built directly equal PyYAML's own construction (the oracle), types included, for every
kind of node; what it leaves to PyYAML raises PyYAML's errors."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import yaml

from gitops.manifests import _SAFE_LOADER, YAML_LOADER, source_loader


class _PyYAMLConstruction(_SAFE_LOADER):  # type: ignore[valid-type,misc]
    """The same resolvers as YAML_LOADER, PyYAML's constructor."""

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, Any]]]] = YAML_LOADER.yaml_implicit_resolvers


CASES = {
    "kubernetes object": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, labels: {app: web}}
        spec:
          replicas: 3
          template:
            spec:
              containers:
              - name: web
                image: "ghcr.io/mastodon/mastodon:v4.3.0"
                args: [bundle, exec, puma]
                env: [{name: A, value: "1"}, {name: B, value: ""}]
    """,
    "ints": "a: 0\nb: 010\nc: 0x1F\nd: 0o17\ne: 1_000\nf: -5\ng: +3\nh: 1:30\ni: 0b101\nj: 123456789012345678901\n",
    "floats": "a: 1.5\nb: .inf\nc: -.Inf\nd: .nan\ne: 6.8523015e+5\nf: 1e3\ng: 0.\n",
    "bools and nulls": "a: yes\nb: No\nc: ON\nd: true\ne: FALSE\nf: ~\ng: null\nh:\ni: Null\n",
    "strings": "a: 'single'\nb: \"dou\\tble\"\nc: |\n  literal\n  text\nd: >\n  folded\n  text\n"
    + "e: =\nf: ünïcödé\ng: '010'\n",
    "timestamps and binary": "a: 2001-12-14\nb: 2001-12-14t21:59:43.10-05:00\nc: !!binary aGVsbG8=\n",
    "explicit tags": "a: !!str 123\nb: !!int '7'\nc: !!float '1'\nd: !!bool 'yes'\ne: !!null ''\n",
    "merge keys": "base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nmany:\n  <<: [*b, {z: 4}]\n",
    "aliases": "a: &x {k: [1, 2]}\nb: *x\nc: &s hello\nd: *s\n",
    "recursive alias": "&r [1, *r]\n",
    "sets and ordered maps": "a: !!set {x, y}\nb: !!omap [{k: 1}, {j: 2}]\nc: !!pairs [{k: 1}, {k: 2}]\n",
    "complex keys": "? [a, b]\n: sequence key\n",
    "mapping key": "? {a: 1}\n: mapping key\n",
    "int and bool keys": "1: one\ntrue: yes\n~: nothing\n1.5: float\n",
    "duplicate keys": "a: 1\na: 2\n",
    "several documents": "a: 1\n---\n---\n- x\n- y\n---\nplain\n",
    "unknown tag": "a: !custom value\n",
    "explicit value key": "!!value a: 1\n",
}


def _loaded(text: str, loader: type[Any]) -> str:
    """The documents (their repr: types count, 1 is not True) or the error PyYAML reports."""
    try:
        return repr(list(yaml.load_all(text, Loader=loader)))
    except yaml.YAMLError as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("case", sorted(CASES))
def test_direct_construction_equals_pyyaml(case: str) -> None:
    import textwrap

    text = textwrap.dedent(CASES[case]).lstrip()
    assert _loaded(text, YAML_LOADER) == _loaded(text, _PyYAMLConstruction)


def test_an_alias_is_the_same_object() -> None:
    data = yaml.load("a: &x {k: [1]}\nb: *x\n", Loader=YAML_LOADER)
    assert data["a"] is data["b"]
    [recursive] = yaml.load_all("&r [1, *r]\n", Loader=YAML_LOADER)
    assert recursive[1] is recursive


def test_the_anchor_redefining_loader_builds_directly_too() -> None:
    text = "a: &x 1\nb: *x\nc: &x {k: v}\nd: *x\ne: 010\n"
    loader = source_loader(text)
    assert loader is not YAML_LOADER
    assert yaml.load(text, Loader=loader) == {"a": 1, "b": 1, "c": {"k": "v"}, "d": {"k": "v"}, "e": 8}


def test_very_deep_nesting_is_left_to_pyyaml() -> None:
    text = "[" * 2000 + "]" * 2000
    assert _loaded(text, YAML_LOADER) == _loaded(text, _PyYAMLConstruction)


def test_plain_scalar_tags_are_remembered_per_resolver_table() -> None:
    """PyYAML's own table resolves a plain `=` to its `value` tag (no constructor: an error); ours, as Go's
    YAML libraries, to a string. Whichever loads first, each keeps its own answer."""
    from gitops.yaml_objects import DirectConstruction

    class YAML11(DirectConstruction, yaml.SafeLoader):  # type: ignore[misc]
        pass

    for _ in range(2):
        assert yaml.load("a: =\n", Loader=YAML_LOADER) == {"a": "="}
        with pytest.raises(yaml.constructor.ConstructorError):
            yaml.load("a: =\n", Loader=YAML11)


@pytest.mark.parametrize(
    ("text", "alike"),
    [
        ("a: true\nb: False\nc: null\nd: ~\ne:\nf: 3\ng: -12\n", True),
        ("interval: 10m\ntimeout: 5m0s\nimage: nginx:1.27\nversion: v1.2.3\nname: .hidden\n", True),
        ("a: 'yes'\nb: \"1:30\"\nc: |\n  on\n", True),
        ("a: yes\n", False),
        ("a: On\n", False),
        ("yes: key\n", False),
        ("a: 1:30\n", False),
        ("a: 2001-12-14\n", False),
        ("a: 1e3\n", False),
        ("a: 1.5\n", False),
        ("a: 0777\n", False),
        ("a: 1.2\n", False),
        ("tag: 1.0.0\naddress: 10.0.0.1\n", True),
    ],
)
def test_load_all_tells_whether_go_reads_plain_scalars_alike(text: str, alike: bool) -> None:
    """yaml.v3 (kustomize) reads only true/false spellings as booleans, sexagesimal and timestamps not as
    PyYAML does, `1e3` as a number; `10m` and quoted or block scalars are strings to both. In doubt: False."""
    from gitops.yaml_objects import load_all

    documents, read_alike = load_all(text, YAML_LOADER)
    assert documents == list(yaml.load_all(text, Loader=_PyYAMLConstruction))
    assert read_alike is alike
