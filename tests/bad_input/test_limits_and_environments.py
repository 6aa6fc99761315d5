"""`diff` honours gitops.yaml `limits:`; a copied cluster syncing its original's directory and an encrypted file
copied to another environment fail `check` (issue 13)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.sops import Scope, encrypt_text
from tests.bad_input.harness import assert_refused, make_repo, run_limited, snapshot
from tests.diff.support import commit
from tests.sops_helpers import TEST_RECIPIENT

SMALL_LIMIT = 'kubernetesVersion: "1.33"\nlimits:\n  maxFileBytes: 100\n'


def test_diff_reads_the_file_size_limit_from_gitops_yaml(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    (root / "gitops.yaml").write_text(SMALL_LIMIT)
    (root / "overlays/a/cm.yaml").write_text((root / "overlays/a/cm.yaml").read_text().replace("MODE: a", "MODE: b"))
    line = assert_refused(root, "diff", "--base", "main", needles=("limits.maxFileBytes", "100-byte limit"))
    assert "base/app/deployment.yaml" in line or "kustomization.yaml" in line, line


def test_diff_within_the_limit_runs(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "repo")
    (root / "gitops.yaml").write_text(SMALL_LIMIT.replace("100", "100000"))
    (root / "overlays/a/cm.yaml").write_text((root / "overlays/a/cm.yaml").read_text().replace("MODE: a", "MODE: b"))
    proc = run_limited("diff", "--base", "main", cwd=root)
    assert proc.returncode == 1, proc.stderr


GOTK_SYNC = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: flux-system
  namespace: flux-system
spec:
  interval: 10m
  path: ./clusters/{path}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
"""


@pytest.mark.parametrize(("synced", "code"), [("one", 0), ("two", 1)])
def test_a_cluster_syncing_another_clusters_directory_fails_check(tmp_path: Path, synced: str, code: int) -> None:
    config = 'kubernetesVersion: "1.33"\ncheck:\n  disable: [hygiene]\n'
    files = {"gitops.yaml": config}
    for cluster, path in (("one", synced), ("two", "two")):
        files[f"clusters/{cluster}/kustomization.yaml"] = "resources:\n- flux-system\n"
        files[f"clusters/{cluster}/flux-system/kustomization.yaml"] = "resources:\n- gotk-sync.yaml\n"
        files[f"clusters/{cluster}/flux-system/gotk-sync.yaml"] = GOTK_SYNC.format(path=path)
    root = make_repo(tmp_path / "repo", files)
    commit(root)
    before = snapshot(root)
    proc = run_limited("check", cwd=root)
    assert snapshot(root) == before and "Traceback" not in proc.stderr
    env2 = [row for row in proc.stdout.splitlines() if " ENV-2 " in row]
    if code:
        (row,) = env2
        assert row.startswith("clusters/one/flux-system/gotk-sync.yaml:8: error ENV-2"), row
        assert "./clusters/two" in row and "./clusters/one" in row
        assert proc.returncode == 1
    else:
        assert env2 == [], env2


SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  SMTP_PASSWORD: XYZZY-env3\n"


@pytest.mark.parametrize("copied", [True, False], ids=["copied", "encrypted-each"])
def test_an_encrypted_file_copied_to_another_environment_fails_check(tmp_path: Path, copied: bool) -> None:
    scope = Scope("encrypted_regex", "^(data|stringData)$")
    first = encrypt_text(SECRET, "yaml", "a", recipients=[TEST_RECIPIENT], scope=scope)
    second = first if copied else encrypt_text(SECRET, "yaml", "b", recipients=[TEST_RECIPIENT], scope=scope)
    rule = (
        f"creation_rules:\n- path_regex: ^overlays/\n  encrypted_regex: ^(data|stringData)$\n  age: {TEST_RECIPIENT}\n"
    )
    files = {
        ".sops.yaml": rule,
        "overlays/a/kustomization.yaml": "namespace: a\nresources:\n- ../../base/app\n- app.sops.yaml\n",
        "overlays/a/app.sops.yaml": first,
        "overlays/b/kustomization.yaml": "namespace: b\nresources:\n- ../../base/app\n- app.sops.yaml\n",
        "overlays/b/app.sops.yaml": second,
    }
    root = make_repo(tmp_path / "repo", files)
    before = snapshot(root)
    proc = run_limited("check", cwd=root)
    assert snapshot(root) == before and "Traceback" not in proc.stderr
    assert "XYZZY-env3" not in proc.stdout + proc.stderr
    env3 = sorted(row for row in proc.stdout.splitlines() if " ENV-3 " in row)
    if copied:
        assert [row.split(":")[0] for row in env3] == ["overlays/a/app.sops.yaml", "overlays/b/app.sops.yaml"], env3
        assert all("gitops secrets rotate" in row for row in env3) and proc.returncode == 1
    else:
        assert env3 == [], env3
