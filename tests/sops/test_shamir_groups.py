"""Files sops writes with several key_groups (Shamir shares of the data key): decrypt with enough groups."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pyrage import x25519

from gitops.errors import GitopsError
from gitops.sops import decrypt_text, encrypt_text, open_text, parse_identities, rotate_text, update_keys_text
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


def _sops_decrypts(tmp_path: Path, text: str, key_file: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"check-{abs(hash(text))}.yaml"
    path.write_text(text)
    return subprocess.run(
        [str(sops_binary()), "decrypt", str(path)],
        env=sops_env(tmp_path, key_file),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _keys(tmp_path: Path, name: str, identities: list[x25519.Identity], with_test_key: bool = True) -> Path:
    path = tmp_path / name
    path.write_text((TEST_KEY_FILE.read_text() if with_test_key else "") + "".join(f"{i}\n" for i in identities))
    return path


def test_updatekeys_of_a_group_file_splits_the_same_data_key_for_the_rules_groups(tmp_path: Path) -> None:
    text, others, everyone = _group_file(tmp_path, groups=2, threshold=2)
    identities = [*parse_identities(TEST_KEY_FILE.read_text(), "k"), *others]
    third = x25519.Identity.generate()
    groups = [[TEST_RECIPIENT], [str(others[0].to_public())], [str(third.to_public())]]
    after = update_keys_text(text, "yaml", "g", identities, [], key_groups=groups, threshold=2)
    assert after.split("sops:")[0] == text.split("sops:")[0]  # same data key: every value and the MAC stay
    assert "shamir_threshold: 2" in after and after.count("recipient:") == 3
    assert _sops_decrypts(tmp_path, after, _keys(tmp_path, "1-3.txt", [third])).stdout == PLAIN
    assert _sops_decrypts(tmp_path, after, _keys(tmp_path, "2-3.txt", [others[0], third], False)).stdout == PLAIN
    assert _sops_decrypts(tmp_path, after, _keys(tmp_path, "3.txt", [third], False)).returncode != 0
    flat = update_keys_text(after, "yaml", "g", [*identities, third], [TEST_RECIPIENT])
    assert "key_groups" not in flat and "shamir_threshold" not in flat and flat.count("recipient:") == 1
    assert flat.split("sops:")[0] == text.split("sops:")[0]
    assert _sops_decrypts(tmp_path, flat, TEST_KEY_FILE).stdout == PLAIN
    assert everyone.is_file()


def test_rotate_of_a_group_file_keeps_its_groups_with_a_new_data_key(tmp_path: Path) -> None:
    text, others, everyone = _group_file(tmp_path, groups=3, threshold=2)
    identities = [*parse_identities(TEST_KEY_FILE.read_text(), "k"), *others]
    after = rotate_text(text, "yaml", "g", identities)
    assert after.split("sops:")[0] != text.split("sops:")[0]  # every value re-encrypted
    assert "shamir_threshold: 2" in after and after.count("recipient:") == 3
    version = [line for line in text.splitlines() if "version:" in line]
    assert version == [line for line in after.splitlines() if "version:" in line]
    assert _sops_decrypts(tmp_path, after, everyone).stdout == PLAIN
    assert _sops_decrypts(tmp_path, after, _keys(tmp_path, "two.txt", [others[1]])).stdout == PLAIN
    assert _sops_decrypts(tmp_path, after, TEST_KEY_FILE).returncode != 0  # one group of three


def test_updatekeys_through_the_cli_follows_a_rule_with_key_groups(tmp_path: Path) -> None:
    text, others, everyone = _group_file(tmp_path, groups=2, threshold=2)
    third = x25519.Identity.generate()
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n"
        f"      - age: [{TEST_RECIPIENT}]\n      - age: [{third.to_public()}]\n"
    )
    secret = tmp_path / "s.yaml"
    secret.write_text(text)
    proc = run_gitops("secrets", "updatekeys", str(secret), cwd=tmp_path, env=key_env(tmp_path, everyone))
    assert proc.returncode == 0, proc.stderr
    written = secret.read_text()
    assert str(third.to_public()) in written and str(others[0].to_public()) not in written
    assert _sops_decrypts(tmp_path, written, _keys(tmp_path, "third.txt", [third])).stdout == PLAIN
    assert _sops_decrypts(tmp_path, written, everyone).returncode != 0  # the old second group is gone


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


def test_json_group_file_updatekeys_and_rotate_decrypt_with_sops(tmp_path: Path) -> None:
    other = x25519.Identity.generate()
    config = tmp_path / "groups.yaml"
    config.write_text(
        f"creation_rules:\n  - key_groups:\n      - age: [{TEST_RECIPIENT}]\n      - age: [{other.to_public()}]\n"
    )
    plain = tmp_path / "plain.json"
    plain.write_text('{"password": "hunter2"}\n')
    text = run_sops(tmp_path, "--config", str(config), "encrypt", str(plain))
    both = _keys(tmp_path, "both.txt", [other])
    identities = parse_identities(both.read_text(), "k")
    third = x25519.Identity.generate()
    groups = [[TEST_RECIPIENT], [str(third.to_public())]]
    original = tmp_path / "original.json"
    original.write_text(text)
    expected = run_sops(tmp_path, "decrypt", str(original), key_file=both)
    assert "hunter2" in expected
    for after in (
        update_keys_text(text, "json", "g.json", identities, [], key_groups=groups),
        rotate_text(text, "json", "g.json", identities),
    ):
        path = tmp_path / f"after-{abs(hash(after))}.json"
        path.write_text(after)
        keys = _keys(tmp_path, "k.txt", [third, other])
        assert run_sops(tmp_path, "decrypt", str(path), key_file=keys) == expected


def test_dotenv_with_several_key_groups_both_ways_with_sops(tmp_path: Path) -> None:
    other = x25519.Identity.generate()
    groups = [[TEST_RECIPIENT], [str(other.to_public())]]
    config = tmp_path / "groups.yaml"
    config.write_text(
        "creation_rules:\n  - shamir_threshold: 2\n    key_groups:\n" + "".join(f"      - age: {g}\n" for g in groups)
    )
    dotenv = "# note\nPASSWORD=hunter2\nPORT=5432\n"
    plain = tmp_path / "plain.env"
    plain.write_text(dotenv)
    theirs = run_sops(tmp_path, "--config", str(config), "encrypt", str(plain))
    both = _keys(tmp_path, "both.txt", [other])
    identities = parse_identities(both.read_text(), "k")
    assert decrypt_text(theirs, "dotenv", "g.env", identities) == dotenv
    ours = encrypt_text(dotenv, "dotenv", "g.env", recipients=[], key_groups=groups, threshold=2)

    def names(text: str) -> list[str]:
        return [line.split("=")[0] for line in text.splitlines() if line.startswith("sops_")]

    assert names(ours) == names(theirs)  # sops_key_groups__list_0__map_age__list_0__map_enc, ... in its order
    for text in (ours, rotate_text(ours, "dotenv", "g.env", identities)):
        path = tmp_path / f"ours-{abs(hash(text))}.env"
        path.write_text(text)
        assert run_sops(tmp_path, "decrypt", str(path), key_file=both) == dotenv
        assert _sops_decrypts(tmp_path, text, TEST_KEY_FILE).returncode != 0  # one group of two
