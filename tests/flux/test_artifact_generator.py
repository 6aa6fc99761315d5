"""The Flux 2.7 layout of fluxcd/flux2-kustomize-helm-example: bootstrap placeholders in clusters/<name>/flux-system
and Kustomizations building from ExternalArtifacts that an ArtifactGenerator copies out of this repository.

Expected values follow from the source-watcher ArtifactGenerator docs: `@alias/dir/**` copied to
`@artifact/sub/` puts the files under dir at sub/, so `@monorepo/apps/base/**` -> `@artifact/base/` and
`@monorepo/apps/production/**` -> `@artifact/production/` make an artifact laid out like the repository's apps/;
`path: ./production` in it is apps/production. `flux bootstrap --path=clusters/production` syncs that path.
"""

from __future__ import annotations

from typing import Any

import pytest

from gitops.flux.artifacts import GeneratedArtifact, generated_artifacts
from gitops.flux.clusters import find_clusters
from gitops.flux.graph import render_flux
from gitops.flux.model import FluxRender
from gitops.flux.objects import SourceRef
from gitops.kustomize import Kustomize
from tests.flux.helpers import fixture, obj, target

LAYOUT = fixture("example-artifacts")


@pytest.fixture(scope="module")
def rendered(kustomize: Kustomize) -> FluxRender:
    result = render_flux(LAYOUT, kustomize=kustomize)
    assert result is not None
    return result


def test_bootstrap_placeholders_make_the_cluster_entries() -> None:
    assert find_clusters(LAYOUT.resolve()) == ["clusters/production", "clusters/staging"]


def test_external_artifacts_map_to_the_directories_they_copy(rendered: FluxRender) -> None:
    assert [(t.name, t.path, t.skipped) for t in rendered.targets if t.cluster == "clusters/production"] == [
        ("clusters/production/flux-system/apps", "apps/production", None),
        ("clusters/production/flux-system/flux-system", "clusters/production", None),
        ("clusters/production/flux-system/infra-configs", "infrastructure/configs", None),
        ("clusters/production/flux-system/infra-controllers", "infrastructure/controllers", None),
    ]
    release = obj(target(rendered, "clusters/staging/flux-system/apps"), "HelmRelease", "podinfo")
    assert release["spec"]["chart"]["spec"]["version"] == ">=1.0.0-alpha"


def _artifacts(copies: list[dict[str, Any]], **spec: Any) -> list[GeneratedArtifact]:
    body = {
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "metadata": {"name": "gen", "namespace": "flux-system"},
        "spec": {
            "sources": [
                {"alias": "repo", "kind": "GitRepository", "name": "flux-system"},
                {"alias": "chart", "kind": "OCIRepository", "name": "podinfo"},
            ],
            "artifacts": [{"name": "out", "copy": copies}],
            **spec,
        },
    }

    def source_path(ref: SourceRef) -> str | None:
        return "" if (ref.kind, ref.name, ref.namespace) == ("GitRepository", "flux-system", "flux-system") else None

    return generated_artifacts(body, source_path)


@pytest.mark.parametrize(
    ("copies", "path"),
    [
        ([{"from": "@repo/deploy/**", "to": "@artifact/"}], "deploy"),
        ([{"from": "@repo/deploy/*.yaml", "to": "@artifact/"}], "deploy"),
        (
            [
                {"from": "@repo/apps/base/**", "to": "@artifact/base/"},
                {"from": "@repo/apps/prod/**", "to": "@artifact/prod/"},
            ],
            "apps",
        ),
        # `@alias/dir/` copies the directory itself into the destination
        ([{"from": "@repo/apps/base/", "to": "@artifact/"}], "apps"),
        ([{"from": "@repo/**", "to": "@artifact/"}], ""),
    ],
)
def test_copies_that_keep_the_layout_map_to_one_directory(copies: list[dict[str, Any]], path: str) -> None:
    assert _artifacts(copies) == [GeneratedArtifact("flux-system", "out", path)]


@pytest.mark.parametrize(
    ("copies", "spec", "reason"),
    [
        (
            [{"from": "@repo/config/prod.yaml", "to": "@artifact/app/env.yaml"}],
            {},
            "is not a directory of the artifact",
        ),
        ([{"from": "@repo/config/prod.yaml", "to": "@artifact/app/"}], {}, "copies single files"),
        (
            [{"from": "@repo/a/**", "to": "@artifact/x/"}, {"from": "@repo/b/**", "to": "@artifact/"}],
            {},
            "does not keep",
        ),
        (
            [{"from": "@repo/a/**", "to": "@artifact/"}, {"from": "@repo/b/**", "to": "@artifact/"}],
            {},
            "do not mirror one",
        ),
        ([{"from": "@chart/", "to": "@artifact/"}], {}, "source alias @chart is not a repository path"),
        ([{"from": "@repo/a/**", "to": "@artifact/", "strategy": "Merge"}], {}, "copy strategy Merge"),
        ([{"from": "@repo/apps/{app}/**", "to": "@artifact/"}], {"pathPattern": "@repo/apps/{app}"}, "pathPattern"),
    ],
)
def test_other_copies_leave_the_artifact_unmapped_with_the_reason(
    copies: list[dict[str, Any]], spec: dict[str, Any], reason: str
) -> None:
    (artifact,) = _artifacts(copies, **spec)
    assert artifact.path is None and artifact.reason is not None
    assert artifact.reason.startswith("ArtifactGenerator/flux-system/gen") and reason in artifact.reason
