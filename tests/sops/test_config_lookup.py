"""Which `.sops.yaml` applies, checked against the real sops 3.11: the first one from the working directory upward
(not from the file's directory), or the one named by --config / SOPS_CONFIG."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops.sops.formats import load
from gitops.sops.tree import walk
from tests.helpers import run_gitops
from tests.sops.oracle import TIMEOUT_SECONDS, sops_binary, sops_env
from tests.sops_helpers import TEST_RECIPIENT, key_env

PLAIN = "top: 1\nsub: 2\n"


def _layout(tmp_path: Path) -> Path:
    """top/.sops.yaml encrypts `top`, top/sub/.sops.yaml encrypts `sub`; the file lies in top/sub."""
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    (top / "other").mkdir()
    for directory, key in ((top, "top"), (top / "sub", "sub")):
        rule = f"creation_rules:\n  - encrypted_regex: ^{key}$\n    age: {TEST_RECIPIENT}\n"
        (directory / ".sops.yaml").write_text(rule)
    (top / "sub" / "f.yaml").write_text(PLAIN)
    return top


def _encrypted_keys(text: str) -> list[str]:
    return [path[-1] for c, k, path in walk(load(text, "yaml", "x").documents, "x") if str(c[k]).startswith("ENC[")]


def _sops(
    cwd: Path, home: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**sops_env(home), **(extra_env or {})}
    return subprocess.run(
        [str(sops_binary()), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_SECONDS
    )


def _ours(
    cwd: Path, home: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**key_env(home), **(extra_env or {})}
    return run_gitops("secrets", *args, cwd=cwd, env=env)


@pytest.mark.parametrize("where", ["top", "top/sub", "top/other"])
def test_the_config_comes_from_the_working_directory_upward(tmp_path: Path, where: str) -> None:
    top = _layout(tmp_path)
    cwd = tmp_path / where
    file = os.path.relpath(top / "sub" / "f.yaml", cwd)
    theirs = _sops(cwd, tmp_path, "encrypt", file)
    ours = _ours(cwd, tmp_path, "encrypt", file)
    assert theirs.returncode == 0 and ours.returncode == 0, (theirs.stderr, ours.stderr)
    expected = ["sub"] if where == "top/sub" else ["top"]
    assert _encrypted_keys(theirs.stdout) == expected
    assert _encrypted_keys(ours.stdout) == expected


def test_no_config_above_the_working_directory_means_no_rule_even_beside_the_file(tmp_path: Path) -> None:
    top = _layout(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    theirs = _sops(elsewhere, tmp_path, "encrypt", str(top / "sub" / "f.yaml"))
    ours = _ours(elsewhere, tmp_path, "encrypt", str(top / "sub" / "f.yaml"))
    assert theirs.returncode != 0 and "config file not found" in theirs.stderr
    assert ours.returncode == 2 and "no .sops.yaml creation rule matches this file" in ours.stderr
    ours_with_age = _ours(elsewhere, tmp_path, "encrypt", "--age", TEST_RECIPIENT, str(top / "sub" / "f.yaml"))
    assert _encrypted_keys(ours_with_age.stdout) == ["top", "sub"]  # no rule: sops' default scope


def test_config_flag_and_sops_config_name_the_file(tmp_path: Path) -> None:
    top = _layout(tmp_path)
    sub_config = str(top / "sub" / ".sops.yaml")
    file = str(top / "sub" / "f.yaml")
    by_env = {"SOPS_CONFIG": sub_config}
    assert _encrypted_keys(_sops(top, tmp_path, "encrypt", file, extra_env=by_env).stdout) == ["sub"]
    assert _encrypted_keys(_ours(top, tmp_path, "encrypt", file, extra_env=by_env).stdout) == ["sub"]
    assert _encrypted_keys(_sops(top, tmp_path, "--config", sub_config, "encrypt", file).stdout) == ["sub"]
    assert _encrypted_keys(
        run_gitops("secrets", "--config", sub_config, "encrypt", file, cwd=top, env=key_env(tmp_path)).stdout
    ) == ["sub"]
    missing = run_gitops("secrets", "--config", "nope.yaml", "encrypt", file, cwd=top, env=key_env(tmp_path))
    assert missing.returncode == 2 and "nope.yaml: sops config file not found" in missing.stderr


def test_gitops_dash_c_starts_the_search_in_that_directory(tmp_path: Path) -> None:
    top = _layout(tmp_path)
    file = str(top / "sub" / "f.yaml")
    done = run_gitops("-C", str(top / "sub"), "secrets", "encrypt", file, cwd=tmp_path, env=key_env(tmp_path))
    assert done.returncode == 0, done.stderr
    assert _encrypted_keys(done.stdout) == ["sub"]


def test_path_regex_sees_the_path_relative_to_the_config_or_else_absolute(tmp_path: Path) -> None:
    top = _layout(tmp_path)
    (top / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: ^sub/f\\.yaml$\n    encrypted_regex: ^sub$\n    age: {TEST_RECIPIENT}\n"
        f"  - path_regex: ^/\n    encrypted_regex: ^top$\n    age: {TEST_RECIPIENT}\n"
    )
    outside = tmp_path / "outside.yaml"
    outside.write_text(PLAIN)
    for file, expected in (("sub/f.yaml", ["sub"]), (str(outside), ["top"])):
        theirs = _sops(top, tmp_path, "encrypt", file)
        ours = _ours(top, tmp_path, "encrypt", file)
        assert _encrypted_keys(theirs.stdout) == expected, theirs.stderr
        assert _encrypted_keys(ours.stdout) == expected, ours.stderr
