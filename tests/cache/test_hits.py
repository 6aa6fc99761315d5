"""A cache hit is byte-for-byte what a fresh kustomize build prints, on every fixture repository."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitops import cache
from gitops.errors import GitopsError
from gitops.kustomize import Kustomize
from gitops.render import render_targets
from gitops.target_selection import discover
from gitops.targets import Tree
from tests.cache.support import fixture_repos, kinds_of_input_repo


def _entries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(".")]


def _buildable(root: Path, tool: Kustomize) -> dict[str, str]:
    """Fresh builds, without any cache, of every target of `root` that builds at all."""
    fresh = {}
    for name in discover(root):
        try:
            fresh[name] = tool.build(root / name)
        except GitopsError:
            continue  # fixtures of input errors
    return fresh


def test_a_hit_equals_a_fresh_build_on_every_fixture(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "cache"
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(store))
    checked = 0
    for repo in fixture_repos(tmp_path):
        root = repo.resolve()
        fresh = _buildable(root, kustomize)
        if not fresh:
            continue
        names = sorted(fresh)
        cold = render_targets(root, names, kustomize=kustomize)
        stored = len(_entries(store))
        warm = render_targets(root, names, kustomize=kustomize)
        assert len(_entries(store)) == stored, "a warm run stores nothing new"
        for result in [*cold, *warm]:
            assert result.output == fresh[result.target], (repo, result.target)
        checked += len(names)
    assert checked >= 10
    assert len(_entries(store / "render")) >= checked


def test_origin_builds_hit_from_another_location_with_the_same_origins(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch
) -> None:
    """diff builds its base side in a temporary directory: the origins there must come out the same."""
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(tmp_path / "cache"))
    first = kinds_of_input_repo(tmp_path / "first").resolve()
    second = tmp_path / "deeper" / "elsewhere" / "second"
    shutil.copytree(first, second, symlinks=True)
    names = discover(first)
    before = render_targets(first, names, origins=True, kustomize=kustomize)
    monkeypatch.setenv("GITOPS_NO_CACHE", "1")
    fresh = render_targets(second, names, origins=True, kustomize=kustomize)
    monkeypatch.delenv("GITOPS_NO_CACHE")

    inodes = {p: p.stat().st_ino for p in _entries(tmp_path / "cache" / "render")}
    hits = render_targets(second, names, origins=True, kustomize=kustomize)
    assert {p: p.stat().st_ino for p in _entries(tmp_path / "cache" / "render")} == inodes, "hits replace nothing"
    for result, expected, original in zip(hits, fresh, before, strict=True):
        assert [(m.body, m.origin) for m in result.manifests] == [(m.body, m.origin) for m in expected.manifests]
        assert [m.origin for m in result.manifests] == [m.origin for m in original.manifests]
        assert result.text == expected.text
        assert any(m.origin for m in result.manifests)


def test_run_cache_answers_without_building_on_a_hit(tmp_path: Path, kustomize: Kustomize) -> None:
    root = kinds_of_input_repo(tmp_path / "repo").resolve()
    store = cache.RenderCache(tmp_path / "cache" / "render")
    first = cache.for_run(kustomize, Tree(root), store)
    assert first is not None
    output = first.build("overlays/one", lambda: kustomize.build(root / "overlays/one"))
    second = cache.for_run(kustomize, Tree(root), store)
    assert second is not None

    def must_not_build() -> str:
        raise AssertionError("a hit must not run kustomize")

    assert second.build("overlays/one", must_not_build) == output
    assert (second.hits, second.misses) == (1, 0)
    assert "replicas: 3" in output and "v4.3.1" in output  # the transformer's patch and the component applied
