"""--shard K/N covers every target exactly once; merged shard reports equal the unsharded report."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.shards import Shard, merge_check_reports, merge_diff_reports, parse_shard, partition, shard_targets
from gitops.target_selection import discover
from gitops.targets import Tree
from tests.cache.support import kinds_of_input_repo
from tests.diff.support import commit, init_repo
from tests.helpers import assert_one_line_error, run_gitops, write_tree


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("targets", [1, 7, 50, 200])
def test_every_target_lands_in_exactly_one_shard(count: int, targets: int) -> None:
    rng = random.Random(targets * 100 + count)
    sizes = {f"overlays/t{i:03d}": rng.randint(1, 10_000) for i in range(targets)}
    bins = partition(sizes, count)
    assert len(bins) == count
    flat = [name for b in bins for name in b]
    assert sorted(flat) == sorted(sizes) and len(flat) == len(set(flat))
    assert partition(dict(reversed(list(sizes.items()))), count) == bins, "independent of the input order"
    loads = [sum(sizes[n] for n in b) for b in bins]
    assert max(loads) - min(loads) <= max(sizes.values()), "greedy balance: within one target's size"


def test_equal_sizes_split_by_name() -> None:
    assert partition({"c": 1, "a": 1, "b": 1, "d": 1}, 2) == [["a", "c"], ["b", "d"]]


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "2", "a/b", "1/2/3"])
def test_bad_shard_specs_are_refused(text: str) -> None:
    with pytest.raises(GitopsError, match="--shard"):
        parse_shard(text)


def test_shard_spec() -> None:
    assert parse_shard(" 2/4 ") == Shard(2, 4)


def _many_targets(root: Path, count: int) -> Path:
    kinds_of_input_repo(root)
    (root / "gitops.yaml").write_text('kubernetesVersion: "1.33"\n')
    for n in range(count):
        write_tree(root, {f"overlays/n{n}/kustomization.yaml": f"namespace: n{n}\nresources: [../../base/app]\n"})
    return root


def test_shards_of_a_real_tree_cover_its_targets(tmp_path: Path) -> None:
    root = _many_targets(tmp_path / "repo", 9).resolve()
    tree = Tree(root)
    names = discover(root, tree)
    for count in (1, 2, 4, 11):
        parts = [shard_targets(tree, names, Shard(k, count)) for k in range(1, count + 1)]
        assert sorted(n for p in parts for n in p) == names


def test_rendering_every_shard_gives_the_unsharded_output(tmp_path: Path) -> None:
    root = _many_targets(tmp_path / "repo", 5)
    whole = run_gitops("render", "--out", str(tmp_path / "whole"), cwd=root)
    assert whole.returncode == 0, whole.stderr
    for k in (1, 2, 3):
        proc = run_gitops("render", "--shard", f"{k}/3", "--out", str(tmp_path / "sharded"), cwd=root)
        assert proc.returncode == 0, proc.stderr
    expected = {p.relative_to(tmp_path / "whole"): p.read_bytes() for p in (tmp_path / "whole").rglob("*.yaml")}
    got = {p.relative_to(tmp_path / "sharded"): p.read_bytes() for p in (tmp_path / "sharded").rglob("*.yaml")}
    assert got == expected and len(expected) == 7


BROKEN = """
apiVersion: v1
kind: ConfigMap
metadata: {name: broken}
data: {a: "1"}
dato: {b: "2"}
"""
DUPLICATE = """
apiVersion: v1
kind: ConfigMap
metadata: {name: twice}
data:
  a: "1"
  a: "2"
"""


def _repo_with_findings(root: Path) -> Path:
    _many_targets(root, 6)
    write_tree(
        root,
        {
            "overlays/n1/kustomization.yaml": "namespace: n1\nresources: [../../base/app, broken.yaml]\n",
            "overlays/n1/broken.yaml": BROKEN,
            "overlays/n4/kustomization.yaml": "namespace: n4\nresources: [../../base/app, broken.yaml]\n",
            "overlays/n4/broken.yaml": BROKEN,
            "overlays/n5/kustomization.yaml": "namespace: n5\nresources: [../../base/app, twice.yaml]\n",
            "overlays/n5/twice.yaml": DUPLICATE,
            # The policy pack judges whole environments, so it does not run in a shard (docs/ci-sharding.md)
            "gitops.yaml": 'kubernetesVersion: "1.33"\ncheck:\n  disable: [policy]\n',
        },
    )
    return root


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_merged_check_shards_equal_the_unsharded_report(tmp_path: Path, count: int) -> None:
    root = _repo_with_findings(tmp_path / "repo")
    whole = run_gitops("check", "-o", "json", cwd=root)
    assert whole.returncode == 1, whole.stderr
    reports = []
    for k in range(1, count + 1):
        proc = run_gitops("check", "-o", "json", "--shard", f"{k}/{count}", cwd=root)
        assert proc.returncode in (0, 1), proc.stderr
        reports.append(tmp_path / f"shard{k}.json")
        reports[-1].write_text(proc.stdout)
    merged = run_gitops("check", "--merge", *map(str, reports), cwd=tmp_path)
    assert merged.returncode == whole.returncode
    expected = json.loads(whole.stdout)
    assert {f["rule"] for f in expected["findings"]} >= {"SCHEMA-UNKNOWN-FIELD", "SCHEMA-DUPLICATE-KEY"}
    assert json.loads(merged.stdout) == expected
    assert merge_check_reports(reports) == (expected, 1)


def test_merging_clean_reports_exits_zero(tmp_path: Path) -> None:
    root = _many_targets(tmp_path / "repo", 2)
    proc = run_gitops("check", "-o", "json", "--shard", "1/2", cwd=root)
    assert proc.returncode == 0, proc.stdout
    (tmp_path / "one.json").write_text(proc.stdout)
    merged = run_gitops("check", "--merge", str(tmp_path / "one.json"), cwd=tmp_path)
    assert merged.returncode == 0 and json.loads(merged.stdout)["summary"]["errors"] == 0


def test_a_shard_without_targets_is_an_error_not_a_pass(tmp_path: Path) -> None:
    root = _many_targets(tmp_path / "repo", 0)
    assert_one_line_error(run_gitops("check", "--shard", "3/3", cwd=root), "--shard 3/3", "no targets")


def test_bad_reports_are_one_line_errors(tmp_path: Path) -> None:
    garbage, other = tmp_path / "garbage.json", tmp_path / "other.json"
    garbage.write_text("{not json")
    other.write_text('{"format": "gitops-diff/v1"}')
    assert_one_line_error(run_gitops("check", "--merge", str(garbage), cwd=tmp_path), "garbage.json", "not a JSON")
    assert_one_line_error(run_gitops("check", "--merge", str(other), cwd=tmp_path), "other.json", "version 1")
    assert_one_line_error(run_gitops("check", "--merge", str(tmp_path / "none.json"), cwd=tmp_path), "none.json")
    assert_one_line_error(run_gitops("diff", "--merge", str(garbage), cwd=tmp_path), "garbage.json")
    assert_one_line_error(run_gitops("check", "--merge", cwd=tmp_path), "at least one report")


CM = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {size: small}\n"
DIFF_TREE = {
    "base/app/kustomization.yaml": "resources: [cm.yaml]\n",
    "base/app/cm.yaml": CM,
    **{f"overlays/o{n}/kustomization.yaml": f"namespace: o{n}\nresources: [../../base/app]\n" for n in range(4)},
}


def test_merged_diff_shards_equal_the_whole_diff(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo", DIFF_TREE)
    commit(repo, {"overlays/o1/kustomization.yaml": "namespace: one\nresources: [../../base/app]\n"})
    (repo / "overlays/o3/kustomization.yaml").write_text("namespace: three\nresources: [../../base/app]\n")
    whole = run_gitops("diff", "--base", "HEAD~1", "-o", "json", cwd=repo)
    assert whole.returncode == 1, whole.stderr
    report = json.loads(whole.stdout)
    assert [t["target"] for t in report["targets"]] == ["overlays/o1", "overlays/o3"]
    # what two shards, each owning one of the changed targets and one unchanged one, would report
    halves = []
    for index, target in enumerate(report["targets"]):
        part = json.loads(whole.stdout)
        part["targets"] = [target]
        part["summary"]["targetsChanged"] = 1
        part["summary"]["targetsRendered"] = 1
        part["summary"]["targetsUnchanged"] = 1
        part["summary"]["resources"] = target["counts"]
        halves.append(tmp_path / f"half{index}.json")
        halves[-1].write_text(json.dumps(part))
    merged = run_gitops("diff", "--merge", *map(str, reversed(halves)), cwd=tmp_path)
    assert merged.returncode == 1, merged.stderr
    assert json.loads(merged.stdout) == report
    assert merge_diff_reports(halves) == (report, 1)


def test_diff_reports_of_other_commits_do_not_merge(tmp_path: Path) -> None:
    one = {"format": "gitops-diff/v1", "base": {"commit": "a"}, "head": {"commit": "b"}, "summary": {}, "targets": []}
    two = {**one, "head": {"commit": "c"}}
    (tmp_path / "one.json").write_text(json.dumps(one))
    (tmp_path / "two.json").write_text(json.dumps(two))
    with pytest.raises(GitopsError, match="different base or head"):
        merge_diff_reports([tmp_path / "one.json", tmp_path / "two.json"])
    assert merge_diff_reports([tmp_path / "one.json"])[1] == 0
