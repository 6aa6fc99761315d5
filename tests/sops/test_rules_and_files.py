"""`.sops.yaml` key_groups, any file outside a repository, and the hygiene gate's recipient comparison."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.sops.recipients import recipient_drift
from gitops.sops.rules import load_rules
from tests.helpers import assert_one_line_error, run_gitops
from tests.sops.oracle import sops_binary, sops_decrypt, sops_env
from tests.sops_helpers import TEST_RECIPIENT, key_env

OTHER_RECIPIENT = "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"
KEY_GROUP_RULE = f"""\
creation_rules:
  - path_regex: \\.sops\\.yaml$
    encrypted_regex: ^(data|stringData)$
    key_groups:
      - age:
          - {TEST_RECIPIENT}
"""
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s  # plain\nstringData:\n  # note\n  password: hunter2\n"


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / ".sops.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_key_group_of_age_recipients_is_a_rule(tmp_path: Path) -> None:
    (rule,) = load_rules(_config(tmp_path, KEY_GROUP_RULE))
    assert rule.age == (TEST_RECIPIENT,)
    assert rule.key_groups == ((TEST_RECIPIENT,),)


@pytest.mark.parametrize(
    ("group", "needle"),
    [
        ("      - pgp: [ABCDEF]\n", "key_groups[0] uses pgp, which is not supported"),
        ("      - hc_vault: [https://vault/v1/transit/keys/k]\n", "key_groups[0] uses hc_vault"),
        ("      - age: []\n", "key_groups[0] has no age recipients"),
        (f"      - age: [{TEST_RECIPIENT}]\n      - age: [{OTHER_RECIPIENT}]\n    shamir_threshold: 3\n", "from 2 to"),
    ],
)
def test_key_groups_we_cannot_use_are_named_in_one_line(tmp_path: Path, group: str, needle: str) -> None:
    config = _config(tmp_path, "creation_rules:\n  - key_groups:\n" + group)
    with pytest.raises(GitopsError, match=r"creation_rules\[0\]") as info:
        load_rules(config)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_encrypt_works_outside_a_repository_with_the_nearest_sops_yaml(tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    (outside / "deep").mkdir(parents=True)
    _config(outside, KEY_GROUP_RULE)
    secret = outside / "deep" / "app.sops.yaml"
    secret.write_text(SECRET, encoding="utf-8")
    proc = run_gitops("secrets", "encrypt", "-i", str(secret), cwd=outside / "deep", env=key_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    written = secret.read_text()
    assert "hunter2" not in written and "note" not in written and "name: s  # plain" in written
    assert sops_decrypt(tmp_path, secret) == sops_decrypt(tmp_path, secret)  # decrypts, MAC verified by sops
    assert "password: hunter2" in sops_decrypt(tmp_path, secret)


def test_unsupported_key_group_is_an_exit_2_line_and_the_file_is_untouched(tmp_path: Path) -> None:
    outside = tmp_path / "not-a-repo"
    outside.mkdir()
    _config(outside, "creation_rules:\n  - key_groups:\n      - kms: [arn:aws:kms:eu-west-1:1:key/x]\n")
    secret = outside / "app.sops.yaml"
    secret.write_text(SECRET, encoding="utf-8")
    proc = run_gitops("secrets", "encrypt", "-i", str(secret), cwd=outside, env=key_env(tmp_path))
    assert_one_line_error(proc, "creation_rules[0]", "kms")
    assert secret.read_text() == SECRET


def test_recipient_drift_counts_key_group_recipients(tmp_path: Path) -> None:
    (rule,) = load_rules(_config(tmp_path, KEY_GROUP_RULE))
    assert recipient_drift(rule, {TEST_RECIPIENT}) == ([], [])
    assert recipient_drift(rule, {OTHER_RECIPIENT}) == ([TEST_RECIPIENT], [OTHER_RECIPIENT])
    assert recipient_drift(rule, set()) == ([TEST_RECIPIENT], [])


def test_sops_yml_is_ignored_with_sops_warning_as_sops_does(tmp_path: Path) -> None:
    """sops 3.11 never reads `.sops.yml`: it warns and goes on looking for `.sops.yaml` (config.LookupConfigFile)."""
    outside = tmp_path / "not-a-repo"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / ".sops.yml").write_text(f"creation_rules:\n  - age: {OTHER_RECIPIENT}\n", encoding="utf-8")
    secret = outside / "deep" / "app.yaml"
    secret.write_text(SECRET, encoding="utf-8")
    theirs = subprocess.run(
        [str(sops_binary()), "encrypt", secret.name],
        cwd=outside / "deep",
        env=sops_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert theirs.returncode != 0 and 'ignoring \\".sops.yml\\" when searching for config file' in theirs.stderr
    ours = run_gitops("secrets", "encrypt", "-i", str(secret), cwd=outside / "deep", env=key_env(tmp_path))
    warning, error = ours.stderr.splitlines()
    assert warning == (  # named as sops names it: relative to the working directory where the search starts
        'gitops: warning: ignoring ".sops.yml" when searching for config file; the config file must be called'
        ' ".sops.yaml"'
    )
    assert ours.returncode == 2 and error.startswith("gitops: error: ") and "no .sops.yaml creation rule" in error
    assert secret.read_text() == SECRET

    _config(outside, KEY_GROUP_RULE.replace("\\.sops\\.yaml$", "\\.yaml$"))  # a .sops.yaml further up is used
    ours = run_gitops("secrets", "encrypt", "-i", str(secret), cwd=outside / "deep", env=key_env(tmp_path))
    assert ours.returncode == 0, ours.stderr
    assert '; using "../.sops.yaml" instead' in ours.stderr
    assert "password: hunter2" in sops_decrypt(tmp_path, secret)
