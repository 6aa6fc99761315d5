"""Listing builds only the targets whose build can yield Flux Kustomizations (flux.inputs), and reads those that
only gather files without kustomize (flux.gather): the targets, their Kustomization objects and listing lines
equal those of a full render, on every fixture and when a parent's substitution needs a ConfigMap only a leaf
provides (then everything is built)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitops.flux.graph import open_flux, render_flux
from gitops.flux.inputs import cannot_yield_kustomization
from gitops.flux.model import FluxRender
from gitops.flux.rendering import listing_line
from gitops.kustomize import Kustomize
from tests.flux.helpers import SYNC, fixture, flux_kustomization, patching_apps, substituting_from_vars
from tests.helpers import run_gitops


def _listed(root: Path, kustomize: Kustomize) -> FluxRender:
    """As `render --list` opens the graph: leaves deferred, gathering builds read without kustomize."""
    with open_flux(root, kustomize=kustomize, defer_leaves=True, gather=True) as graph:
        assert graph is not None
        return graph.result()


def _same_targets(listed: FluxRender, full: FluxRender) -> None:
    assert [t.name for t in listed.targets] == [t.name for t in full.targets]
    for fast, slow in zip(listed.targets, full.targets, strict=True):
        assert (fast.kustomization, fast.path, fast.parent, fast.skipped) == (
            slow.kustomization,
            slow.path,
            slow.parent,
            slow.skipped,
        )
        assert listing_line(fast) == listing_line(slow)


@pytest.mark.parametrize(
    ("name", "unbuilt"),
    [
        (
            "example",
            {
                f"clusters/{c}/flux-system/{n}"
                for c in ("production", "staging")
                for n in ("apps", "infra-configs", "infra-controllers")
            },
        ),
        (
            "example-artifacts",
            {
                f"clusters/{c}/flux-system/{n}"
                for c in ("production", "staging")
                for n in ("apps", "infra-configs", "infra-controllers")
            },
        ),
        ("operator", {"kubernetes/flux/cluster/flux-system/podinfo-extras"}),
        ("fields", {"clusters/fields/flux-system/existing", "clusters/fields/flux-system/fields"}),
        ("substitution", set()),
    ],
)
def test_listing_equals_full_render_on_fixtures(
    name: str, unbuilt: set[str], kustomize: Kustomize, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    listed = _listed(fixture(name), kustomize)
    full = render_flux(fixture(name), kustomize=kustomize)
    assert full is not None
    _same_targets(listed, full)
    assert {t.name for t in listed.targets if t.unbuilt} == unbuilt
    assert not any(t.unbuilt for t in full.targets)
    assert all(not t.documents for t in listed.targets if t.unbuilt)


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def test_parent_substituting_from_a_leaf_is_listed_as_rendered(
    kustomize: Kustomize, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`apps` substitutes its children's spec.path from a ConfigMap only the leaf `vars` renders."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = _write(
        tmp_path / "repo",
        {
            **substituting_from_vars("apps", "./apps", "{env: prod}"),
            "apps/ks.yaml": flux_kustomization("app", "./app/${env}"),
            "app/prod/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: app}
            """,
        },
    )
    listed = _listed(root, kustomize)
    full = render_flux(root, kustomize=kustomize)
    assert full is not None
    _same_targets(listed, full)
    assert [t.path for t in listed.targets if t.key == "flux-system/app"] == ["app/prod"]


@pytest.mark.parametrize(
    ("text", "leaf"),
    [
        ("apiVersion: v1\nkind: ConfigMap\n", True),
        ("- apiVersion: apps/v1  # a comment\n", True),
        ('{\n  "apiVersion": "v1",\n  "kind": "ConfigMap"\n}\n', True),
        ("data:\n  note: no api here\n", True),
        ("apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n", False),
        ("apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\n", False),
        ("metadata:\n  labels:\n    kustomize.toolkit.fluxcd.io/name: x\n", False),
        ("apiVersion: ${group}/v1\n", False),
        ('apiVersion: "kustomize\\x2etoolkit\\x2efluxcd\\x2eio/v1"\n', False),
        ("- op: replace\n  path: /apiVersion\n  value: x\n", False),
        ("replacements:\n- targets:\n  - fieldPaths: [apiVersion]\n", False),
        ("{apiVersion: v1, kind: ConfigMap}\n", False),
        ("apiVersion:\n  v1\n", False),
    ],
)
def test_leaf_rule_per_file(text: str, leaf: bool) -> None:
    assert cannot_yield_kustomization(text.encode()) is leaf


def test_unreadable_input_is_not_a_leaf(tmp_path: Path) -> None:
    """A file the leaf test cannot read is left to the build to report: not a leaf."""
    from gitops.flux.files import RepoFiles
    from gitops.flux.inputs import LeafTest
    from gitops.targets import Tree

    assert LeafTest(RepoFiles(tmp_path), Tree(tmp_path))._cannot_yield(tmp_path / "missing.yaml") is False


def test_render_list_cli_equals_full_listing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    proc = run_gitops("render", "--list", cwd=fixture("example"), env={"XDG_CACHE_HOME": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr
    full = render_flux(fixture("example"))
    assert full is not None
    assert proc.stdout.splitlines() == [listing_line(t) for t in full.targets]


def _patched_components_repo(root: Path) -> Path:
    """`apps` as its file writes it builds one ConfigMap (a leaf); the cluster's kustomization patches in a
    component that adds the Flux Kustomization `nested`: as Flux applies it, `apps` is not a leaf."""
    return _write(
        root,
        {
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/kustomization.yaml": patching_apps("add", "/spec/components", "[../extra]"),
            "clusters/c/apps.yaml": flux_kustomization("apps", "./apps/main"),
            "apps/main/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: app, namespace: default}
            """,
            "apps/extra/kustomization.yaml": """
                apiVersion: kustomize.config.k8s.io/v1alpha1
                kind: Component
                resources: [nested.yaml]
            """,
            "apps/extra/nested.yaml": flux_kustomization("nested", "./nested"),
            "nested/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: nested, namespace: default}
            """,
        },
    )


def test_leaf_answers_are_per_components(tmp_path: Path) -> None:
    """Leaf answers are remembered per directory and components: the same path with a component added is
    asked again, not answered from the Kustomization as the file wrote it."""
    from gitops.flux.files import RepoFiles
    from gitops.flux.inputs import LeafTest
    from gitops.flux.objects import FluxKustomization, SourceRef
    from gitops.targets import Tree

    root = _patched_components_repo(tmp_path / "repo").resolve()
    test = LeafTest(RepoFiles(root), Tree(root))
    source = SourceRef("GitRepository", "flux-system", "flux-system")
    as_written = FluxKustomization("apps", "flux-system", source, "apps/main")
    as_applied = FluxKustomization("apps", "flux-system", source, "apps/main", components=("../extra",))
    assert test.leaf_inputs(as_written, root / "apps/main") == {root / "apps/main/cm.yaml"}
    assert test.leaf_inputs(as_applied, root / "apps/main") is None
    assert test.leaf_inputs(as_written, root / "apps/main") == {root / "apps/main/cm.yaml"}


def test_component_patched_in_by_the_parent_is_listed(
    kustomize: Kustomize, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = _patched_components_repo(tmp_path / "repo")
    with open_flux(root, ["clusters/c"], kustomize=kustomize, defer_leaves=True, gather=True) as graph:
        assert graph is not None
        listed = graph.result()
    full = render_flux(root, ["clusters/c"], kustomize=kustomize)
    assert full is not None
    _same_targets(listed, full)
    assert "clusters/c/flux-system/nested" in {t.name for t in listed.targets}


def test_render_list_goes_on_past_a_failed_build(tmp_path: Path) -> None:
    """`apps` cannot be a leaf (its file names Flux's group) and its build fails (a missing resource): the
    listing still shows every other target, names the failure, and exits 2 (the list is incomplete)."""
    root = _write(
        tmp_path / "repo",
        {
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/ks.yaml": flux_kustomization("apps", "./apps") + flux_kustomization("infra", "./infra"),
            "apps/kustomization.yaml": """
                apiVersion: kustomize.config.k8s.io/v1beta1
                kind: Kustomization
                resources: [app.yaml, missing.yaml]
            """,
            "apps/app.yaml": flux_kustomization("app", "./app"),
            "infra/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata: {name: infra, namespace: default}
            """,
        },
    )
    (root / "gitops.yaml").write_text("", encoding="utf-8")  # marks the repository root
    proc = run_gitops("render", "--list", cwd=root, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 2
    listed = [line.split()[0] for line in proc.stdout.splitlines()]
    assert listed == [
        "clusters/c/flux-system/apps",
        "clusters/c/flux-system/flux-system",
        "clusters/c/flux-system/infra",
    ]
    errors = proc.stderr.splitlines()
    assert (
        errors[0].startswith("error: clusters/c/flux-system/apps: kustomize build failed")
        and "missing.yaml" in errors[0]
    )
    assert errors[-1] == (
        "gitops: error: 1 of 3 targets failed to build: the Flux Kustomizations they define are not listed"
    )
