"""Files sops writes with several key_groups (Shamir shares of the data key): decrypt with enough groups."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pyrage import x25519

from gitops.errors import GitopsError
from gitops.sops import decrypt_text, encrypt_text, open_text, parse_identities, update_keys_text
from gitops.sops.api import reseal_text
from tests.helpers import run_gitops
from tests.sops.oracle import run_sops, sops_binary, sops_env
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, key_env

PLAIN = "stringData:\n    password: hunter2\n    port: 5432\n"  # sops' own indentation


def _group_file(tmp_path: Path, groups: int, threshold: int) -> tuple[str, list[x25519.Identity], Path]:
    """A file the real sops encrypts for the test key plus `groups - 1` fresh keys, one per group."""
    others = [x25519.Identity.generate() for _ in range(groups - 1)]
    recipients = [TEST_RECIPIENT, *(str(identity.to_public()) for identity in others)]
    config = tmp_path / "groups.yaml"
    config.write_text(
        f"creation_rules:\n  - shamir_threshold: {threshold}\n    key_groups:\n"
        + "".join(f"      - age:\n          - {recipient}\n" for recipient in recipients)
    )
    plain = tmp_path / "plain.yaml"
    plain.write_text(PLAIN)
    text = run_sops(tmp_path, "--config", str(config), "encrypt", str(plain))
    everyone = tmp_path / "all-keys.txt"
    everyone.write_text(TEST_KEY_FILE.read_text() + "".join(f"{identity}\n" for identity in others))
    return text, others, everyone


def test_two_of_three_groups_rebuild_the_data_key(tmp_path: Path) -> None:
    text, others, _ = _group_file(tmp_path, groups=3, threshold=2)
    assert "key_groups:" in text and "shamir_threshold: 2" in text
    identities = [*parse_identities(TEST_KEY_FILE.read_text(), "k"), others[1]]
    assert decrypt_text(text, "yaml", "g", identities) == PLAIN


def test_too_few_groups_is_one_line_naming_the_threshold(tmp_path: Path) -> None:
    text, _, _ = _group_file(tmp_path, groups=2, threshold=2)
    identities = parse_identities(TEST_KEY_FILE.read_text(), "k")
    with pytest.raises(GitopsError, match=r"^g: the available age identities open 1 of 2 key groups; "):
        decrypt_text(text, "yaml", "g", identities)


def test_updatekeys_of_a_group_file_is_refused(tmp_path: Path) -> None:
    text, others, _ = _group_file(tmp_path, groups=2, threshold=2)
    identities = [*parse_identities(TEST_KEY_FILE.read_text(), "k"), *others]
    with pytest.raises(GitopsError, match="2 key groups \\(Shamir secret sharing\\) is not supported"):
        update_keys_text(text, "yaml", "g", identities, [TEST_RECIPIENT])


def test_an_edit_keeps_the_key_groups_and_sops_decrypts_it(tmp_path: Path) -> None:
    text, others, everyone = _group_file(tmp_path, groups=2, threshold=2)
    identities = [*parse_identities(TEST_KEY_FILE.read_text(), "k"), *others]
    opened = open_text(text, "yaml", "g", identities)
    edited = reseal_text(PLAIN.replace("hunter2", "hunter3"), opened, "g")
    # the group stanzas are kept as they were (yaml.v3 indents a sequence inside a sequence item its own way)
    kept, original = (t.split("lastmodified")[0].split("sops:")[1] for t in (edited, text))
    assert kept.split() == original.split()
    path = tmp_path / "edited.yaml"
    path.write_text(edited)
    assert run_sops(tmp_path, "decrypt", str(path), key_file=everyone) == PLAIN.replace("hunter2", "hunter3")


def test_we_encrypt_for_key_groups_and_sops_needs_the_threshold(tmp_path: Path) -> None:
    others = [x25519.Identity.generate() for _ in range(2)]
    groups = [[TEST_RECIPIENT], [str(others[0].to_public())], [str(others[1].to_public())]]
    text = encrypt_text(PLAIN, "yaml", "g", recipients=[], key_groups=groups, threshold=2)
    assert "shamir_threshold: 2" in text and text.count("recipient:") == 3
    path = tmp_path / "ours.yaml"
    path.write_text(text)
    two = tmp_path / "two.txt"
    two.write_text(TEST_KEY_FILE.read_text() + f"{others[1]}\n")
    assert run_sops(tmp_path, "decrypt", str(path), key_file=two) == PLAIN
    one = subprocess.run(
        [str(sops_binary()), "decrypt", str(path)],
        env=sops_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert one.returncode != 0  # one group of three is below the threshold for sops too


def test_a_rule_with_key_groups_encrypts_through_the_cli(tmp_path: Path) -> None:
    other = x25519.Identity.generate()
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{TEST_RECIPIENT}]\n      - age: [{other.to_public()}]\n"
    )
    secret = tmp_path / "s.yaml"
    secret.write_text(PLAIN)
    proc = run_gitops("secrets", "encrypt", "-i", str(secret), cwd=tmp_path, env=key_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    both = tmp_path / "both.txt"
    both.write_text(TEST_KEY_FILE.read_text() + f"{other}\n")
    assert run_sops(tmp_path, "decrypt", str(secret), key_file=both) == PLAIN
