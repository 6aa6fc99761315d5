"""The base side of a diff read from git's objects (CommitFiles), and its fallbacks."""

from __future__ import annotations

import json
import os
import shlex
from pathlib import Path

import pytest

from gitops import git, targets
from gitops.commit_files import commit_files
from gitops.diff.formatters.json_format import as_data
from gitops.diff.refs import diff_refs
from gitops.kustomize import Kustomize
from gitops.target_selection import discover
from gitops.targets import Tree
from tests.diff.support import commit, init_repo
from tests.helpers import assert_one_line_error, run_gitops

APP = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: app}
    data: {SIZE: small}
"""
TREE = {
    "base/app/kustomization.yaml": "resources: [cm.yaml]\n",
    "base/app/cm.yaml": APP,
    "overlays/one/kustomization.yaml": "namespace: one\nresources: [../../base/app, extra.yaml]\n",
    "overlays/one/extra.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: one}\n",
    "overlays/two/kustomization.yaml": "namespace: two\nresources: [../../base/app]\n",
    "overlays/comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n",
    ".hidden/overlays/x/kustomization.yaml": "resources: []\n",
}


def test_commit_files_answer_like_a_checkout(tmp_path: Path) -> None:
    repo_root = init_repo(tmp_path / "repo", TREE)
    repo = git.open_repository(repo_root)
    head = git.resolve(repo, "HEAD")
    listing = git.list_files(repo, head)
    assert not listing.has_links
    with commit_files(repo, head, listing) as files:
        virtual = Tree(files.root, files)
        assert discover(files.root, virtual) == discover(repo_root) == ["overlays/one", "overlays/two"]
        assert files.is_dir(files.root / "base/app") and not files.is_file(files.root / "base/app")
        assert files.read(files.root / "base/app/cm.yaml") == (repo_root / "base/app/cm.yaml").read_bytes()
        on_disk = Tree(repo_root)
        assert virtual.digest(files.root / "overlays/one") == on_disk.digest(repo_root / "overlays/one")
        assert sorted(virtual.rel(p) for p in virtual.inputs(files.root / "overlays/one")) == sorted(
            on_disk.rel(p) for p in on_disk.inputs(repo_root / "overlays/one")
        )
        files.materialize(["overlays/one/extra.yaml"])
        written = sorted(p.relative_to(files.root).as_posix() for p in files.root.rglob("*") if p.is_file())
        assert written == ["overlays/one/extra.yaml"]  # nothing else touches the disk


def test_diff_reads_the_base_from_git_objects_and_renders_only_what_changed(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", TREE)
    commit(repo, {"base/app/cm.yaml": APP.replace("small", "large")})
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    proc = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo, env={"TMPDIR": str(scratch)})
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert [t["target"] for t in data["targets"]] == ["overlays/one", "overlays/two"]
    assert list(scratch.iterdir()) == []  # the base files and kustomize wrappers are gone


def test_a_base_commit_with_symlinks_is_checked_out_for_real(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", TREE)
    os.symlink("cm.yaml", repo / "base/app/link.yaml")
    (repo / "base/app/kustomization.yaml").write_text("resources: [link.yaml]\n")
    commit(repo, message="resource through a symlink")
    base = git.resolve(git.open_repository(repo), "HEAD")
    assert git.list_files(git.open_repository(repo), base).has_links
    (repo / "base/app/cm.yaml").write_text(APP.replace("small", "medium"))
    proc = run_gitops("diff", "--base", base, "-o", "json", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert {t["target"] for t in data["targets"]} == {"overlays/one", "overlays/two"}


def test_a_file_only_a_transformer_config_names_still_counts_as_an_input(tmp_path: Path) -> None:
    files = {
        **TREE,
        "overlays/two/kustomization.yaml": "namespace: two\nresources: [../../base/app]\ntransformers: [size.yaml]\n",
        "overlays/two/size.yaml": """
            apiVersion: builtin
            kind: PatchTransformer
            metadata: {name: size}
            path: patch.yaml
            target: {kind: ConfigMap, name: app}
        """,
        "overlays/two/patch.yaml": APP.replace("small", "medium"),
    }
    repo = init_repo(tmp_path / "repo", files)
    (repo / "overlays/two/patch.yaml").write_text(APP.replace("small", "huge"))  # named nowhere but size.yaml
    proc = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    (target,) = json.loads(proc.stdout)["targets"]
    assert target["target"] == "overlays/two"
    assert "huge" in proc.stdout and "medium" in proc.stdout


def logging_kustomize(tmp_path: Path, kustomize: Kustomize) -> tuple[Path, Path]:
    """A KUSTOMIZE that records each build's directory, then runs the real kustomize on it."""
    log = tmp_path / "builds.log"
    wrapper = tmp_path / "bin" / "kubectl-logging"
    wrapper.parent.mkdir()
    real = " ".join(shlex.quote(part) for part in kustomize.argv)
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = kustomize ]; then\n'
        f'  echo "$2" >> {shlex.quote(str(log))}\n'
        "  shift\n"
        f'  exec {real} "$@"\n'
        "fi\n"
        f"echo 'Kustomize Version: v{kustomize.version}'\n"
    )
    wrapper.chmod(0o755)
    return wrapper, log


def test_a_base_that_fails_to_build_for_its_own_reasons_is_reported_not_rebuilt(
    tmp_path: Path, kustomize: Kustomize
) -> None:
    broken = {
        **TREE,
        "overlays/two/kustomization.yaml": "namespace: two\nresources: [../../base/app]\npatches: [{path: p.yaml}]\n",
        "overlays/two/p.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nope}\n",
    }
    repo = init_repo(tmp_path / "repo", broken)
    (repo / "overlays/two/kustomization.yaml").write_text("namespace: two\nresources: [../../base/app]\n")
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    proc = run_gitops("diff", "--base", "main", cwd=repo, env={"KUSTOMIZE": str(wrapper)})
    assert_one_line_error(proc, "base main", "overlays/two", "kustomize build failed", "nope")
    assert len(log.read_text().splitlines()) == 2  # one build per side: no second try from a full checkout


def test_a_base_missing_an_unlisted_file_is_built_again_from_a_full_checkout(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The walk lists every file kustomize reads that we know of (openapi schemas, and any file a plugin config
    names: tests/cache/test_plugin_inputs.py), so no repository of ours reaches this fallback. It exists for a
    config field a later kustomize adds: the test makes the walk blind to plugin config fields, as it would be
    to such a field; the written base then lacks the patch, the real kustomize fails on it (the preflight
    cannot see it), and the base is built again from a real checkout.

    (A listed file that is missing is the preflight's business, before any build: MissingInputError too.)"""
    files = {
        **TREE,
        "overlays/two/kustomization.yaml": "namespace: two\nresources: [../../base/app]\ntransformers: [size.yaml]\n",
        "overlays/two/size.yaml": """
            apiVersion: builtin
            kind: PatchTransformer
            metadata: {name: size}
            path: ../../patches/size.yaml
            target: {kind: ConfigMap, name: app}
        """,
        "patches/size.yaml": APP.replace("small", "medium"),
    }
    repo = init_repo(tmp_path / "repo", files)
    kustomization = repo / "overlays/two/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("namespace: two", "namespace: deux"))
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    monkeypatch.setattr(targets, "_strings_in", lambda documents: [])
    assert "patches/size.yaml" not in {
        p.relative_to(repo.resolve()).as_posix() for p in Tree(repo).inputs(repo.resolve() / "overlays/two")
    }
    result = diff_refs(repo, "main", kustomize=Kustomize((str(wrapper), "kustomize"), kustomize.version))
    assert len(log.read_text().splitlines()) == 3  # head once; base from the written inputs, then in full
    (target,) = as_data(result)["targets"]
    assert target["target"] == "overlays/two"
    assert {r["status"] for r in target["resources"]} == {"added", "removed"}  # moved from namespace two to deux


def test_an_edited_overlay_is_compared_without_any_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a changed file holding Flux's markers, or an added or removed path, can make the base a Flux
    repository: an edit of an overlay reads the base from git objects alone."""
    repo = init_repo(tmp_path / "repo", TREE)
    (repo / "overlays/two/kustomization.yaml").write_text("namespace: zwei\nresources: [../../base/app]\n")
    (repo / "rendered/overlays").mkdir(parents=True)  # untracked render output: never a reason either
    (repo / "rendered/overlays/two.yaml").write_text("kind: Anything\n")

    def no_checkout(*args: object) -> None:
        raise AssertionError("the base was checked out")

    monkeypatch.setattr(git, "checkout", no_checkout)
    result = diff_refs(repo, "main")
    assert [t.target for t in result.targets] == ["overlays/two"]
    assert result.rendered == ["overlays/two"]


def test_existing_answers_which_paths_a_commit_holds(tmp_path: Path) -> None:
    repo_root = init_repo(tmp_path / "repo", TREE)
    repo = git.open_repository(repo_root)
    head = git.resolve(repo, "HEAD")
    paths = ["base/app/cm.yaml", "base/app", "not/there.yaml", "overlays/*/kustomization.yaml"]
    assert git.existing(repo, head, paths) == {"base/app/cm.yaml"}
    assert git.existing(repo, head, []) == set()


@pytest.mark.parametrize("command", ["render", "check"])
@pytest.mark.parametrize(
    "edit",
    [
        ("overlays/two/kustomization.yaml", "namespace: zwei\nresources: [../../base/app]\n"),
        ("base/app/cm.yaml", APP.replace("small", "large")),
        ("overlays/one/extra.yaml", "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: eins}\n"),
        ("overlays/two/kustomization.yaml", "namespace: two\nresources: [../../base/app, ../one/extra.yaml]\n"),
    ],
)
def test_a_diff_after_a_render_or_check_equals_one_without_any_cache(
    tmp_path: Path, command: str, edit: tuple[str, str]
) -> None:
    """A render or check leaves a record of the working tree (render_record); the next diff takes the targets
    and their inputs from it instead of walking them all. Its report is the one a run without cache gives."""
    repo = init_repo(tmp_path / "repo", TREE)
    first = run_gitops(command, cwd=repo)
    assert first.returncode in (0, 1), first.stderr
    assert list((Path(os.environ["GITOPS_CACHE_DIR"]) / "records").glob("*.json")), "a record was left"
    (repo / edit[0]).write_text(edit[1], encoding="utf-8")
    with_record = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo)
    without = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo, env={"GITOPS_NO_CACHE": "1"})
    assert with_record.returncode == without.returncode == 1, (with_record.stderr, without.stderr)
    assert json.loads(with_record.stdout) == json.loads(without.stdout)
