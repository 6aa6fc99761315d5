"""gitops diff end to end: real git repositories, real kustomize, the CLI as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.diff.support import checkout_state, commit, git, init_repo
from tests.helpers import assert_one_line_error, run_gitops

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: ghcr.io/mastodon/mastodon:v4.6.2
        ports:
        - containerPort: 3000
        envFrom:
        - configMapRef: {name: env}
"""

SERVICE_ACCOUNT = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: extra}
"""

TREE = {
    "base/app/kustomization.yaml": """
        resources: [deployment.yaml]
        configMapGenerator:
        - name: env
          literals: [LOCAL_DOMAIN=a.example]
    """,
    "base/app/deployment.yaml": DEPLOYMENT,
    "overlays/a/kustomization.yaml": """
        namespace: a
        resources: [../../base/app]
        images:
        - name: ghcr.io/mastodon/mastodon
          newTag: v4.6.3
    """,
    "overlays/b/kustomization.yaml": """
        namespace: a
        resources: [extra.yaml]
    """,
    "overlays/b/extra.yaml": SERVICE_ACCOUNT,
    "clusters/x/kustomization.yaml": """
        resources: [ns.yaml]
    """,
    "clusters/x/ns.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata: {name: a}
    """,
}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo", TREE)


def diff_json(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    proc = run_gitops("diff", "--base", "main", "-o", "json", *args, cwd=repo)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def resources(data: dict[str, Any], target: str) -> dict[str, dict[str, Any]]:
    (found,) = [t for t in data["targets"] if t["target"] == target]
    return {f"{r['kind']}/{r['name']}": r for r in found["resources"]}


def fields(resource: dict[str, Any]) -> dict[str, tuple[str, Any, Any]]:
    return {f["path"]: (f["change"], f["base"], f["head"]) for f in resource["fields"]}


def test_no_change_exits_0_and_renders_nothing(repo: Path) -> None:
    (repo / "README.md").write_text("not a kustomize input\n")
    code, data = diff_json(repo)
    assert code == 0
    assert data["changed"] is False and data["targets"] == []
    assert data["summary"]["targetsRendered"] == 0 and data["summary"]["targetsUnchanged"] == 3
    text = run_gitops("diff", "--base", "main", cwd=repo)
    assert text.returncode == 0 and "no changes" in text.stdout


def test_image_tag_bump_is_one_field_change_and_only_that_target_renders(repo: Path) -> None:
    commit(repo, {"overlays/a/kustomization.yaml": TREE["overlays/a/kustomization.yaml"].replace("v4.6.3", "v4.6.4")})
    code, data = diff_json(repo, "--base", "HEAD~1", "--head", "HEAD")
    assert code == 1
    assert data["summary"]["targetsRendered"] == 1
    web = resources(data, "overlays/a")["Deployment/web"]
    assert web["status"] == "changed" and web["group"] == "apps" and web["namespace"] == "a"
    assert fields(web) == {
        "spec.template.spec.containers[name=web].image": (
            "changed",
            "ghcr.io/mastodon/mastodon:v4.6.3",
            "ghcr.io/mastodon/mastodon:v4.6.4",
        )
    }
    assert data["base"]["ref"] == "HEAD~1" and data["head"]["ref"] == "HEAD"


def test_replica_change_through_a_patch(repo: Path) -> None:
    overlay = TREE["overlays/a/kustomization.yaml"].rstrip() + "\n        replicas:\n        - {name: web, count: 3}\n"
    commit(repo, {"overlays/a/kustomization.yaml": overlay})
    code, data = diff_json(repo, "--head", "HEAD")
    assert code == 1
    assert fields(resources(data, "overlays/a")["Deployment/web"]) == {"spec.replicas": ("changed", 1, 3)}


def test_new_and_removed_resources(repo: Path) -> None:
    commit(
        repo,
        {
            "overlays/a/kustomization.yaml": TREE["overlays/a/kustomization.yaml"].replace(
                "resources: [../../base/app]", "resources: [../../base/app, sa.yaml]"
            ),
            "overlays/a/sa.yaml": SERVICE_ACCOUNT.replace("extra", "added-sa"),
            "clusters/x/kustomization.yaml": "resources: []\n",
        },
    )
    code, data = diff_json(repo, "--head", "HEAD")
    assert code == 1
    added = resources(data, "overlays/a")["ServiceAccount/added-sa"]
    assert added["status"] == "added" and added["origin"]["head"] == "overlays/a/sa.yaml"
    removed = resources(data, "clusters/x")["Namespace/a"]
    assert removed["status"] == "removed" and removed["namespace"] is None
    assert data["summary"]["resources"] == {"added": 1, "changed": 0, "removed": 1, "moved": 0, "rolling": 0}


def test_resource_moving_between_targets_is_moved_not_added_and_removed(repo: Path) -> None:
    commit(
        repo,
        {
            "overlays/a/kustomization.yaml": TREE["overlays/a/kustomization.yaml"].replace(
                "resources: [../../base/app]", "resources: [../../base/app, extra.yaml]"
            ),
            "overlays/a/extra.yaml": SERVICE_ACCOUNT,
            "overlays/b/kustomization.yaml": "namespace: a\nresources: []\n",
        },
        remove=("overlays/b/extra.yaml",),
    )
    code, data = diff_json(repo, "--head", "HEAD")
    assert code == 1
    assert data["summary"]["resources"] == {"added": 0, "changed": 0, "removed": 0, "moved": 1, "rolling": 0}
    moved = resources(data, "overlays/a")["ServiceAccount/extra"]
    assert moved["status"] == "moved" and moved["movedFrom"] == "overlays/b"
    assert moved["origin"] == {"base": "overlays/b/extra.yaml", "head": "overlays/a/extra.yaml"}
    assert all(t["target"] != "overlays/b" for t in data["targets"])  # nothing left to say about b

    text = run_gitops("diff", "--base", "main", "--head", "HEAD", cwd=repo).stdout
    assert "> ServiceAccount/a/extra (v1)" in text and "moved from target overlays/b" in text


def test_generator_hash_change_is_one_change_and_workloads_roll(repo: Path) -> None:
    commit(repo, {"base/app/kustomization.yaml": TREE["base/app/kustomization.yaml"].replace("a.example", "b.example")})
    code, data = diff_json(repo, "--head", "HEAD")
    assert code == 1
    found = resources(data, "overlays/a")
    assert data["summary"]["resources"] == {"added": 0, "changed": 1, "removed": 0, "moved": 0, "rolling": 1}
    (config,) = [r for r in found.values() if r["kind"] == "ConfigMap"]
    assert config["status"] == "changed"
    assert config["previousName"].startswith("env-") and config["name"].startswith("env-")
    assert config["previousName"] != config["name"]
    assert fields(config) == {"data.LOCAL_DOMAIN": ("changed", "a.example", "b.example")}
    web = found["Deployment/web"]
    assert web["status"] == "rolling" and web["rollsFor"] == ["env"]
    path = "spec.template.spec.containers[name=web].envFrom[0].configMapRef.name"
    assert fields(web) == {path: ("changed", config["previousName"], config["name"])}


def test_api_version_change_within_a_group(repo: Path) -> None:
    hpa = """
        apiVersion: autoscaling/{v}
        kind: HorizontalPodAutoscaler
        metadata: {{name: web}}
        spec:
          scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}
          minReplicas: 1
          maxReplicas: 3
    """
    overlay = TREE["overlays/a/kustomization.yaml"].replace("[../../base/app]", "[../../base/app, hpa.yaml]")
    commit(repo, {"overlays/a/kustomization.yaml": overlay, "overlays/a/hpa.yaml": hpa.format(v="v2beta2")})
    commit(repo, {"overlays/a/hpa.yaml": hpa.format(v="v2")})
    code, data = diff_json(repo, "--base", "HEAD~1", "--head", "HEAD")
    assert code == 1
    change = resources(data, "overlays/a")["HorizontalPodAutoscaler/web"]
    assert change["status"] == "changed" and change["apiVersionChanged"] is True
    assert change["apiVersion"] == {"base": "autoscaling/v2beta2", "head": "autoscaling/v2"}
    assert change["fields"] == []
    text = run_gitops("diff", "--base", "HEAD~1", "--head", "HEAD", cwd=repo).stdout
    assert "apiVersion changed: autoscaling/v2beta2 -> autoscaling/v2" in text


def test_added_and_removed_targets(repo: Path) -> None:
    commit(
        repo,
        {"overlays/c/kustomization.yaml": "resources: [sa.yaml]\n", "overlays/c/sa.yaml": SERVICE_ACCOUNT},
        remove=("clusters/x/kustomization.yaml", "clusters/x/ns.yaml"),
    )
    code, data = diff_json(repo, "--head", "HEAD")
    assert code == 1
    status = {t["target"]: t["status"] for t in data["targets"]}
    assert status == {"overlays/c": "added", "clusters/x": "removed"}


def test_dirty_working_tree_is_the_default_head(repo: Path) -> None:
    (repo / "overlays/a/kustomization.yaml").write_text(
        (repo / "overlays/a/kustomization.yaml")
        .read_text()
        .replace("resources: [../../base/app]", "resources: [../../base/app, new.yaml]")
    )
    (repo / "overlays/a/new.yaml").write_text(SERVICE_ACCOUNT.replace("extra", "untracked"))  # never committed
    code, data = diff_json(repo)
    assert code == 1
    assert data["head"] == {
        "label": "working tree",
        "ref": None,
        "commit": git(repo, "rev-parse", "HEAD").strip(),
        "dirty": True,
    }
    assert resources(data, "overlays/a")["ServiceAccount/untracked"]["status"] == "added"


def test_users_checkout_index_and_stash_are_untouched(repo: Path) -> None:
    (repo / "overlays/b/extra.yaml").write_text(SERVICE_ACCOUNT.replace("extra", "stashed"))
    git(repo, "stash", "push", "-q", "-m", "keep me")
    (repo / "overlays/a/kustomization.yaml").write_text(
        (repo / "overlays/a/kustomization.yaml").read_text().replace("v4.6.3", "v9.9.9")
    )
    git(repo, "add", "overlays/a/kustomization.yaml")  # staged
    (repo / "clusters/x/ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")  # unstaged
    (repo / "scratch.txt").write_text("untracked\n")
    before = checkout_state(repo)
    index_bytes = (repo / ".git/index").read_bytes()
    commit_count = git(repo, "rev-list", "--all", "--count")

    proc = run_gitops("diff", "--base", "main", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert "v9.9.9" in proc.stdout and "Namespace/b" in proc.stdout
    assert checkout_state(repo) == before
    assert (repo / ".git/index").read_bytes() == index_bytes
    assert git(repo, "rev-list", "--all", "--count") == commit_count
    assert not (repo / ".git/worktrees").exists() or not any((repo / ".git/worktrees").iterdir())
    assert len(before["worktrees"].strip().split("\n\n")) == 1


def test_bad_ref_is_one_line_exit_2(repo: Path) -> None:
    proc = run_gitops("diff", "--base", "no-such-branch", cwd=repo)
    assert_one_line_error(proc, "no-such-branch", "no such commit")
    proc = run_gitops("diff", "--base", "main", "--head", "v0.0.0-missing", cwd=repo)
    assert_one_line_error(proc, "v0.0.0-missing")
    proc = run_gitops("diff", "--base", "--upload-pack=touch", cwd=repo)
    assert_one_line_error(proc, "not a valid git ref")


def test_not_a_git_repository_is_one_line_exit_2(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain/gitops.yaml").touch()
    proc = run_gitops("diff", "--base", "main", cwd=tmp_path / "plain")
    assert_one_line_error(proc, "not inside a git repository")


def test_broken_kustomization_on_the_base_side_names_the_side(repo: Path) -> None:
    commit(repo, {"overlays/a/kustomization.yaml": "resources: [missing.yaml]\n"})
    commit(repo, {"overlays/a/kustomization.yaml": TREE["overlays/a/kustomization.yaml"]})
    proc = run_gitops("diff", "--base", "HEAD~1", cwd=repo)
    assert_one_line_error(proc, "base HEAD~1", "overlays/a")
    assert checkout_state(repo)["worktrees"].count("worktree ") == 1


def test_every_output_format_says_what_changed(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"overlays/a/kustomization.yaml": TREE["overlays/a/kustomization.yaml"].replace("v4.6.3", "v4.6.4")})
    assert run_gitops("diff", "--base", "HEAD", "--head", "feature", cwd=repo).returncode == 0  # same commit

    base = git(repo, "rev-parse", "HEAD~1").strip()
    procs = {f: run_gitops("diff", "--base", base, "-o", f, cwd=repo) for f in ("text", "unified", "markdown", "json")}
    assert all(p.returncode == 1 for p in procs.values()), {f: p.stderr for f, p in procs.items()}

    text = procs["text"].stdout
    assert "\033[" not in text  # not a terminal
    assert "overlays/a" in text and "~ Deployment/a/web (apps/v1)" in text
    assert "- ghcr.io/mastodon/mastodon:v4.6.3" in text and "+ ghcr.io/mastodon/mastodon:v4.6.4" in text

    unified = procs["unified"].stdout.splitlines()
    assert unified[0] == "--- a/overlays/a/Deployment/a/web" and unified[1] == "+++ b/overlays/a/Deployment/a/web"
    assert unified[2].startswith("@@ ")
    assert "-        image: ghcr.io/mastodon/mastodon:v4.6.3" in unified
    assert "+        image: ghcr.io/mastodon/mastodon:v4.6.4" in unified
    assert all(line[:1] in ("-", "+", " ", "@", "\\") for line in unified)

    markdown = procs["markdown"].stdout
    assert markdown.startswith("<!-- gitops-diff -->")
    assert "| Target | Added | Changed | Removed | Moved | Rolling |" in markdown
    assert "| `overlays/a` | 0 | 1 | 0 | 0 | 0 |" in markdown
    assert "<details><summary><code>overlays/a</code>: 1 changed</summary>" in markdown
    assert "@@ spec.template.spec.containers[name=web].image @@" in markdown
    assert markdown.count("```diff") == 1 and len(markdown) < 65_000

    data = json.loads(procs["json"].stdout)
    assert data["format"] == "gitops-diff/v1" and data["changed"] is True
    assert data["base"]["commit"] == base and data["head"]["dirty"] is False

    target = tmp_path / "out" / "diff.md"
    proc = run_gitops("diff", "--base", base, "-o", "markdown", "--out-file", str(target), cwd=repo)
    assert proc.returncode == 1 and proc.stdout == ""
    assert target.read_text() == markdown


def test_a_target_pulled_into_another_stops_being_a_target(repo: Path) -> None:
    overlay = TREE["overlays/a/kustomization.yaml"].replace("[../../base/app]", "[../../base/app, ../b]")
    commit(repo, {"overlays/a/kustomization.yaml": overlay})
    code, data = diff_json(repo, "--head", "HEAD")
    assert code == 1
    assert {t["target"]: t["status"] for t in data["targets"]} == {"overlays/a": "changed", "overlays/b": "removed"}
    moved = resources(data, "overlays/a")["ServiceAccount/extra"]
    assert moved["status"] == "moved" and moved["movedFrom"] == "overlays/b"


def test_user_hooks_never_run_in_the_temporary_worktree(repo: Path) -> None:
    hooks = repo / ".git/hooks"
    hooks.mkdir(exist_ok=True)
    marker = repo.parent / "hook-ran"
    hook = hooks / "post-checkout"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    assert run_gitops("diff", "--base", "main", cwd=repo).returncode == 0
    commit(repo, {"overlays/a/kustomization.yaml": TREE["overlays/a/kustomization.yaml"].replace("v4.6.3", "v5")})
    assert run_gitops("diff", "--base", "main", cwd=repo).returncode == 1
    assert not marker.exists()  # the temporary worktree never runs the user's hooks
