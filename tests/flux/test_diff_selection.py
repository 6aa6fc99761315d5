"""The Flux diff renders only the targets that can differ (diff.flux.render_sides); on real temporary git
repositories, its result equals the result of rendering both sides whole, for every kind of change that can
reach a target: its files, a shared base, a file added where Flux generates the kustomization, its
Kustomization object (also through the parent's substitution), its substituteFrom objects, and targets
added, removed or moved. Each case also checks that the targets the change cannot reach were not rendered.

Layout: clusters/{a,b} (bootstrap's flux-system; cluster-vars; Kustomization `tenants` building
tenants/<cluster> with postBuild.substitute TEAM_NS), whose Kustomizations are `web` (an overlay of a shared
base using ${DOMAIN} from cluster-vars), `plain` (a directory without kustomization file, shared by both
clusters) and `other` (targetNamespace ${TEAM_NS}, set by the parent's substitution).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitops.diff import flux as diff_flux
from gitops.diff.model import DiffResult
from gitops.diff.refs import diff_refs
from gitops.errors import GitopsError
from tests.diff.support import commit, init_repo
from tests.flux.helpers import flux_kustomization


def _sync(cluster: str) -> str:
    return f"""apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {{name: flux-system, namespace: flux-system}}
spec: {{interval: 1m, url: https://example.org/repo.git}}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {{name: flux-system, namespace: flux-system}}
spec:
  path: ./clusters/{cluster}
  sourceRef: {{kind: GitRepository, name: flux-system}}
"""


def _ks(name: str, path: str, extra: str = "") -> str:
    """One Flux Kustomization document (`---` first), unindented as this module's files are written."""
    return textwrap.dedent(flux_kustomization(name, path, extra)).lstrip("\n")


def _vars(domain: str) -> str:
    return f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: cluster-vars, namespace: flux-system}}
data: {{DOMAIN: {domain}}}
"""


def _tenants(cluster: str, team: str) -> str:
    return _ks("tenants", f"./tenants/{cluster}", f"  postBuild:\n    substitute: {{TEAM_NS: {team}}}\n")


def _children(cluster: str, web_path: str | None = None) -> str:
    substitute_from = "  postBuild:\n    substituteFrom:\n    - {kind: ConfigMap, name: cluster-vars}\n"
    return (
        _ks("web", web_path or f"./apps/web/{cluster}", substitute_from)
        + _ks("plain", "./apps/plain")
        + _ks("other", f"./apps/other/{cluster}", "  targetNamespace: ${TEAM_NS}\n")
    )


def _cm(name: str, value: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: '{value}'}}\n"


def _files() -> dict[str, str]:
    files = {
        "apps/web/base/kustomization.yaml": "resources: [cm.yaml]\n",
        "apps/web/base/cm.yaml": _cm("web", "https://${DOMAIN}"),
        "apps/plain/cm.yaml": _cm("plain", "p"),
        "apps/plain/second.yaml": _cm("second", "s"),
        "README.md": "synthetic\n",
    }
    for cluster in ("a", "b"):
        files |= {
            f"clusters/{cluster}/flux-system/gotk-sync.yaml": _sync(cluster),
            f"clusters/{cluster}/vars.yaml": _vars(f"{cluster}.example.org"),
            f"clusters/{cluster}/tenants.yaml": _tenants(cluster, "team1"),
            f"tenants/{cluster}/ks.yaml": _children(cluster),
            f"apps/web/{cluster}/kustomization.yaml": "resources: [../base]\nnamespace: web\n",
            f"apps/other/{cluster}/kustomization.yaml": "resources: [cm.yaml]\n",
            f"apps/other/{cluster}/cm.yaml": _cm("other", cluster),
        }
    return files


def _names(cluster: str, *names: str) -> set[str]:
    return {f"clusters/{cluster}/flux-system/{name}" for name in names}


INTERIOR = _names("a", "flux-system", "tenants") | _names("b", "flux-system", "tenants")

CASES: dict[str, tuple[dict[str, str], tuple[str, ...], set[str]]] = {
    # case: (files written, files removed, leaves that must be rendered on a side)
    "substitute-from configmap": ({"clusters/a/vars.yaml": _vars("new.example.org")}, (), _names("a", "web")),
    "own file": ({"apps/other/b/cm.yaml": _cm("other", "changed")}, (), _names("b", "other")),
    "shared base": (
        {"apps/web/base/cm.yaml": _cm("web", "http://${DOMAIN}")},
        (),
        _names("a", "web") | _names("b", "web"),
    ),
    "file added to a generated directory": (
        {"apps/plain/more.yaml": _cm("more", "m")},
        (),
        _names("a", "plain") | _names("b", "plain"),
    ),
    "file removed from a generated directory": (
        {},
        ("apps/plain/cm.yaml",),
        _names("a", "plain") | _names("b", "plain"),
    ),
    "added kustomization": (
        {"tenants/a/ks.yaml": _children("a") + _ks("extra", "./apps/other/b")},
        (),
        _names("a", "extra"),
    ),
    "removed kustomization": (
        {"tenants/b/ks.yaml": "---".join(_children("b").split("---")[:3])},
        (),
        _names("b", "other"),
    ),
    "changed spec.path": ({"tenants/b/ks.yaml": _children("b", "./apps/web/a")}, (), _names("b", "web")),
    "parent substitution changes a child": (
        {"clusters/a/tenants.yaml": _tenants("a", "team2")},
        (),
        _names("a", "other"),
    ),
    "unrelated file": ({"README.md": "changed\n"}, (), set()),
    "a leaf becomes a parent": (
        {
            "apps/other/a/nested.yaml": _ks("nested", "./apps/plain"),
            "apps/other/a/kustomization.yaml": "resources: [cm.yaml, nested.yaml]\n",
        },
        (),
        _names("a", "other"),  # nested lands in team1 (targetNamespace), away from its source: skipped
    ),
}


def _key(result: DiffResult) -> tuple[object, ...]:
    return (result.targets, result.unchanged, result.skipped)


@pytest.mark.parametrize("case", sorted(CASES))
def test_selective_diff_equals_whole_render(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    written, removed, must_render = CASES[case]
    root = init_repo(tmp_path / "repo", _files())
    commit(root, written, removed)
    fast = diff_refs(root, "main", "HEAD")
    monkeypatch.setattr(diff_flux, "_plan", lambda *args: None)
    slow = diff_refs(root, "main", "HEAD")
    assert _key(fast) == _key(slow)
    assert set(fast.rendered) == INTERIOR | must_render
    assert set(slow.rendered) > set(fast.rendered)


def test_a_change_is_seen_in_the_working_tree_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = init_repo(tmp_path / "repo", _files())
    (root / "apps/other/a/cm.yaml").write_text(_cm("other", "edited"), encoding="utf-8")
    fast = diff_refs(root, "main")
    assert [t.target for t in fast.targets] == ["clusters/a/flux-system/other"]
    assert set(fast.rendered) == INTERIOR | _names("a", "other")


def test_a_changed_symlink_renders_both_sides_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = init_repo(tmp_path / "repo", _files())
    (root / "apps/plain/link.yaml").symlink_to("../other/a/cm.yaml")
    commit(root)
    result = diff_refs(root, "main", "HEAD")
    assert len(result.rendered) == 10
    assert [t.target for t in result.targets] == sorted(_names("a", "plain") | _names("b", "plain"))


def test_a_leaf_failing_to_build_names_the_side_and_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = init_repo(tmp_path / "repo", _files())
    commit(
        root,
        {
            "apps/other/a/kustomization.yaml": "resources: [cm.yaml, again.yaml]\n",
            "apps/other/a/again.yaml": _cm("other", "a second object with the same id"),
        },
    )
    with pytest.raises(GitopsError) as raised:
        diff_refs(root, "main", "HEAD")
    assert str(raised.value).startswith("head HEAD: clusters/a/flux-system/other: kustomize build failed")
