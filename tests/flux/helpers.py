"""Shared helpers for the Flux tests: fixture trees and object look-ups."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

from gitops.flux.model import FluxRender, FluxTarget
from tests.helpers import REPO_ROOT

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "flux"

# A cluster entry as bootstrap writes it (the sync source and the Kustomization syncing clusters/c), indented to
# be dedented by the test that writes it.
SYNC = """
    apiVersion: source.toolkit.fluxcd.io/v1
    kind: GitRepository
    metadata: {name: flux-system, namespace: flux-system}
    spec: {url: https://example.org/repo}
    ---
    apiVersion: kustomize.toolkit.fluxcd.io/v1
    kind: Kustomization
    metadata: {name: flux-system, namespace: flux-system}
    spec:
      path: ./clusters/c
      sourceRef: {kind: GitRepository, name: flux-system}
"""


def flux_kustomization(name: str, path: str, extra: str = "") -> str:
    """One more document (`---` first) for a test repository's file: a Flux Kustomization of the sync source,
    indented to be dedented with the rest (`extra`: more spec fields, as YAML)."""
    return f"""
    ---
    apiVersion: kustomize.toolkit.fluxcd.io/v1
    kind: Kustomization
    metadata: {{name: {name}, namespace: flux-system}}
    spec:
      path: {path}
      sourceRef: {{kind: GitRepository, name: flux-system}}
{textwrap.indent(textwrap.dedent(extra), "      ")}"""


def patching_apps(op: str, path: str, value: str) -> str:
    """The kustomization of cluster `clusters/c` (its gotk-sync.yaml and `apps.yaml`) with one JSON patch of the
    Flux Kustomization `apps`, indented to be dedented by the test that writes it."""
    return f"""
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    resources: [flux-system/gotk-sync.yaml, apps.yaml]
    patches:
    - target: {{kind: Kustomization, name: apps}}
      patch: |
        - op: {op}
          path: {path}
          value: {value}
"""


def substituting_from_vars(name: str, path: str, data: str) -> dict[str, str]:
    """Files of a cluster `clusters/c` whose Kustomization `name` (at `path`) substitutes from the ConfigMap
    `vars` that the leaf `vars` renders with `data` (a flow mapping)."""
    return {
        "clusters/c/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c/ks.yaml": flux_kustomization("vars", "./vars")
        + flux_kustomization(
            name,
            path,
            """
            postBuild:
              substituteFrom:
              - {kind: ConfigMap, name: vars}
            """,
        ),
        "vars/cm.yaml": f"""
            apiVersion: v1
            kind: ConfigMap
            metadata: {{name: vars, namespace: flux-system}}
            data: {data}
        """,
    }


def fixture(name: str) -> Path:
    return FIXTURES / name


def copy_fixture(name: str, tmp_path: Path) -> Path:
    """A private copy, for tests that add files (e.g. an encrypted Secret) before rendering."""
    return Path(shutil.copytree(FIXTURES / name, tmp_path / name))


def target(result: FluxRender, name: str) -> FluxTarget:
    found = [t for t in result.targets if t.name == name]
    assert found, (name, [t.name for t in result.targets])
    return found[0]


def obj(t: FluxTarget, kind: str, name: str) -> dict[str, Any]:
    found = [d for d in t.documents if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, (kind, name, [(d["kind"], d["metadata"]["name"]) for d in t.documents])
    return found[0]


def kinds_and_names(t: FluxTarget) -> set[tuple[str, str | None, str]]:
    return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in t.documents}
