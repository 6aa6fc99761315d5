"""Files only a generator/transformer config or `openapi:` names are cache-key inputs: changing one misses.

A stale hit is the worst bug a cache can have, so each case renders through the cache, changes only that
file, renders again and expects kustomize's fresh output (the changed bytes), not the stored one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops import cache
from gitops.kustomize import Kustomize
from gitops.render import render_targets
from gitops.targets import Tree
from tests.helpers import write_tree

APP = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: app}
    data: {SIZE: small}
"""
CASES = {
    # a builtin ConfigMapGenerator config in `generators:`: its `files:` (with a key) and `envs:` entries
    "files": (
        """
        apiVersion: builtin
        kind: ConfigMapGenerator
        metadata: {name: settings}
        files: [settings.json=../../data/settings.json]
        """,
        "data/settings.json",
        '{"threads": 5}\n',
        '{"threads": 7}\n',
    ),
    "envs": (
        """
        apiVersion: builtin
        kind: ConfigMapGenerator
        metadata: {name: settings}
        envs: [../../data/app.env]
        """,
        "data/app.env",
        "THREADS=5\n",
        "THREADS=7\n",
    ),
    # a ReplacementTransformer config names its replacement files one level down
    "replacements": (
        """
        apiVersion: builtin
        kind: ReplacementTransformer
        metadata: {name: size}
        replacements:
        - path: ../../data/replacement.yaml
        """,
        "data/replacement.yaml",
        "source: {kind: ConfigMap, name: app, fieldPath: data.SIZE}\n"
        "targets: [{select: {kind: ConfigMap, name: app}, fieldPaths: [data.COPY5], options: {create: true}}]\n",
        "source: {kind: ConfigMap, name: app, fieldPath: data.SIZE}\n"
        "targets: [{select: {kind: ConfigMap, name: app}, fieldPaths: [data.COPY7], options: {create: true}}]\n",
    ),
}


def _repo(root: Path, config: str, data_file: str, content: str) -> Path:
    field_name = "transformers" if "Replacement" in config else "generators"
    return write_tree(
        root,
        {
            "base/app/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/app/cm.yaml": APP,
            "overlays/one/kustomization.yaml": f"resources: [../../base/app]\n{field_name}: [plugins/config.yaml]\n",
            "overlays/one/plugins/config.yaml": config,
            data_file: content,
        },
    ).resolve()


@pytest.mark.parametrize("case", sorted(CASES))
def test_changing_a_file_only_a_plugin_config_names_misses(tmp_path: Path, kustomize: Kustomize, case: str) -> None:
    config, data_file, before, after = CASES[case]
    root = _repo(tmp_path / "repo", config, data_file, before)
    assert data_file in {Tree(root).rel(p) for p in Tree(root).inputs(root / "overlays/one")}
    first = render_targets(root, ["overlays/one"], kustomize=kustomize)[0].output
    assert "5" in first and "7" not in first
    (root / data_file).write_text(after)
    second = render_targets(root, ["overlays/one"], kustomize=kustomize)[0].output
    assert second == kustomize.build(root / "overlays/one")
    assert "7" in second and second != first


def test_plugin_configs_in_a_directory_entry_count_too(tmp_path: Path, kustomize: Kustomize) -> None:
    """`transformers: [dir]`: the directory's resources are the configs, their files inputs of the target."""
    root = write_tree(
        tmp_path / "repo",
        {
            "base/app/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/app/cm.yaml": APP,
            "overlays/one/kustomization.yaml": "resources: [../../base/app]\ntransformers: [../../transformers]\n",
            "transformers/kustomization.yaml": "resources: [size.yaml]\n",
            "transformers/size.yaml": """
                apiVersion: builtin
                kind: PatchTransformer
                metadata: {name: size}
                path: ../../data/patch.yaml
                target: {kind: ConfigMap, name: app}
            """,
            "data/patch.yaml": APP.replace("small", "medium"),
        },
    ).resolve()
    first = render_targets(root, ["overlays/one"], kustomize=kustomize)[0].output
    assert "medium" in first
    (root / "data/patch.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {SIZE: big}\n")
    second = render_targets(root, ["overlays/one"], kustomize=kustomize)[0].output
    assert second == kustomize.build(root / "overlays/one")
    assert "big" in second


def test_changing_the_openapi_schema_file_misses(tmp_path: Path, kustomize: Kustomize) -> None:
    """kustomize merges patches by the schema's merge keys, yet builds quietly with any schema content: only the
    key can tell the two schema files apart, so the key is what is asserted (a miss runs the build again)."""
    root = write_tree(
        tmp_path / "repo",
        {
            "base/app/kustomization.yaml": "resources: [cm.yaml]\n",
            "base/app/cm.yaml": APP,
            "overlays/one/kustomization.yaml": "resources: [../../base/app]\nopenapi: {path: ../../data/schema.json}\n",
            "data/schema.json": '{"definitions": {}}\n',
        },
    ).resolve()
    builds: list[str] = []

    def build() -> str:
        builds.append("built")
        return kustomize.build(root / "overlays/one")

    store = cache.RenderCache(tmp_path / "cache" / "render")
    cache.RunCache(store, kustomize, Tree(root)).build("overlays/one", build)
    cache.RunCache(store, kustomize, Tree(root)).build("overlays/one", build)
    assert len(builds) == 1  # the second was a hit
    (root / "data/schema.json").write_text('{"definitions": {"x": {"type": "object"}}}\n')
    cache.RunCache(store, kustomize, Tree(root)).build("overlays/one", build)
    assert len(builds) == 2
