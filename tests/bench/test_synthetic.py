"""The synthetic hosting repository of the render benchmark builds with the real kustomize, one host per instance."""

from __future__ import annotations

from pathlib import Path

from gitops.bench.synthetic import write_synthetic_repo
from gitops.render import render_targets
from tests.helpers import REPO_ROOT


def test_each_instance_routes_its_own_domain(tmp_path: Path) -> None:
    targets = write_synthetic_repo(REPO_ROOT, tmp_path / "synthetic", 2)
    results = render_targets(tmp_path / "synthetic", targets)
    for index, result in enumerate(results):
        routes = [m.body for m in result.manifests if m.identity.kind == "HTTPRoute"]
        assert {r["metadata"]["name"] for r in routes} == {"mastodon-web", "mastodon-streaming"}
        assert {h for r in routes for h in r["spec"]["hostnames"]} == {f"instance-{index:03d}.hosting.example"}
