"""One origin build serves every command: its output without the origin annotations is exactly what a plain
kustomize build prints (checked against the real plain build), and a render warms check's and diff's builds."""

from __future__ import annotations

from pathlib import Path

from gitops.kustomize import Kustomize
from gitops.origins import without_origins
from gitops.render import render_targets
from tests.diff.test_diff_base_side import logging_kustomize
from tests.helpers import run_gitops, write_tree

TRICKY = {
    "base/app/kustomization.yaml": """
        resources: [cm.yaml, annotated.yaml]
        configMapGenerator:
        - name: generated
          literals: [A=1]
    """,
    # a string whose lines look like an origin annotation at the annotation indent
    "base/app/cm.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: looks-like}
        data:
          notes: |
            metadata:
              annotations:
                config.kubernetes.io/origin: |
                  path: nowhere.yaml
    """,
    "base/app/annotated.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
          annotations: {a.example/first: "1", zz.example/last: "2"}
          labels: {app: web}
        spec: {ports: [{port: 80}]}
    """,
    "overlays/one/kustomization.yaml": "namespace: one\nresources: [../../base/app]\n",
}


def test_an_origin_build_without_its_annotations_is_the_plain_build(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(tmp_path / "repo", TRICKY).resolve()
    (result,) = render_targets(root, ["overlays/one"], kustomize=kustomize)
    assert result.output == kustomize.build(root / "overlays/one")
    assert "config.kubernetes.io/origin: |\n          path: nowhere.yaml" in result.output  # the string is kept
    (with_origins,) = render_targets(root, ["overlays/one"], origins=True, kustomize=kustomize)
    assert with_origins.text == result.output
    assert [m.origin for m in with_origins.manifests] == [
        "base/app/kustomization.yaml",
        "base/app/cm.yaml",
        "base/app/annotated.yaml",
    ]


def test_output_it_cannot_account_for_is_not_guessed() -> None:
    without_annotation = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n"
    assert without_origins(without_annotation) is None
    one = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  annotations:\n    config.kubernetes.io/origin: |\n"
        "      path: a.yaml\n  name: a\n"
    )
    assert without_origins(one) == without_annotation
    assert without_origins(one + "---\n" + without_annotation) is None


def test_a_render_warms_checks_builds(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(tmp_path / "repo", TRICKY).resolve()
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    proc = run_gitops("render", "--out", str(tmp_path / "out"), cwd=root, env={"KUSTOMIZE": str(wrapper)})
    assert proc.returncode == 0, proc.stderr
    assert len(log.read_text().splitlines()) == 1
    tool = Kustomize((str(wrapper), "kustomize"), kustomize.version)
    (checked,) = render_targets(root, ["overlays/one"], origins=True, kustomize=tool)
    assert len(log.read_text().splitlines()) == 1  # no second build: the render's entry answered
    assert checked.text == (tmp_path / "out/overlays/one.yaml").read_text()
