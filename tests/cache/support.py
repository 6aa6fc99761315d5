"""A small repository exercising every kind of kustomize input: generators, symlinks, components, and a file
read only through a transformer config."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tests.helpers import REPO_ROOT, write_tree

FIXTURES = REPO_ROOT / "tests" / "fixtures"

KINDS_OF_INPUT = {
    "base/app/kustomization.yaml": """
        resources: [deployment.yaml, linked.yaml]
        configMapGenerator:
        - name: env
          envs: [app.env]
          files: [settings.json]
        secretGenerator:
        - name: token
          literals: [TOKEN=not-a-secret]
    """,
    "base/app/app.env": "A=1\nB=two\n",
    "base/app/settings.json": '{"threads": 5}\n',
    "base/app/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: web
                image: ghcr.io/mastodon/mastodon:v4.3.0
                envFrom: [{configMapRef: {name: env}}]
    """,
    "shared/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec: {ports: [{port: 80}]}
    """,
    "components/tag/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        images:
        - name: ghcr.io/mastodon/mastodon
          newTag: v4.3.1
    """,
    "overlays/one/kustomization.yaml": """
        namespace: one
        resources: [../../base/app]
        components: [../../components/tag]
        transformers: [replicas.yaml]
    """,
    "overlays/one/replicas.yaml": """
        apiVersion: builtin
        kind: PatchTransformer
        metadata: {name: replicas}
        path: ../../patches/replicas.yaml
        target: {kind: Deployment, name: web}
    """,
    "patches/replicas.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec: {replicas: 3}
    """,
    "overlays/two/kustomization.yaml": """
        namespace: two
        resources: [../../base/app]
        configMapGenerator:
        - name: extra
          literals: [C=3]
    """,
}


def kinds_of_input_repo(root: Path) -> Path:
    """The repository above; base/app/linked.yaml is a symlink to shared/service.yaml."""
    write_tree(root, KINDS_OF_INPUT)
    os.symlink("../../shared/service.yaml", root / "base/app/linked.yaml")
    return root


def fixture_repos(tmp: Path) -> list[Path]:
    """Every fixture repository of the test suite that renders, plus the one above and the shipped repo."""
    repos = [kinds_of_input_repo(tmp / "kinds")]
    for group in ("check", "policy"):
        for fixture in sorted((FIXTURES / group).iterdir()):
            if (fixture / "overlays").is_dir() or (fixture / "clusters").is_dir():
                repos.append(fixture)
    shipped = tmp / "shipped"
    for top in ("base", "overlays", "clusters"):
        shutil.copytree(REPO_ROOT / top, shipped / top, symlinks=True)
    repos.append(shipped)
    return repos
