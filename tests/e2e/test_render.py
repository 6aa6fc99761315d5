"""gitops render on small real kustomize trees."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.kustomize import Kustomize, build_error, find_kustomize
from gitops.render import render_targets
from gitops.target_selection import discover, select
from gitops.targets import Tree
from tests.helpers import assert_one_line_error, run_gitops, write_tree

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ghcr.io/mastodon/mastodon
        envFrom:
        - configMapRef: {name: env}
"""

TREE = {
    "base/app/kustomization.yaml": """
        resources: [deployment.yaml]
        configMapGenerator:
        - name: env
          literals: [A=1]
    """,
    "base/app/deployment.yaml": DEPLOYMENT,
    "overlays/comp/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        images:
        - name: ghcr.io/mastodon/mastodon
          newTag: v4.6.3
    """,
    "overlays/a/kustomization.yaml": """
        namespace: a
        resources: [../../base/app]
        components: [../comp]
    """,
    "overlays/b/kustomization.yaml": """
        namespace: b
        resources: [../../base/app, extra]
    """,
    "overlays/b/extra/kustomization.yaml": """
        resources: [sa.yaml]
    """,
    "overlays/b/extra/sa.yaml": """
        apiVersion: v1
        kind: ServiceAccount
        metadata: {name: extra}
    """,
    "clusters/x/kustomization.yaml": """
        resources: [ns.yaml]
    """,
    "clusters/x/ns.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata: {name: x}
    """,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "repo", TREE)


def test_targets_exclude_bases_components_and_included_directories(repo: Path) -> None:
    assert discover(repo) == ["clusters/x", "overlays/a", "overlays/b"]


def test_select_takes_a_target_or_every_target_below_a_directory(repo: Path) -> None:
    assert select(repo, [str(repo / "overlays")]) == ["overlays/a", "overlays/b"]
    assert select(repo, [str(repo / "overlays/b/")]) == ["overlays/b"]
    with pytest.raises(GitopsError, match="not a render target"):
        select(repo, [str(repo / "base/app")])


def test_render_writes_one_file_per_target_with_kustomize_output(repo: Path, kustomize: Kustomize) -> None:
    proc = run_gitops("render", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # quiet when not on a TTY
    files = sorted(p.relative_to(repo / "rendered").as_posix() for p in (repo / "rendered").rglob("*.yaml"))
    assert files == ["clusters/x.yaml", "overlays/a.yaml", "overlays/b.yaml"]
    a = (repo / "rendered/overlays/a.yaml").read_text()
    assert a == kustomize.build(repo / "overlays/a")
    assert "image: ghcr.io/mastodon/mastodon:v4.6.3" in a
    assert "namespace: a" in a


def test_render_is_deterministic_and_parallel_equals_serial(repo: Path) -> None:
    parallel = render_targets(repo, jobs=4)
    serial = render_targets(repo, jobs=1)
    again = render_targets(repo, jobs=4)
    assert [r.target for r in parallel] == ["clusters/x", "overlays/a", "overlays/b"]
    assert [r.text for r in parallel] == [r.text for r in serial] == [r.text for r in again]

    assert run_gitops("render", "-j", "1", cwd=repo).returncode == 0
    first = {p: p.read_bytes() for p in (repo / "rendered").rglob("*.yaml")}
    assert run_gitops("render", "-j", "3", cwd=repo).returncode == 0
    assert {p: p.read_bytes() for p in (repo / "rendered").rglob("*.yaml")} == first


def test_origins_point_at_source_files_and_do_not_leak(repo: Path) -> None:
    (result_b,) = render_targets(repo, ["overlays/b"], origins=True)
    origins = {m.identity.name.split("-")[0]: m.origin for m in result_b.manifests}
    assert origins == {
        "env": "base/app/kustomization.yaml",
        "web": "base/app/deployment.yaml",
        "extra": "overlays/b/extra/sa.yaml",
    }
    assert "config.kubernetes.io/origin" not in result_b.text
    for manifest in result_b.manifests:
        assert "annotations" not in manifest.body["metadata"]
    plain = render_targets(repo, ["overlays/b"])[0]
    assert [m.body for m in plain.manifests] == [m.body for m in result_b.manifests]


def test_out_dash_writes_one_target_to_stdout(repo: Path, kustomize: Kustomize) -> None:
    proc = run_gitops("render", "overlays/a", "--out", "-", cwd=repo)
    assert proc.returncode == 0
    assert proc.stdout == kustomize.build(repo / "overlays/a")
    assert not (repo / "rendered").exists()
    assert_one_line_error(run_gitops("render", "--out", "-", cwd=repo), "writes one target")


def test_rendering_some_targets_keeps_the_other_files(repo: Path) -> None:
    assert run_gitops("render", cwd=repo).returncode == 0
    (repo / "rendered/clusters/x.yaml").write_text("old\n")
    assert run_gitops("render", "overlays/a", cwd=repo).returncode == 0
    assert (repo / "rendered/clusters/x.yaml").read_text() == "old\n"
    assert run_gitops("render", cwd=repo).returncode == 0  # a full render replaces everything
    assert (repo / "rendered/clusters/x.yaml").read_text() != "old\n"


def test_broken_target_exits_2_naming_it_and_keeps_previous_output(repo: Path) -> None:
    assert run_gitops("render", cwd=repo).returncode == 0
    before = {p: p.read_bytes() for p in (repo / "rendered").rglob("*.yaml")}
    (repo / "overlays/b/kustomization.yaml").write_text("namespace: b\nresources: [../../base/app, missing.yaml]\n")
    proc = run_gitops("render", cwd=repo)
    assert_one_line_error(proc, "overlays/b/kustomization.yaml", "missing.yaml", "no such file")
    assert {p: p.read_bytes() for p in (repo / "rendered").rglob("*.yaml")} == before
    assert not [p for p in repo.iterdir() if p.name.startswith(".rendered")]


def test_reference_outside_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "elsewhere", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
    (repo / "overlays/a/kustomization.yaml").write_text("resources: [../../../elsewhere/cm.yaml]\n")
    assert_one_line_error(
        run_gitops("render", cwd=repo), "overlays/a/kustomization.yaml", "outside the repository root"
    )


def test_symlink_leaving_the_repository_is_refused(repo: Path, tmp_path: Path) -> None:
    write_tree(tmp_path / "elsewhere", {"cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
    os.symlink(tmp_path / "elsewhere/cm.yaml", repo / "overlays/a/cm.yaml")
    (repo / "overlays/a/kustomization.yaml").write_text("resources: [cm.yaml]\n")
    with pytest.raises(GitopsError, match="outside the repository root"):
        Tree(repo).inputs(repo / "overlays/a")


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [https://github.com/example/repo//base?ref=main]\n", "remote reference"),
        ("helmCharts:\n- name: x\n  repo: https://example.org\n", "helmCharts needs --enable-helm"),
        ("resources: [a\n", "not valid YAML"),
        ("- just\n- a list\n", "must be a mapping"),
    ],
)
def test_unsupported_or_invalid_kustomizations_are_refused(repo: Path, kustomization: str, message: str) -> None:
    (repo / "overlays/a/kustomization.yaml").write_text(kustomization)
    assert_one_line_error(run_gitops("render", cwd=repo), "overlays/a/kustomization.yaml", message)


def test_inputs_and_digest_cover_every_file_a_build_reads(repo: Path) -> None:
    tree = Tree(repo)
    rel = sorted(tree.rel(p) for p in tree.inputs(repo / "overlays/b"))
    assert rel == [
        "base/app/deployment.yaml",
        "base/app/kustomization.yaml",
        "overlays/b/extra/kustomization.yaml",
        "overlays/b/extra/sa.yaml",
        "overlays/b/kustomization.yaml",
    ]
    before = tree.digest(repo / "overlays/b")
    assert Tree(repo).digest(repo / "overlays/a") != before
    (repo / "base/app/deployment.yaml").write_text(DEPLOYMENT.replace("web", "api"))
    changed = Tree(repo).digest(repo / "overlays/b")
    assert changed != before
    (repo / "clusters/x/ns.yaml").write_text("changed: true\n")  # not an input of overlays/b
    assert Tree(repo).digest(repo / "overlays/b") == changed


def test_missing_kustomize_is_a_one_line_error(repo: Path, tmp_path: Path) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    os.symlink(sys.executable, empty_bin / "python3")
    proc = run_gitops("render", cwd=repo, env={"PATH": str(empty_bin), "KUSTOMIZE": ""})
    assert_one_line_error(proc, "kustomize not found", "KUSTOMIZE")
    assert not (repo / "rendered").exists()


def test_kustomize_override(repo: Path, tmp_path: Path, kustomize: Kustomize) -> None:
    assert_one_line_error(
        run_gitops("render", cwd=repo, env={"KUSTOMIZE": str(tmp_path / "nope")}),
        "KUSTOMIZE=",
        "no such executable",
    )
    too_old = tmp_path / "kustomize"
    too_old.write_text("#!/bin/sh\necho v4.5.7\n")
    too_old.chmod(0o755)
    assert_one_line_error(run_gitops("render", cwd=repo, env={"KUSTOMIZE": str(too_old)}), "too old")
    found = find_kustomize({"KUSTOMIZE": kustomize.argv[0], "PATH": ""})
    assert found.version == kustomize.version


def test_kubectl_error_lines_are_unwrapped() -> None:
    line = 'E1125 11:55:58.048817    3475 run.go:72] "command failed" err="accumulating resources: \\"x\\" missing"'
    assert build_error("\n" + line + "\nmore\n") == 'accumulating resources: "x" missing'
    assert build_error("Error: something broke\n") == "something broke"


def test_kustomize_runs_without_garbage_collection_unless_the_user_chose() -> None:
    from gitops.kustomize import build_environment

    assert build_environment({"PATH": "/bin"}) == {"PATH": "/bin", "GOGC": "off", "GOMEMLIMIT": "1GiB"}
    assert build_environment({"GOGC": "50"}) == {"GOGC": "50"}
    assert build_environment({"GOMEMLIMIT": "200MiB"})["GOMEMLIMIT"] == "200MiB"


def test_progress_shows_on_a_tty_when_several_targets_render(tmp_path: Path) -> None:
    import pty
    import subprocess

    from gitops.config import load_config
    from gitops.workspace import open_workspace
    from tests.helpers import REPO_ROOT

    primary, secondary = pty.openpty()
    proc = subprocess.run(
        [sys.executable, "-m", "gitops", "-C", str(REPO_ROOT), "render", "--out", str(tmp_path / "out")],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=secondary,
        check=False,
    )
    os.close(secondary)
    shown = os.read(primary, 65536).decode()
    os.close(primary)
    assert proc.returncode == 0
    assert "rendering [1/" in shown
    count = len(open_workspace(REPO_ROOT, load_config(REPO_ROOT)).names)
    assert f"rendering [{count}/{count}]" in shown
    assert len(list((tmp_path / "out").rglob("*.yaml"))) == count


def test_kustomize_version_is_asked_once_per_binary_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitops.kustomize import _version_of

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    calls = tmp_path / "calls"
    binary = tmp_path / "kustomize"
    binary.write_text(f"#!/bin/sh\necho x >> {calls}\necho v5.4.3\n")
    binary.chmod(0o755)
    assert _version_of([str(binary), "version"]) == "5.4.3"
    assert _version_of([str(binary), "version"]) == "5.4.3"
    assert calls.read_text().count("x") == 1
    binary.write_text(f"#!/bin/sh\necho x >> {calls}\necho v5.6.0\n")  # a new build of the binary
    os.utime(binary, ns=(1, 2_000_000_000_000_000_000))
    assert _version_of([str(binary), "version"]) == "5.6.0"
    assert calls.read_text().count("x") == 2


def test_a_named_target_needs_no_walk_of_the_other_targets(tmp_path: Path) -> None:
    """Naming one target reads its own kustomization tree (and the files that could include it), not every
    kustomization: an unrelated overlay that does not even parse does not stop it."""
    root = write_tree(tmp_path, {**TREE, "overlays/broken/kustomization.yaml": "resources: [unclosed\n"})
    proc = run_gitops("render", "overlays/b", "--out", "-", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == find_kustomize().build(root / "overlays/b")
    whole = run_gitops("render", cwd=root)
    assert whole.returncode == 2 and "overlays/broken/kustomization.yaml" in whole.stderr


@pytest.mark.parametrize(
    "output",
    [
        "",
        "\n",
        "# only a comment\n",
        "---\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
        "a:\n",
        "'q': 1\n",
    ],
)
def test_an_empty_build_is_known_from_its_text_as_from_its_parse(tmp_path: Path, output: str) -> None:
    from gitops.render import RenderedTarget

    fast = RenderedTarget("overlays/x", output, tmp_path)
    assert fast.is_empty == (not RenderedTarget("overlays/x", output, tmp_path).manifests)
