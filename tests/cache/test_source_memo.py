"""The source memo (parses and preflight verdicts remembered by content) never answers for other content."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cache.support import kinds_of_input_repo
from tests.helpers import assert_one_line_error, run_gitops


def _memo(cache_dir: Path) -> dict[str, object]:
    data = json.loads((cache_dir / "sources.json").read_text())
    assert isinstance(data, dict)
    return data


def test_a_remembered_file_that_turns_bad_is_refused(tmp_path: Path) -> None:
    root = kinds_of_input_repo(tmp_path / "repo")
    cache_dir = Path(os.environ["GITOPS_CACHE_DIR"])
    proc = run_gitops("render", cwd=root)
    assert proc.returncode == 0, proc.stderr
    memo = _memo(cache_dir)
    assert memo["parsed"] and memo["sound"]  # learned from this run
    patch = root / "base/app/deployment.yaml"
    patch.write_text(patch.read_text() + "kind: Service\n")
    proc = run_gitops("render", cwd=root)
    assert_one_line_error(proc, "base/app/deployment.yaml", "duplicate key 'kind'")
    patch.write_text(patch.read_text().replace("kind: Service\n", ""))
    kustomization = root / "overlays/two/kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("namespace: two", "namespace: [two"))
    proc = run_gitops("render", cwd=root)
    assert_one_line_error(proc, "overlays/two/kustomization.yaml")


def test_a_damaged_memo_is_ignored_and_replaced(tmp_path: Path) -> None:
    root = kinds_of_input_repo(tmp_path / "repo")
    cache_dir = Path(os.environ["GITOPS_CACHE_DIR"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    (cache_dir / "sources.json").write_text('{"format": "gitops-source-memo-1", "parsed": [tru')
    proc = run_gitops("render", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert _memo(cache_dir)["parsed"]


def test_no_cache_remembers_nothing(tmp_path: Path) -> None:
    root = kinds_of_input_repo(tmp_path / "repo")
    cache_dir = tmp_path / "cache"
    proc = run_gitops("render", "--no-cache", cwd=root, env={"GITOPS_CACHE_DIR": str(cache_dir)})
    assert proc.returncode == 0, proc.stderr
    proc = run_gitops("render", cwd=root, env={"GITOPS_CACHE_DIR": str(cache_dir), "GITOPS_NO_CACHE": "1"})
    assert proc.returncode == 0, proc.stderr
    assert not (cache_dir / "sources.json").exists()
