"""A synthetic hosting-provider repository: N Mastodon instances as overlays over this repository's bases."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import yaml

MASTODON_VERSION = "v4.6.6"


def instance_overlay(index: int) -> dict[str, str]:
    """Files of one instance overlay: its namespace, version, domains and sizes."""
    name = f"instance-{index:03d}"
    domain = f"{name}.hosting.example"
    replicas = 1 + index % 3
    return {
        f"overlays/{name}/kustomization.yaml": textwrap.dedent(
            f"""\
            # Instance {index}: one Mastodon server of a hosting provider.
            namespace: {name}
            resources:
            - ../../base/shared
            - ../../base/apps
            images:
            - name: ghcr.io/mastodon/mastodon
              newTag: {MASTODON_VERSION}
            - name: ghcr.io/mastodon/mastodon-streaming
              newTag: {MASTODON_VERSION}
            configMapGenerator:
            - name: mastodon-env
              behavior: merge
              literals:
              - LOCAL_DOMAIN={domain}
              - WEB_DOMAIN={domain}
              - CDN_HOST=https://cdn.{domain}
              - DB_HOST=private-db-{name}.db.example.net
            patches:
            - target:
                kind: Deployment
                name: mastodon-web
              patch: |-
                - op: replace
                  path: /spec/replicas
                  value: {replicas}
            - target:
                kind: HTTPRoute
                name: mastodon-(web|streaming)
              patch: |-
                - op: replace
                  path: /spec/hostnames/0
                  value: {domain}
            """
        )
    }


def write_synthetic_repo(source_repo: Path, dest: Path, instances: int) -> list[str]:
    """Write the synthetic repo at `dest` (replacing it); returns its target paths."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(source_repo / "base", dest / "base")
    (dest / "gitops.yaml").write_text(_config_without_clusters(source_repo / "gitops.yaml"), encoding="utf-8")
    targets = []
    for index in range(instances):
        for rel, content in instance_overlay(index).items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
            targets.append(str(Path(rel).parent))
    return targets


def _config_without_clusters(config_file: Path) -> str:
    """The source repo's config minus its Flux cluster entries: the synthetic repo is a plain overlay tree."""
    config = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
    config.pop("clusters", None)
    return yaml.safe_dump(config, sort_keys=False)
