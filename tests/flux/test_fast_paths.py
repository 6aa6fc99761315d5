"""The per-target fast paths give what the slow paths give, byte for byte.

- envsubst's top-level text jumps from one `$` to the next instead of reading character by character;
- postBuild substitution keeps an object without any `$` as it is instead of writing, substituting and
  parsing its YAML again;
- the scratch kustomization is written as JSON instead of PyYAML's YAML.
Each is compared with its slow path (switched on for the comparison) on edge cases and on the fixtures.
"""

from __future__ import annotations

import datetime
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.config import load_config
from gitops.flux import build, envsubst, postbuild
from gitops.flux.envsubst import SubstitutionError, substitute
from gitops.flux.graph import render_flux
from gitops.flux.objects import FluxKustomization, SourceRef
from gitops.kustomize import Kustomize
from gitops.manifests import dump_documents
from gitops.workspace import open_workspace
from tests.flux.helpers import copy_fixture, fixture
from tests.helpers import REPO_ROOT

VARIABLES = {"a": "A", "b": "x.y", "empty": ""}
TEXTS = [
    "",
    "plain text without dollars",
    "$",
    "a$",
    "$$",
    "$$$",
    "$$$$",
    "a$$b",
    "$${a}",
    "$$${a}",
    "$$$${a}",
    "${a}",
    "x${a}y${b}z",
    "$a ${a} $$a",
    "${a:=d}$${b}",
    "${empty:-${a}}",
    "${b/./-}",
    "cost: $5 and ${a}",
    "ünïcødé $ ${a} ✓",
    "line\n  ${a}\n$$\n",
    "${a",
    "${}",
    "${a-x}",
    "end $",
]


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    def outcome() -> object:
        try:
            return substitute(text, VARIABLES)
        except SubstitutionError as exc:
            return ("error", str(exc))

    monkeypatch.setattr(envsubst._Scanner, "jump", True)
    fast = outcome()
    monkeypatch.setattr(envsubst._Scanner, "jump", False)
    slow = outcome()
    return fast, slow


@pytest.mark.parametrize("text", TEXTS)
def test_envsubst_text_jump_equals_character_loop(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = _both(text, monkeypatch)
    assert fast == slow


def test_envsubst_text_jump_equals_character_loop_on_random_texts(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(12)
    alphabet = ["$", "$", "{", "}", "a", "b", ":", "=", "-", "/", ".", "\\", "\n", " ", "é"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        fast, slow = _both(text, monkeypatch)
        assert fast == slow, text


def _kustomization() -> FluxKustomization:
    return FluxKustomization(
        "app", "flux-system", SourceRef("GitRepository", "flux-system", "flux-system"), "app", post_build=True
    )


def _documents() -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "plain", "namespace": "default"},
            "data": {"yes": "yes", "n": "1.0", "empty": "", "multi": "a\nb\n", "null": "~", "date": "2024-01-01"},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "numbers", "labels": {"x": "1"}},
            "spec": {"replicas": 3, "ratio": 0.5, "big": 10**20, "on": True, "none": None, "list": [1, "2", [3]]},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stamp"}, "data": {"at": "t"}, "x": 7},
        {"apiVersion": "v1", "kind": "Thing", "metadata": {"name": "dated"}, "when": datetime.date(2024, 1, 2)},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "vars"}, "data": {"v": "${a}", "k": "$$b"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "key", "${a}": "in a key"}},
        {"apiVersion": "v1", "kind": "Unicode", "metadata": {"name": "ü"}, "data": {"s": "✓ \t tab"}},
    ]


def test_objects_without_dollar_are_kept_as_they_are() -> None:
    out = postbuild.substitute_objects(_kustomization(), _documents(), VARIABLES, "t", strict=False)
    assert out[0] is not None and out[4]["data"] == {"v": "A", "k": "$b"}
    assert out[5]["metadata"]["A"] == "in a key"


def test_skipping_objects_without_dollar_equals_substituting_them(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = dump_documents(postbuild.substitute_objects(_kustomization(), _documents(), VARIABLES, "t", strict=False))
    monkeypatch.setattr(postbuild, "_mentions_dollar", lambda value: True)
    slow = dump_documents(postbuild.substitute_objects(_kustomization(), _documents(), VARIABLES, "t", strict=False))
    assert fast == slow


def _rendered(root: Path, kustomize: Kustomize) -> dict[str, str]:
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    return {t.name: dump_documents(t.documents) for t in result.targets}


@pytest.mark.parametrize("name", ["substitution", "example", "fields", "operator"])
def test_fixture_renders_equal_with_and_without_fast_paths(
    name: str, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fast = _rendered(fixture(name), kustomize)
    monkeypatch.setattr(postbuild, "_mentions_dollar", lambda value: True)
    monkeypatch.setattr(envsubst._Scanner, "jump", False)
    slow = _rendered(fixture(name), kustomize)
    assert fast == slow
    assert any(text for text in fast.values())


def _yaml_scratch(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


@pytest.mark.parametrize("name", ["example", "fields", "operator"])
def test_json_scratch_kustomization_renders_as_yaml_does(
    name: str, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GITOPS_NO_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    as_json = _rendered(fixture(name), kustomize)
    monkeypatch.setattr(build, "scratch_text", _yaml_scratch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "other"))
    assert _rendered(fixture(name), kustomize) == as_json


UNICODE_PATCH = """  patches:
    - patch: |
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web, annotations: {note: "é ✓ 😀"}}
      target: {kind: Deployment}
"""


def test_json_scratch_keeps_unicode_patches(
    kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = copy_fixture("fields", tmp_path)
    ks = root / "clusters/fields/ks.yaml"
    ks.write_text(ks.read_text(encoding="utf-8").replace("  patches:\n", UNICODE_PATCH, 1), encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a"))
    as_json = _rendered(root, kustomize)
    assert 'note: "é ✓ \\U0001F600"' in "".join(as_json.values())
    monkeypatch.setattr(build, "scratch_text", _yaml_scratch)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "b"))
    assert _rendered(root, kustomize) == as_json


@pytest.mark.parametrize("root", [fixture("example"), fixture("fields"), fixture("substitution"), REPO_ROOT])
def test_builds_without_origin_annotations_render_the_same_bytes(
    root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """render and diff build without buildMetadata (faster); check builds with it and strips the annotations."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))

    def rendered(origins: bool) -> dict[str, str]:
        workspace = open_workspace(root, load_config(root), identities=(), origins=origins)
        assert workspace.flux is not None
        known = [o for t in workspace.flux.targets for o in t.origins if o is not None]
        assert bool(known) is origins
        return {t.name: dump_documents(t.documents) for t in workspace.flux.targets}

    with_origins, without = rendered(True), rendered(False)
    assert with_origins == without
    assert len(without) > 2
