"""kustomize failures as two errors: a missing input apart from every other refused build."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import BuildError, MissingInputError
from gitops.kustomize import Kustomize
from gitops.render import render_targets
from tests.helpers import write_tree

CONFIG_MAP = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\n"


@pytest.mark.parametrize(
    "kustomization",
    [
        "resources: [cm.yaml, missing.yaml]\n",
        "resources: [cm.yaml]\nconfigMapGenerator: [{name: x, files: [absent.txt]}]\n",
        "resources: [cm.yaml]\npatches: [{path: gone.yaml}]\n",
    ],
)
def test_a_file_the_build_reads_that_does_not_exist_is_a_missing_input(
    tmp_path: Path, kustomize: Kustomize, kustomization: str
) -> None:
    write_tree(tmp_path, {"overlays/x/kustomization.yaml": kustomization, "overlays/x/cm.yaml": CONFIG_MAP})
    # Refused by our own input check before kustomize runs, naming the kustomization that reads the file.
    with pytest.raises(MissingInputError, match=r"^overlays/x/kustomization\.yaml: .* entry '.*': no such file"):
        kustomize_build(tmp_path, kustomize)


def test_any_other_refused_build_is_a_build_error_only(tmp_path: Path, kustomize: Kustomize) -> None:
    write_tree(
        tmp_path,
        {
            "overlays/x/kustomization.yaml": "resources: [cm.yaml]\npatches: [{path: p.yaml}]\n",
            "overlays/x/cm.yaml": CONFIG_MAP,
            "overlays/x/p.yaml": CONFIG_MAP.replace("app", "nope"),
        },
    )
    with pytest.raises(BuildError, match="overlays/x: kustomize build failed") as caught:
        kustomize_build(tmp_path, kustomize)
    assert not isinstance(caught.value, MissingInputError)


def kustomize_build(root: Path, kustomize: Kustomize) -> None:
    render_targets(root, ["overlays/x"], kustomize=kustomize)
