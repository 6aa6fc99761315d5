"""flux.gather: the objects of a build that only gathers files, read without kustomize, equal kustomize's own
output (the real kustomize is the oracle); anything that transforms, and any doubt, leaves the build to
kustomize, and listing then shows what kustomize made."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gitops.flux import gather
from gitops.flux.build import build_documents, scratch_space
from gitops.flux.files import RepoFiles
from gitops.flux.gather import gathered_documents
from gitops.flux.graph import open_flux
from gitops.flux.objects import FluxKustomization, SourceRef
from gitops.kustomize import Kustomize
from gitops.targets import Tree
from tests.flux.helpers import SYNC, flux_kustomization, patching_apps, substituting_from_vars
from tests.helpers import run_gitops

KUSTOMIZATION = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
SOURCE = SourceRef("GitRepository", "flux-system", "flux-system")


def _config_map(name: str, namespace: str = "default") -> str:
    return f"""
        apiVersion: v1
        kind: ConfigMap
        metadata: {{name: {name}, namespace: {namespace}}}
        data: {{key: "value", count: "3"}}
    """


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root.resolve()


def _both(root: Path, path: str, kustomize: Kustomize, **fields: Any) -> tuple[Any, list[dict[str, Any]]]:
    """(gathered documents, kustomize's documents) for a Flux Kustomization of `path`."""
    ks = FluxKustomization("k", "flux-system", SOURCE, path, **fields)
    directory = root / path
    files = RepoFiles(root)
    gathered = gathered_documents(ks, directory, files, Tree(root))
    with scratch_space() as scratch:
        built = build_documents(
            ks, directory, files=files, scratch=scratch, kustomize=kustomize, label="k", origins=False
        )
    return gathered, built.documents


def _canonical(documents: list[dict[str, Any]]) -> list[str]:
    """Order aside (kustomize sorts by kind): the same objects."""
    return sorted(json.dumps(doc, sort_keys=True) for doc in documents)


# Spellings kustomize reads as plain YAML like any other: CRLF line ends, anchors and aliases, comments around
# document markers, an explicit document end, flow style, quoted keys, non-ASCII text.
_UNUSUAL_SPELLINGS = (
    "# leading comment\r\n---\r\napiVersion: v1\r\nkind: ConfigMap\r\nmetadata: {name: crlf, namespace: default}\r\n"
    "data: {a: 'b'}\r\n---\r\n"
    + textwrap.dedent(
        """
        # between documents
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: anchored
          namespace: default
          labels: &labels {app: web, "quoted key": "value"}
          annotations: *labels
        data:
          text: "grüße, 世界"
          block: |
            line one
            line two
        ...
        ---
        {apiVersion: v1, kind: ConfigMap, metadata: {name: flow, namespace: default}, data: {n: "3"}}
        """
    )
)

GATHERING_LAYOUTS = {
    "bootstrap": (
        "clusters/c/flux-system",
        {
            "clusters/c/flux-system/kustomization.yaml": KUSTOMIZATION
            + "resources: [gotk-components.yaml, gotk-sync.yaml]\n",
            "clusters/c/flux-system/gotk-components.yaml": """
                apiVersion: v1
                kind: Namespace
                metadata: {name: flux-system}
                ---
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: source-controller, namespace: flux-system}
                spec:
                  selector: {matchLabels: {app: source-controller}}
                  template:
                    metadata: {labels: {app: source-controller}}
                    spec: {containers: [{name: manager, image: "ghcr.io/fluxcd/source-controller:v1.7.0"}]}
            """,
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
        },
    ),
    "generated": (
        "clusters/c",
        {
            "clusters/c/flux-system/kustomization.yaml": KUSTOMIZATION + "resources: [gotk-sync.yaml]\n",
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/apps.yaml": flux_kustomization("apps", "./apps", "prune: true\ndependsOn: [{name: infra}]"),
            "clusters/c/vars/cluster-vars.yaml": _config_map("cluster-vars", "flux-system"),
            "clusters/c/vars/deeper/infra.yaml": flux_kustomization("infra", "./infra"),
            "apps/cm.yaml": _config_map("app"),
            "infra/cm.yaml": _config_map("infra"),
        },
    ),
    "unusual spellings": (
        "clusters/c",
        {
            "clusters/c/kustomization.yaml": KUSTOMIZATION + "resources: [objects.yaml]\n",
            "clusters/c/objects.yaml": _UNUSUAL_SPELLINGS,
        },
    ),
    "nested resource directories": (
        "clusters/c",
        {
            "clusters/c/kustomization.yaml": KUSTOMIZATION + "resources: [flux-system, apps]\n",
            "clusters/c/flux-system/kustomization.yaml": KUSTOMIZATION + "resources: [gotk-sync.yaml]\n",
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/apps/kustomization.yaml": KUSTOMIZATION + "resources: [a.yaml, ../../shared/b.yaml]\n",
            "clusters/c/apps/a.yaml": flux_kustomization("a", "./a"),
            "clusters/shared/b.yaml": _config_map("b"),
        },
    ),
}


@pytest.mark.parametrize("layout", sorted(GATHERING_LAYOUTS))
def test_gathered_objects_equal_kustomize_output(layout: str, kustomize: Kustomize, tmp_path: Path) -> None:
    path, files = GATHERING_LAYOUTS[layout]
    root = _write(tmp_path / "repo", files)
    gathered, built = _both(root, path, kustomize)
    assert gathered is not None
    assert _canonical(gathered) == _canonical(built)


NOT_GATHERING = {
    "a namespace transformer": {"kustomization.yaml": KUSTOMIZATION + "namespace: other\nresources: [cm.yaml]\n"},
    "common labels": {"kustomization.yaml": KUSTOMIZATION + "commonLabels: {a: b}\nresources: [cm.yaml]\n"},
    "a patch": {
        "kustomization.yaml": KUSTOMIZATION
        + "resources: [cm.yaml]\npatches:\n- patch: '[{op: add, path: /data/x, value: y}]'\n"
        + "  target: {kind: ConfigMap}\n"
    },
    "a transformer below": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [sub]\n",
        "sub/kustomization.yaml": KUSTOMIZATION + "namePrefix: p-\nresources: [../cm.yaml]\n",
    },
    "a component": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml]\ncomponents: [comp]\n",
        "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
    },
    "a List": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [list.yaml]\n",
        "list.yaml": "apiVersion: v1\nkind: ConfigMapList\nitems: []\n",
    },
    "an object without a name": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml, anonymous.yaml]\n",
        "anonymous.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: default}\n",
    },
    "the same object twice": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml, again.yaml]\n",
        "again.yaml": _config_map("cm"),
    },
    "a missing resource": {"kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml, missing.yaml]\n"},
    "a remote resource": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [https://github.com/example/repo//base?ref=v1]\n"
    },
    "a file that does not parse": {"broken.yaml": "apiVersion: v1\nkind: [ConfigMap\n"},
    "a cycle": {
        "kustomization.yaml": KUSTOMIZATION + "resources: [cm.yaml, sub]\n",
        "sub/kustomization.yaml": KUSTOMIZATION + "resources: [..]\n",
    },
    "a value Go reads differently": {
        "flags.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flags}\ndata: {enabled: yes}\n"
    },
}


@pytest.mark.parametrize("case", sorted(NOT_GATHERING))
def test_builds_that_transform_or_fail_are_left_to_kustomize(case: str, tmp_path: Path) -> None:
    root = _write(
        tmp_path / "repo", {"app/cm.yaml": _config_map("cm"), **{f"app/{k}": v for k, v in NOT_GATHERING[case].items()}}
    )
    ks = FluxKustomization("k", "flux-system", SOURCE, "app")
    assert gathered_documents(ks, root / "app", RepoFiles(root), Tree(root)) is None


def test_flux_build_fields_are_left_to_kustomize(tmp_path: Path) -> None:
    root = _write(tmp_path / "repo", {"app/cm.yaml": _config_map("cm")})
    plain = FluxKustomization("k", "flux-system", SOURCE, "app")
    moved = FluxKustomization("k", "flux-system", SOURCE, "app", target_namespace="elsewhere")
    assert gathered_documents(plain, root / "app", RepoFiles(root), Tree(root)) is not None
    assert gathered_documents(moved, root / "app", RepoFiles(root), Tree(root)) is None


def test_much_unparsed_text_is_left_to_kustomize(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _write(tmp_path / "repo", {"app/cm.yaml": _config_map("cm")})
    ks = FluxKustomization("k", "flux-system", SOURCE, "app")
    monkeypatch.setattr(gather, "MAX_UNPARSED_BYTES", 10)
    files = RepoFiles(root)
    assert gathered_documents(ks, root / "app", files, Tree(root)) is None
    files.documents(root / "app/cm.yaml")  # parsed already (as discovery parses files with Flux's markers)
    assert gathered_documents(ks, root / "app", files, Tree(root)) is not None


def test_listing_shows_what_the_entry_kustomization_patches(tmp_path: Path) -> None:
    """The cluster's kustomization patches `apps`' spec.path: as Flux applies it, `apps` builds ./apps/real."""
    root = _write(
        tmp_path / "repo",
        {
            "gitops.yaml": "",
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/kustomization.yaml": patching_apps("replace", "/spec/path", "./apps/real"),
            "clusters/c/apps.yaml": flux_kustomization("apps", "./apps/as-written"),
            "apps/real/cm.yaml": _config_map("real"),
            "apps/as-written/cm.yaml": _config_map("as-written"),
        },
    )
    proc = run_gitops("render", "--list", cwd=root, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    [apps] = [line for line in proc.stdout.splitlines() if line.startswith("clusters/c/flux-system/apps ")]
    assert "apps/real" in apps and "as-written" not in apps


def test_listing_fails_where_kustomize_fails(tmp_path: Path) -> None:
    """Two files of the cluster define the same ConfigMap: kustomize refuses the build, so does the listing."""
    root = _write(
        tmp_path / "repo",
        {
            "gitops.yaml": "",
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/one.yaml": _config_map("twice"),
            "clusters/c/two.yaml": _config_map("twice"),
        },
    )
    proc = run_gitops("render", "--list", cwd=root, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 2
    assert "clusters/c" in proc.stderr and "Traceback" not in proc.stderr


def test_listing_leaves_the_parsed_files_as_written(kustomize: Kustomize, tmp_path: Path) -> None:
    """Flux's owner labels go on the listed targets' objects, not on the documents parsed from the files."""
    path, layout = GATHERING_LAYOUTS["generated"]
    root = _write(tmp_path / "repo", layout)
    files = RepoFiles(root)
    with open_flux(root, [path], kustomize=kustomize, defer_leaves=True, gather=True, files=files) as graph:
        assert graph is not None
        listed = graph.result()
    assert any(t.name == "clusters/c/flux-system/apps" for t in listed.targets)
    [written] = [d for d in files.documents(root / "clusters/c/apps.yaml") if d]
    assert "labels" not in written["metadata"]


def test_listing_finds_kustomize_only_when_a_build_needs_it(tmp_path: Path) -> None:
    """Every build of the first repository only gathers files: it lists without kustomize. The second one's
    entry patches its Kustomization: the listing needs kustomize and says it is missing."""
    gathering = _write(
        tmp_path / "gathering",
        {
            "gitops.yaml": "",
            "clusters/c/flux-system/gotk-sync.yaml": SYNC,
            "clusters/c/apps.yaml": flux_kustomization("apps", "./apps"),
            "apps/cm.yaml": _config_map("app"),
        },
    )
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "KUSTOMIZE": str(tmp_path / "no-kustomize")}
    proc = run_gitops("render", "--list", cwd=gathering, env=env)
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()] == [
        "clusters/c/flux-system/apps",
        "clusters/c/flux-system/flux-system",
    ]
    (gathering / "clusters/c/kustomization.yaml").write_text(
        KUSTOMIZATION + "resources: [flux-system/gotk-sync.yaml, apps.yaml]\nnamePrefix: team-\n", encoding="utf-8"
    )
    proc = run_gitops("render", "--list", cwd=gathering, env=env)
    assert proc.returncode == 2
    assert "no-kustomize" in proc.stderr and "Traceback" not in proc.stderr


def test_listing_substitutes_what_kustomize_reads(tmp_path: Path) -> None:
    """`vars` renders a ConfigMap saying `ENV: on`, unquoted: a boolean to YAML 1.1, the string "on" to Go's
    YAML, so Flux substitutes `on` into the spec.path of `apps`' child."""
    root = _write(
        tmp_path / "repo",
        {
            "gitops.yaml": "",
            **substituting_from_vars("apps", "./apps", "{ENV: on}"),
            "apps/ks.yaml": flux_kustomization("app", "./app/${ENV}"),
            "app/on/cm.yaml": _config_map("app"),
        },
    )
    proc = run_gitops("render", "--list", cwd=root, env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert proc.returncode == 0, proc.stderr
    [app] = [line for line in proc.stdout.splitlines() if line.startswith("clusters/c/flux-system/app ")]
    assert "path=app/on" in app
