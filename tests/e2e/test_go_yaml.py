"""YAML the Go libraries (kustomize, Flux, the API server) read differently from PyYAML's YAML 1.1 defaults."""

from __future__ import annotations

from pathlib import Path

from gitops.manifests import load_documents
from tests.helpers import run_gitops, write_tree


def test_a_plain_equals_sign_is_the_string_it_is_to_kustomize() -> None:
    # kustomize prints `eq: =` unquoted (kyaml reads it as a string); PyYAML's YAML 1.1 `value` tag has no
    # constructor in any safe loader.
    assert load_documents("kind: ConfigMap\ndata:\n  eq: =\n", "x") == [{"kind": "ConfigMap", "data": {"eq": "="}}]


def test_render_and_check_accept_an_equals_sign_value(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path,
        {
            "overlays/a/kustomization.yaml": "resources: [cm.yaml]\n",
            "overlays/a/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: x
                  namespace: y
                data:
                  eq: =
                """,
        },
    )
    render = run_gitops("render", cwd=repo)
    assert render.returncode == 0, render.stderr
    assert "  eq: =\n" in (repo / "rendered/overlays/a.yaml").read_text(encoding="utf-8")
    check = run_gitops("check", cwd=repo)
    assert check.returncode == 0, check.stdout + check.stderr


def test_an_anchor_defined_again_is_valid_yaml_and_aliases_take_the_latest(tmp_path: Path) -> None:
    # The YAML spec lets a document define an anchor again; kustomize (yaml.v3) prints b: "1", d: "2" for this
    # file, and app-template values in home-lab repositories do it (`port: &port` per service).
    repo = write_tree(
        tmp_path,
        {
            "overlays/a/kustomization.yaml": "resources: [cm.yaml]\n",
            "overlays/a/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: x
                  namespace: y
                data:
                  a: &p "1"
                  b: *p
                  c: &p "2"
                  d: *p
                """,
        },
    )
    render = run_gitops("render", cwd=repo)
    assert render.returncode == 0, render.stderr
    assert 'b: "1"\n  c: "2"\n  d: "2"\n' in (repo / "rendered/overlays/a.yaml").read_text(encoding="utf-8")
    check = run_gitops("check", cwd=repo)
    assert check.returncode == 0, check.stdout + check.stderr
