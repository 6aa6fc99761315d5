"""Each build field of a Flux Kustomization, as the Kustomization API reference describes it, on a path
without a kustomization file (Flux generates one: every YAML file, recursively; a sub-directory with its own
kustomization file as a whole; .sops.yaml and non-YAML files left out) and on one with a kustomization file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.flux.files import RepoFiles, generated_resources
from gitops.flux.graph import render_flux
from gitops.flux.model import FluxRender
from gitops.kustomize import Kustomize
from tests.flux.helpers import SYNC, copy_fixture, fixture, kinds_and_names, obj, target
from tests.helpers import write_tree

FIELDS = fixture("fields")
OWNER = {"kustomize.toolkit.fluxcd.io/name": "fields", "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}


@pytest.fixture(scope="module")
def fields(kustomize: Kustomize) -> FluxRender:
    result = render_flux(FIELDS, kustomize=kustomize)
    assert result is not None
    return result


def test_generated_resources_follow_flux() -> None:
    root = FIELDS.resolve()
    listed = [p.relative_to(root / "app").as_posix() for p in generated_resources(root / "app", RepoFiles(root))]
    assert listed == ["deploy.yaml", "pkg", "sub/settings.yml"]


def test_every_field_applies(fields: FluxRender) -> None:
    built = target(fields, "clusters/fields/flux-system/fields")
    assert kinds_and_names(built) == {
        ("Deployment", "apps", "pre-web-suf"),
        ("Service", "apps", "pre-web-suf"),
        ("ConfigMap", "apps", "pre-settings-suf"),
        ("ServiceAccount", "apps", "pre-bot-suf"),
        ("ConfigMap", "apps", "pre-extra-suf"),  # from the component
    }
    deployment = obj(built, "Deployment", "pre-web-suf")
    assert deployment == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "pre-web-suf",
            "namespace": "apps",
            "labels": {"team": "web", **OWNER},
            "annotations": {"owner": "ops"},
        },
        "spec": {
            "replicas": 3,  # the JSON6902 patch, targeting the name before the prefix
            "selector": {"matchLabels": {"app": "web"}},  # commonMetadata never touches selectors
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "registry.example.org/nginx:1.27.1"}]},
            },
        },
    }


def test_kustomization_fields_are_modelled(fields: FluxRender) -> None:
    ks = target(fields, "clusters/fields/flux-system/fields").kustomization
    assert (ks.prune, ks.force, ks.wait) == (True, True, False)
    assert ks.flux_fields() == {
        "targetNamespace": "apps",
        "namePrefix": "pre-",
        "nameSuffix": "-suf",
        "commonMetadata": True,
        "patches": 1,
        "images": 2,
        "components": ["../components/extra"],
    }
    existing = target(fields, "clusters/fields/flux-system/existing").kustomization
    assert existing.path == "existing" and existing.source_ref.namespace == "flux-system"


def test_target_namespace_over_an_existing_kustomization(fields: FluxRender) -> None:
    built = target(fields, "clusters/fields/flux-system/existing")
    assert kinds_and_names(built) == {("ConfigMap", "other", "existing")}


def test_entry_without_its_own_kustomization_is_named_flux_system(fields: FluxRender) -> None:
    entry = target(fields, "clusters/fields/flux-system/flux-system")
    assert entry.path == "clusters/fields" and entry.parent is None
    assert {d["metadata"]["name"] for d in entry.documents} == {"fields", "existing"}


def test_remote_component_is_refused(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("fields", tmp_path)
    ks = root / "clusters/fields/ks.yaml"
    ks.write_text(ks.read_text().replace("../components/extra", "https://example.org/c"))
    with pytest.raises(
        GitopsError, match=re.escape("component path 'https://example.org/c' must be local and relative")
    ):
        render_flux(root, kustomize=kustomize)


def test_missing_path_is_an_error(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("fields", tmp_path)
    ks = root / "clusters/fields/ks.yaml"
    ks.write_text(ks.read_text().replace("path: existing", "path: ./gone"))
    with pytest.raises(GitopsError, match=r"clusters/fields/flux-system/existing: spec.path 'gone' not found"):
        render_flux(root, kustomize=kustomize)


def test_invalid_yaml_in_a_generated_path_names_the_file(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("fields", tmp_path)
    (root / "app/sub/broken.yaml").write_text("a: [\n")
    with pytest.raises(GitopsError, match=r"app/sub/broken.yaml:2: not valid YAML"):
        render_flux(root, kustomize=kustomize)


def test_empty_path_builds_nothing_and_warns(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("fields", tmp_path)
    (root / "empty").mkdir()
    ks = root / "clusters/fields/ks.yaml"
    ks.write_text(ks.read_text().replace("path: existing", "path: ./empty"))
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    assert target(result, "clusters/fields/flux-system/existing").documents == []
    assert result.warnings == ["clusters/fields/flux-system/existing: builds to zero documents (empty)"]


def test_repository_is_left_untouched(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("fields", tmp_path)
    before = sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))
    render_flux(root, kustomize=kustomize)
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) == before


V1BETA2_APP = """
    apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
    kind: Kustomization
    metadata: {name: app, namespace: flux-system}
    spec:
      path: ./app
      sourceRef: {kind: GitRepository, name: flux-system}
      patchesStrategicMerge:
      - apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec: {replicas: 3}
      patchesJson6902:
      - target: {group: apps, version: v1, kind: Deployment, name: web}
        patch:
        - {op: add, path: /metadata/annotations, value: {patched: "yes"}}
"""


@pytest.mark.parametrize("with_file", [True, False])
def test_v1beta2_patch_fields_apply(with_file: bool, kustomize: Kustomize, tmp_path: Path) -> None:
    """v1beta2's spec.patchesStrategicMerge and spec.patchesJson6902 (removed in v1; the controller's
    generator writes them into the kustomization), on a path with and without a kustomization file."""
    files = {
        "clusters/c/flux-system/gotk-sync.yaml": SYNC,
        "clusters/c/app.yaml": V1BETA2_APP,
        "app/deploy.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web, namespace: default}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: web, image: nginx}]}
        """,
    }
    if with_file:
        files["app/kustomization.yaml"] = "resources: [deploy.yaml]\n"
    result = render_flux(write_tree(tmp_path / "repo", files), kustomize=kustomize)
    assert result is not None
    deployment = obj(target(result, "clusters/c/flux-system/app"), "Deployment", "web")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["annotations"] == {"patched": "yes"}
    assert target(result, "clusters/c/flux-system/app").kustomization.flux_fields() == {
        "patchesStrategicMerge": 1,
        "patchesJson6902": 1,
    }
