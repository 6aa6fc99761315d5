"""--shard K/N on a Flux repository: every Flux Kustomization lands in exactly one shard, the shards' files
together are the unsharded render, and merged check reports equal the unsharded report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.flux.helpers import copy_fixture, substituting_from_vars
from tests.helpers import run_gitops, write_tree


def _files(directory: Path) -> dict[Path, bytes]:
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*.yaml")}


@pytest.mark.parametrize("count", [2, 3])
def test_rendering_every_shard_gives_the_unsharded_output(tmp_path: Path, count: int) -> None:
    root = copy_fixture("example", tmp_path)
    whole = run_gitops("render", "--out", str(tmp_path / "whole"), cwd=root)
    assert whole.returncode == 0, whole.stderr
    parts = []
    for k in range(1, count + 1):
        out = tmp_path / f"shard{k}"
        proc = run_gitops("render", "--shard", f"{k}/{count}", "--out", str(out), cwd=root)
        assert proc.returncode == 0, proc.stderr
        parts.append(_files(out))
    expected = _files(tmp_path / "whole")
    assert len(expected) == 8
    assert sum(len(p) for p in parts) == len(expected)  # no target in two shards
    assert {k: v for p in parts for k, v in p.items()} == expected


def test_merged_flux_check_shards_equal_the_unsharded_report(tmp_path: Path) -> None:
    root = copy_fixture("example", tmp_path)
    issuers = root / "infrastructure/configs/cluster-issuers.yaml"
    issuers.write_text(issuers.read_text(encoding="utf-8") + "spek: {}\n", encoding="utf-8")
    whole = run_gitops("check", "-o", "json", cwd=root)
    assert whole.returncode == 1, whole.stderr
    reports = []
    for k in (1, 2, 3):
        proc = run_gitops("check", "-o", "json", "--shard", f"{k}/3", cwd=root)
        assert proc.returncode in (0, 1), proc.stderr
        reports.append(tmp_path / f"shard{k}.json")
        reports[-1].write_text(proc.stdout, encoding="utf-8")
    merged = run_gitops("check", "--merge", *map(str, reports), cwd=tmp_path)
    expected = json.loads(whole.stdout)
    assert {f["rule"] for f in expected["findings"]} >= {"SCHEMA-UNKNOWN-FIELD"}
    assert merged.returncode == 1
    assert json.loads(merged.stdout) == expected


def test_more_shards_than_flux_targets_is_an_error_not_a_pass(tmp_path: Path) -> None:
    root = copy_fixture("example", tmp_path)
    proc = run_gitops("render", "--shard", "9/9", cwd=root)
    assert proc.returncode == 2 and "this shard has no targets" in proc.stderr


def test_a_leaf_substituting_from_another_leaf_still_shards_exactly(tmp_path: Path) -> None:
    # `app` takes its variables from the ConfigMap only the leaf `vars` renders: a shard holding `app` but not
    # `vars` cannot build it alone, so it builds everything and still writes only its own part.
    root = write_tree(
        tmp_path / "repo",
        {
            **substituting_from_vars("app", "./app", "{env: prod}"),
            "app/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-${env}\n",
        },
    )
    whole = run_gitops("render", "--out", str(tmp_path / "whole"), cwd=root)
    assert whole.returncode == 0, whole.stderr
    parts = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        proc = run_gitops("render", "--shard", f"{k}/3", "--out", str(out), cwd=root)
        assert proc.returncode == 0, proc.stderr
        parts.append(_files(out))
    expected = _files(tmp_path / "whole")
    assert b"name: app-prod" in expected[Path("clusters/c/flux-system/app.yaml")]
    assert sum(len(p) for p in parts) == len(expected) == 3
    assert {k: v for p in parts for k, v in p.items()} == expected
