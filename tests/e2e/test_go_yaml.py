"""YAML the Go libraries (kustomize, Flux, the API server) read differently from PyYAML's YAML 1.1 defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.manifests import load_documents
from tests.helpers import run_gitops, write_tree

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: x
  namespace: y
data:
"""


def test_a_plain_equals_sign_is_the_string_it_is_to_kustomize() -> None:
    # kustomize prints `eq: =` unquoted (kyaml reads it as a string); PyYAML's YAML 1.1 `value` tag has no
    # constructor in any safe loader.
    assert load_documents("kind: ConfigMap\ndata:\n  eq: =\n", "x") == [{"kind": "ConfigMap", "data": {"eq": "="}}]


@pytest.mark.parametrize(
    ("data", "kustomize_prints"),
    [
        ("  eq: =\n", "  eq: =\n"),
        # The YAML spec lets a document define an anchor again and aliases take the latest definition (yaml.v3
        # too); app-template values in home-lab repositories do it (`port: &port` per service).
        ('  a: &p "1"\n  b: *p\n  c: &p "2"\n  d: *p\n', 'b: "1"\n  c: "2"\n  d: "2"\n'),
    ],
    ids=["equals-sign", "anchor-defined-again"],
)
def test_render_and_check_accept_what_kustomize_accepts(tmp_path: Path, data: str, kustomize_prints: str) -> None:
    repo = write_tree(
        tmp_path,
        {"overlays/a/kustomization.yaml": "resources: [cm.yaml]\n", "overlays/a/cm.yaml": CONFIGMAP + data},
    )
    render = run_gitops("render", cwd=repo)
    assert render.returncode == 0, render.stderr
    assert kustomize_prints in (repo / "rendered/overlays/a.yaml").read_text(encoding="utf-8")
    check = run_gitops("check", cwd=repo)
    assert check.returncode == 0, check.stdout + check.stderr
