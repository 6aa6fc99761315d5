"""Target arguments, references, git refs, identities and tampered SOPS files (many of these already held)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.bad_input.harness import assert_refused, make_repo, run_limited
from tests.helpers import REPO_ROOT
from tests.sops_helpers import key_env

SHIPPED_SECRET = REPO_ROOT / "overlays/staging/shared/mastodon-secrets.sops.yaml"
WRONG_KEY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.mark.parametrize(
    ("cwd", "target"), [("base", "overlays/a"), ("overlays", "a"), ("overlays/a", "."), (".", "overlays/a")]
)
def test_targets_work_relative_to_cwd_and_to_the_root(repo: Path, cwd: str, target: str) -> None:
    proc = run_limited("render", target, "--out", "-", cwd=repo / cwd)
    assert proc.returncode == 0, proc.stderr
    assert "namespace: a" in proc.stdout


def test_unknown_target_is_refused(repo: Path) -> None:
    assert_refused(repo, "render", "overlays/nope", needles=("overlays/nope", "not a render target"))
    assert_refused(repo, "render", "base/app", needles=("base/app", "not a render target"))


def test_out_dash_needs_exactly_one_target(repo: Path) -> None:
    assert_refused(repo, "render", "--out", "-", needles=("--out -", "2 were selected"))


@pytest.mark.parametrize(
    ("kustomization", "needles"),
    [
        ("resources:\n- ../../../elsewhere.yaml\n", ("overlays/a/kustomization.yaml", "outside the repository root")),
        ("resources:\n- https://github.com/x/y//base\n", ("overlays/a/kustomization.yaml", "remote reference")),
        ("helmCharts:\n- name: x\n", ("overlays/a/kustomization.yaml", "helmCharts")),
        ("- just a list\n", ("overlays/a/kustomization.yaml", "must be a mapping")),
    ],
)
def test_references_the_guard_refuses(repo: Path, kustomization: str, needles: tuple[str, ...]) -> None:
    (repo / "overlays/a/kustomization.yaml").write_text(kustomization)
    assert_refused(repo, "render", needles=needles)


def test_repository_and_tool_problems(repo: Path, tmp_path: Path) -> None:
    assert_refused(repo, "-C", str(tmp_path / "nowhere"), "render", needles=("nowhere", "not a directory"))
    assert_refused(repo, "render", needles=("KUSTOMIZE=", "no such executable"), env={"KUSTOMIZE": "/nonexistent"})
    assert_refused(repo, "render", "--jobs", "0", needles=("--jobs", "0"))
    assert_refused(repo, "check", "-o", "yaml", needles=("-o", "yaml"))


def test_diff_with_a_bad_ref_is_refused(repo: Path) -> None:
    assert_refused(repo, "diff", "--base", "no-such-ref", needles=("no-such-ref",))
    assert_refused(repo, "diff", "--base", "main", "--head", "no-such-head", needles=("no-such-head",))
    assert_refused(repo, "diff", "--base", "main", "-o", "bogus", needles=("--output", "bogus"))


@pytest.fixture
def secret_repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "repo", {".sops.yaml": (REPO_ROOT / ".sops.yaml").read_text()})
    (root / "overlays/staging/shared").mkdir(parents=True)
    shutil.copy(SHIPPED_SECRET, root / "overlays/staging/shared/s.sops.yaml")
    return root


def test_tampered_ciphertext_fails_verify(secret_repo: Path, tmp_path: Path) -> None:
    path = secret_repo / "overlays/staging/shared/s.sops.yaml"
    assert run_limited("secrets", "verify", str(path), cwd=secret_repo, env=key_env(tmp_path)).returncode == 0
    text = path.read_text()
    match = re.search(r"ENC\[AES256_GCM,data:(.)", text)
    assert match is not None
    flipped = "A" if match.group(1) != "A" else "B"
    path.write_text(text[: match.start(1)] + flipped + text[match.end(1) :])
    assert_refused(secret_repo, "secrets", "verify", str(path), needles=("s.sops.yaml",), env=key_env(tmp_path))
    assert_refused(secret_repo, "secrets", "decrypt", str(path), needles=("s.sops.yaml",), env=key_env(tmp_path))


def test_tampered_plaintext_annotation_fails_verify(secret_repo: Path, tmp_path: Path) -> None:
    path = secret_repo / "overlays/staging/shared/s.sops.yaml"
    text = path.read_text()
    assert "  name: mastodon-secrets\n" in text
    path.write_text(text.replace("  name: mastodon-secrets\n", "  name: mastodon-secretz\n", 1))
    assert_refused(secret_repo, "secrets", "verify", str(path), needles=("s.sops.yaml", "MAC"), env=key_env(tmp_path))


def test_wrong_identity_cannot_decrypt(secret_repo: Path, tmp_path: Path) -> None:
    key = tmp_path / "other.txt"
    key.write_text(WRONG_KEY + "\n")
    path = secret_repo / "overlays/staging/shared/s.sops.yaml"
    for command in ("decrypt", "verify", "rotate"):
        assert_refused(secret_repo, "secrets", command, str(path), needles=("s.sops.yaml",), env=key_env(tmp_path, key))


def test_secrets_commands_on_missing_or_plain_files(secret_repo: Path, tmp_path: Path) -> None:
    env = key_env(tmp_path)
    assert_refused(secret_repo, "secrets", "decrypt", "nope.yaml", needles=("nope.yaml", "no such file"), env=env)
    assert_refused(secret_repo, "secrets", "decrypt", "README.md", needles=("README.md",), env=env)
    assert_refused(
        secret_repo, "secrets", "ca-cert", "README.md", "--env", "staging", needles=("README.md", "PEM"), env=env
    )
