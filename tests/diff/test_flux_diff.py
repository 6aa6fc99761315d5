"""`gitops diff` per Flux Kustomization, on real temporary git repositories built with real kustomize.

The layout is `flux bootstrap`'s: clusters/<name>/flux-system syncs ./clusters/<name>, whose Flux
Kustomizations build vars/<name> (a ConfigMap used by substituteFrom) and apps/<name> (an overlay of
apps/base). The expected changes are written from Flux's semantics: postBuild substitutes the variables of
substituteFrom ConfigMaps into the consuming Kustomization's objects; a Kustomization's objects are applied
(added) when it appears and pruned (removed) when it disappears; its objects are those built from spec.path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gitops import git
from gitops.diff.flux import FLUX_MARKERS, FluxOptions
from gitops.diff.model import DiffResult, Status, TargetDiff, TargetStatus
from gitops.diff.refs import diff_refs
from gitops.kustomize import Kustomize
from gitops.limits import DEFAULT_BUILD_TIMEOUT
from tests.diff.support import commit, init_repo
from tests.helpers import assert_one_line_error, run_gitops


def _sync(cluster: str) -> str:
    return f"""
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata: {{name: flux-system, namespace: flux-system}}
        spec: {{interval: 1m, url: https://example.org/repo.git, ref: {{branch: main}}}}
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata: {{name: flux-system, namespace: flux-system}}
        spec:
          interval: 10m
          path: ./clusters/{cluster}
          prune: true
          sourceRef: {{kind: GitRepository, name: flux-system}}
    """


def _flux_ks(name: str, path: str, substitute_from: str | None = None, source: str = "flux-system") -> str:
    post_build = (
        f"  postBuild:\n    substituteFrom:\n      - {{kind: ConfigMap, name: {substitute_from}}}\n"
        if substitute_from
        else ""
    )
    return (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        f"metadata: {{name: {name}, namespace: flux-system}}\n"
        f"spec:\n  interval: 10m\n  path: {path}\n  prune: true\n"
        f"  sourceRef: {{kind: GitRepository, name: {source}}}\n" + post_build
    )


def _vars(domain: str) -> str:
    metadata = "metadata: {name: cluster-vars, namespace: flux-system}"
    return f"apiVersion: v1\nkind: ConfigMap\n{metadata}\ndata: {{DOMAIN: {domain}}}\n"


APP_CONFIG = """
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: web-config, namespace: web}
    data: {url: "https://${DOMAIN}", size: small}
"""
DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web, namespace: web}
    spec:
      selector: {matchLabels: {app: web}}
      template:
        metadata: {labels: {app: web}}
        spec: {containers: [{name: web, image: "nginx:1.27"}]}
"""

TREE = {
    **{f"clusters/{c}/flux-system/gotk-sync.yaml": _sync(c) for c in ("production", "staging")},
    **{
        f"clusters/{c}/flux-system/kustomization.yaml": "resources: [gotk-sync.yaml]\n"
        for c in ("production", "staging")
    },
    **{f"clusters/{c}/apps.yaml": _flux_ks("apps", f"./apps/{c}", "cluster-vars") for c in ("production", "staging")},
    **{f"clusters/{c}/vars.yaml": _flux_ks("vars", f"./vars/{c}") for c in ("production", "staging")},
    "vars/production/cluster-vars.yaml": _vars("prod.example"),
    "vars/staging/cluster-vars.yaml": _vars("staging.example"),
    "apps/base/kustomization.yaml": "resources: [config.yaml, deployment.yaml]\n",
    "apps/base/config.yaml": APP_CONFIG,
    "apps/base/deployment.yaml": DEPLOYMENT,
    "apps/production/kustomization.yaml": "resources: [../base]\n",
    "apps/staging/kustomization.yaml": "resources: [../base]\n",
}
SERVICE_ACCOUNT = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}, namespace: web}}\n"
PROD = "clusters/production/flux-system"
STAGING = "clusters/staging/flux-system"


def _repo(tmp_path: Path, extra: dict[str, str] | None = None) -> Path:
    return init_repo(tmp_path / "repo", {**TREE, **(extra or {})})


def _target(result: DiffResult, name: str) -> TargetDiff:
    found = [t for t in result.targets if t.target == name]
    assert found, (name, [t.target for t in result.targets])
    return found[0]


def _changes(target: TargetDiff) -> dict[tuple[str, str, str], Status]:
    return {(c.identity.kind, c.identity.namespace or "", c.identity.name): c.status for c in target.changes}


def _fields(target: TargetDiff, kind: str, name: str) -> dict[str, tuple[Any, Any]]:
    change = next(c for c in target.changes if c.identity.kind == kind and c.identity.name == name)
    return {f.path: (f.before, f.after) for f in change.fields}


def test_a_substitute_from_configmap_change_shows_the_objects_whose_substituted_values_change(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    commit(repo, {"vars/production/cluster-vars.yaml": _vars("social.example")})
    result = diff_refs(repo, "main", "feature")
    assert sorted(t.target for t in result.targets) == [f"{PROD}/apps", f"{PROD}/vars"]
    assert _fields(_target(result, f"{PROD}/vars"), "ConfigMap", "cluster-vars") == {
        "data.DOMAIN": ("prod.example", "social.example")
    }
    # The consuming Kustomization's object changes with the variable; nothing else there does.
    apps = _target(result, f"{PROD}/apps")
    assert _changes(apps) == {("ConfigMap", "web", "web-config"): Status.CHANGED}
    assert _fields(apps, "ConfigMap", "web-config") == {"data.url": ("https://prod.example", "https://social.example")}


def test_an_added_flux_kustomization_shows_all_its_objects_added(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    # No kustomization.yaml in ./extra: Flux generates one listing the directory's manifests.
    commit(
        repo,
        {
            "clusters/production/extra.yaml": _flux_ks("extra", "./extra"),
            "extra/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: bot, namespace: web}\n",
            "extra/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bot, namespace: web}\ndata: {a: b}\n",
        },
    )
    result = diff_refs(repo, "main", "feature")
    extra = _target(result, f"{PROD}/extra")
    assert extra.status is TargetStatus.ADDED
    assert _changes(extra) == {
        ("ConfigMap", "web", "bot"): Status.ADDED,
        ("ServiceAccount", "web", "bot"): Status.ADDED,
    }
    added = next(c for c in extra.changes if c.identity.kind == "ServiceAccount").after
    assert added is not None
    assert added["metadata"]["labels"] == {
        "kustomize.toolkit.fluxcd.io/name": "extra",
        "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
    }
    # The cluster's own Kustomization gains the Flux Kustomization object.
    parent = _target(result, f"{PROD}/flux-system")
    assert _changes(parent) == {("Kustomization", "flux-system", "extra"): Status.ADDED}
    assert sorted(t.target for t in result.targets) == [f"{PROD}/extra", f"{PROD}/flux-system"]


def test_a_removed_flux_kustomization_shows_all_its_objects_removed(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    commit(repo, remove=("clusters/staging/apps.yaml",))
    result = diff_refs(repo, "main", "feature")
    apps = _target(result, f"{STAGING}/apps")
    assert apps.status is TargetStatus.REMOVED
    assert _changes(apps) == {
        ("ConfigMap", "web", "web-config"): Status.REMOVED,
        ("Deployment", "web", "web"): Status.REMOVED,
    }
    assert _changes(_target(result, f"{STAGING}/flux-system")) == {
        ("Kustomization", "flux-system", "apps"): Status.REMOVED
    }
    assert sorted(t.target for t in result.targets) == [f"{STAGING}/apps", f"{STAGING}/flux-system"]


def test_a_changed_spec_path_moves_the_targets_objects(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    commit(
        repo,
        {
            "clusters/production/apps.yaml": _flux_ks("apps", "./apps/production-v2", "cluster-vars"),
            "apps/production-v2/config.yaml": APP_CONFIG.replace("small", "large"),
            "apps/production-v2/sa.yaml": SERVICE_ACCOUNT.format(name="web"),
        },
    )
    result = diff_refs(repo, "main", "feature")
    apps = _target(result, f"{PROD}/apps")
    # The objects are now those of the new path: same ConfigMap with new data, the Deployment pruned, a new SA.
    assert apps.status is TargetStatus.CHANGED
    assert _changes(apps) == {
        ("ConfigMap", "web", "web-config"): Status.CHANGED,
        ("Deployment", "web", "web"): Status.REMOVED,
        ("ServiceAccount", "web", "web"): Status.ADDED,
    }
    assert _fields(apps, "ConfigMap", "web-config") == {"data.size": ("small", "large")}
    assert _fields(_target(result, f"{PROD}/flux-system"), "Kustomization", "apps") == {
        "spec.path": ("./apps/production", "./apps/production-v2")
    }


def test_a_change_in_a_base_shared_by_two_clusters_shows_in_both(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    commit(repo, {"apps/base/deployment.yaml": DEPLOYMENT.replace("nginx:1.27", "nginx:1.28")})
    result = diff_refs(repo, "main", "feature")
    assert sorted(t.target for t in result.targets) == [f"{PROD}/apps", f"{STAGING}/apps"]
    for name in (f"{PROD}/apps", f"{STAGING}/apps"):
        assert _fields(_target(result, name), "Deployment", "web") == {
            "spec.template.spec.containers[name=web].image": ("nginx:1.27", "nginx:1.28")
        }


def test_the_working_tree_is_the_default_head_and_no_change_is_no_change(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    unchanged = diff_refs(repo, "main")
    assert not unchanged.changed and unchanged.unchanged == 6  # 2 clusters x (flux-system, apps, vars)
    (repo / "vars/staging/cluster-vars.yaml").write_text(_vars("test.example"), encoding="utf-8")
    result = diff_refs(repo, "main")
    assert _fields(_target(result, f"{STAGING}/apps"), "ConfigMap", "web-config") == {
        "data.url": ("https://staging.example", "https://test.example")
    }


def test_cluster_option_limits_the_targets_to_that_cluster(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    commit(repo, {"apps/base/deployment.yaml": DEPLOYMENT.replace("nginx:1.27", "nginx:1.28")})
    result = diff_refs(repo, "main", "feature", flux=FluxOptions(clusters=("clusters/staging",)))
    assert [t.target for t in result.targets] == [f"{STAGING}/apps"]


UNMAPPED = {"clusters/production/tools.yaml": _flux_ks("tools", "./tools", source="tools-repo")}
TOOLS = {"tools/sa.yaml": "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: tool, namespace: web}\n"}


def test_a_target_with_an_unmapped_source_is_named_as_skipped_in_every_format(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {**UNMAPPED, **TOOLS})
    commit(repo, {"apps/base/config.yaml": APP_CONFIG.replace("small", "medium")})
    skipped = f"{PROD}/tools"
    text = run_gitops("diff", "--base", "main", "-o", "text", cwd=repo)
    assert text.returncode == 1, text.stderr
    assert f"skipped {skipped}: source GitRepository/flux-system/tools-repo is not mapped" in text.stdout
    markdown = run_gitops("diff", "--base", "main", "-o", "markdown", cwd=repo)
    assert f"- skipped {skipped}: source" in markdown.stdout
    json_proc = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo)
    report = json.loads(json_proc.stdout)
    assert [s["target"] for s in report["skipped"]] == [skipped]
    assert "tools-repo is not mapped" in report["skipped"][0]["reason"]
    # Merging shard reports keeps them too.
    (tmp_path / "shard.json").write_text(json_proc.stdout, encoding="utf-8")
    merged = run_gitops("diff", "--merge", str(tmp_path / "shard.json"), cwd=repo)
    assert json.loads(merged.stdout)["skipped"] == report["skipped"]
    # Mapped with --source, it is a target like any other: 7 targets, the two apps targets changed.
    mapped = run_gitops("diff", "--base", "main", "-o", "json", "--source", "tools-repo=.", cwd=repo)
    data = json.loads(mapped.stdout)
    assert data["skipped"] == [] and data["summary"]["targetsUnchanged"] == 5


def test_a_mapped_source_change_shows_in_its_target(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {**UNMAPPED, **TOOLS})
    commit(repo, {"tools/sa.yaml": TOOLS["tools/sa.yaml"].replace("name: tool", "name: tool2")})
    result = diff_refs(repo, "main", "feature", flux=FluxOptions(sources={"tools-repo": "."}))
    assert _changes(_target(result, f"{PROD}/tools")) == {
        ("ServiceAccount", "web", "tool"): Status.REMOVED,
        ("ServiceAccount", "web", "tool2"): Status.ADDED,
    }


def test_no_target_on_either_side_is_an_error_not_a_green_diff(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {"README.md": "nothing to deploy\n"})
    commit(repo, {"README.md": "still nothing\n"})
    assert_one_line_error(run_gitops("diff", "--base", "main", cwd=repo), "no targets on either side")


def test_a_cluster_on_neither_side_is_an_error_naming_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    proc = run_gitops("diff", "--base", "main", "--cluster", "clusters/nowhere", cwd=repo)
    assert_one_line_error(proc, "no Flux Kustomization target on either side", "clusters/nowhere is on neither side")


def test_a_source_option_in_a_repository_without_flux_clusters_is_an_error(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", {"overlays/one/kustomization.yaml": "resources: []\n"})
    proc = run_gitops("diff", "--base", "main", "--source", "tools=.", cwd=repo)
    assert_one_line_error(proc, "no Flux Kustomization target on either side", "no cluster entry path")


def test_a_malformed_source_option_is_one_line(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    assert_one_line_error(run_gitops("diff", "--base", "main", "--source", "tools-repo", cwd=repo), "NAME=PATH")


def test_a_side_that_fails_to_build_is_one_line_naming_the_side_and_target(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"apps/staging/kustomization.yaml": "resources: [../base, missing.yaml]\n"})
    commit(repo, {"apps/staging/kustomization.yaml": "resources: [../base]\n"})
    proc = run_gitops("diff", "--base", "main", cwd=repo)
    assert_one_line_error(proc, "base main: ", f"{STAGING}/apps", "kustomize build failed")


@dataclass(frozen=True)
class _CountingKustomize(Kustomize):
    built: list[Path] = field(default_factory=list, compare=False, hash=False)

    def build(self, directory: Path, *, timeout: float = DEFAULT_BUILD_TIMEOUT) -> str:
        self.built.append(directory)
        return super().build(directory, timeout=timeout)


def test_a_build_whose_inputs_are_the_same_on_both_sides_runs_once(tmp_path: Path, kustomize: Kustomize) -> None:
    repo = _repo(tmp_path)
    commit(repo, {"apps/base/deployment.yaml": DEPLOYMENT.replace("nginx:1.27", "nginx:1.28")})
    counting = _CountingKustomize(kustomize.argv, kustomize.version, kustomize.env)
    result = diff_refs(repo, "main", "feature", kustomize=counting)
    assert sorted(t.target for t in result.targets) == [f"{PROD}/apps", f"{STAGING}/apps"]
    # Six targets per side; only the two apps targets read the changed file, so only they build twice.
    assert len(counting.built) == 6 + 2


def test_a_reused_build_is_still_substituted_with_its_own_sides_variables(tmp_path: Path, kustomize: Kustomize) -> None:
    repo = _repo(tmp_path)
    commit(repo, {"vars/staging/cluster-vars.yaml": _vars("test.example")})
    counting = _CountingKustomize(kustomize.argv, kustomize.version, kustomize.env)
    result = diff_refs(repo, "main", "feature", kustomize=counting)
    assert len(counting.built) == 6 + 1  # staging's vars target only: apps/staging's own files did not change
    assert _fields(_target(result, f"{STAGING}/apps"), "ConfigMap", "web-config") == {
        "data.url": ("https://staging.example", "https://test.example")
    }


def test_mentions_searches_a_commit_or_only_the_given_paths(tmp_path: Path) -> None:
    repo_root = _repo(tmp_path, {"README.md": "plain text\n"})
    repo = git.open_repository(repo_root)
    head = git.resolve(repo, "HEAD")
    assert git.mentions(repo, head, FLUX_MARKERS)
    assert git.mentions(repo, head, FLUX_MARKERS, ["README.md", "clusters/production/apps.yaml"])
    assert not git.mentions(repo, head, FLUX_MARKERS, ["README.md", "apps/base/config.yaml", "not/there.yaml"])
    assert not git.mentions(repo, head, FLUX_MARKERS, [])


def test_a_target_building_to_zero_documents_is_a_warning_naming_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    # Nothing Flux would apply in ./empty: the generated kustomization builds to no object.
    commit(repo, {"clusters/production/empty.yaml": _flux_ks("empty", "./empty"), "empty/README.md": "notes\n"})
    proc = run_gitops("diff", "--base", "main", "--head", "feature", "-o", "json", cwd=repo)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.splitlines() == [f"warning: head feature: {PROD}/empty: builds to zero documents (empty)"]
    targets = {t["target"]: t for t in json.loads(proc.stdout)["targets"]}
    assert targets[f"{PROD}/empty"]["status"] == "added" and targets[f"{PROD}/empty"]["resources"] == []
    unchanged = run_gitops("diff", "--base", "main", "--head", "main", cwd=repo)
    assert unchanged.returncode == 0 and unchanged.stderr == ""
