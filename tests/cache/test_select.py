"""Naming targets takes a shortcut past discovering every target; its answers must be discover()'s."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.target_selection import discover, select
from gitops.targets import Tree
from tests.helpers import write_tree

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n"
TREE = {
    "base/app/kustomization.yaml": "resources: [cm.yaml]\n",
    "base/app/cm.yaml": CM,
    "overlays/plain/kustomization.yaml": "resources: [../../base/app]\n",
    # included by name from a sibling: not a target
    "overlays/part/kustomization.yaml": "resources: [../../base/app]\n",
    "overlays/whole/kustomization.yaml": "resources: [../part]\n",
    # included by its own child through a bare '..': not a target (the child is)
    "overlays/parent/kustomization.yaml": "resources: [../../base/app]\n",
    "overlays/parent/child/kustomization.yaml": "namePrefix: c-\nresources:\n- ..\n",
    "overlays/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
    # included by a grandchild through '../..' (no bare dot, no name): not a target
    "overlays/grand/kustomization.yaml": "resources: [../../base/app]\n",
    "overlays/grand/x/y/kustomization.yaml": "namePrefix: g-\nresources:\n- ../..\n",
    # included by a sibling that spells its name with a YAML escape: not a target
    "overlays/spelled/kustomization.yaml": "resources: [../../base/app]\n",
    "overlays/speller/kustomization.yaml": 'resources:\n- "../\\x73pelled"\n',
    "clusters/prod/kustomization.yaml": "resources: [../../overlays/plain]\n",
}


@pytest.mark.parametrize(
    "name",
    [
        "overlays/plain",
        "overlays/part",
        "overlays/whole",
        "overlays/parent",
        "overlays/parent/child",
        "overlays/grand",
        "overlays/grand/x/y",
        "overlays/spelled",
        "overlays/speller",
        "clusters/prod",
    ],
)
def test_a_named_directory_is_selected_exactly_as_discover_says(tmp_path: Path, name: str) -> None:
    root = write_tree(tmp_path / "repo", TREE).resolve()
    targets = discover(root)
    assert targets == [
        "clusters/prod",
        "overlays/grand/x/y",
        "overlays/parent/child",
        "overlays/speller",
        "overlays/whole",
    ]
    expected = [t for t in targets if t == name or t.startswith(name + "/")]
    if expected:
        assert select(root, [str(root / name)], Tree(root)) == expected
    else:
        with pytest.raises(GitopsError, match="not a render target"):
            select(root, [str(root / name)], Tree(root))


def test_a_directory_of_targets_and_a_component(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", TREE).resolve()
    assert select(root, [str(root / "overlays")], Tree(root)) == [
        "overlays/grand/x/y",
        "overlays/parent/child",
        "overlays/speller",
        "overlays/whole",
    ]
    with pytest.raises(GitopsError, match="not a render target"):
        select(root, [str(root / "overlays/comp")], Tree(root))


def test_with_symlinks_a_reference_under_another_name_still_counts(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "repo", TREE).resolve()
    os.symlink("plain", root / "overlays/alias")
    write_tree(root, {"clusters/prod/kustomization.yaml": "resources: [../../overlays/alias]\n"})
    assert "overlays/plain" not in discover(root)
    with pytest.raises(GitopsError, match="not a render target"):
        select(root, [str(root / "overlays/plain")], Tree(root))
