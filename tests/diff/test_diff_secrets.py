"""Secrets in gitops diff: compared without ever being shown, SOPS by key set or by decrypted digest."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from tests.diff.support import commit, init_repo, new_identity, sops_secret
from tests.helpers import run_gitops

FORMATS = ("text", "unified", "markdown", "json")
SECRETS = {"password": "hunter2-correct-horse", "token": "tok-0123456789abcdef"}

WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ghcr.io/mastodon/mastodon:v4.6.3
        envFrom:
        - secretRef: {name: generated}
"""


def no_identity_env(tmp_path: Path) -> dict[str, str]:
    return {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "SOPS_AGE_KEY": "",
        "SOPS_AGE_KEY_FILE": "",
    }


def identity_env(tmp_path: Path, identity: x25519.Identity) -> dict[str, str]:
    key_file = tmp_path / "keys.txt"
    key_file.write_text(f"# test key\n{identity}\n")
    return {**no_identity_env(tmp_path), "SOPS_AGE_KEY_FILE": str(key_file)}


def run_all_formats(repo: Path, env: dict[str, str]) -> dict[str, str]:
    outputs = {}
    for fmt in FORMATS:
        proc = run_gitops("diff", "--base", "main", "-o", fmt, cwd=repo, env=env)
        assert proc.returncode == 1, proc.stderr
        outputs[fmt] = proc.stdout
    return outputs


def secret_record(json_text: str, name: str = "db") -> dict[str, Any]:
    data = json.loads(json_text)
    (found,) = [r for t in data["targets"] for r in t["resources"] if r["kind"] == "Secret" and r["name"] == name]
    return found


def key_changes(record: dict[str, Any]) -> dict[str, str]:
    return {f"{k['field']}.{k['key']}": k["change"] for k in record["secret"]["keys"]}


def assert_no_secret_material(outputs: dict[str, str], *plaintexts: str, files: list[str] = ()) -> None:
    forbidden = set()
    for value in plaintexts:
        forbidden |= {value, base64.b64encode(value.encode()).decode()}
    for text in files:  # the ciphertext of every ENC value, and the age stanzas
        forbidden |= set(re.findall(r"data:([A-Za-z0-9+/=]{8,})", text))
        forbidden |= {line.strip() for line in text.splitlines() if re.fullmatch(r"\s+[A-Za-z0-9+/=]{40,}", line)}
    for fmt, text in outputs.items():
        for needle in forbidden:
            assert needle not in text, (fmt, needle)


@pytest.fixture
def recipient_identity() -> x25519.Identity:
    return new_identity()


def sops_repo(tmp_path: Path, identity: x25519.Identity, values: dict[str, str]) -> tuple[Path, str]:
    secret = sops_secret("db", values, identity.to_public())
    repo = init_repo(
        tmp_path / "repo",
        {
            "overlays/a/kustomization.yaml": "namespace: a\nresources: [secret.yaml]\n",
            "overlays/a/secret.yaml": secret,
        },
    )
    return repo, secret


def test_plain_generated_secret_values_are_compared_but_never_shown(tmp_path: Path) -> None:
    def tree(password: str) -> dict[str, str]:
        return {
            "overlays/a/kustomization.yaml": f"""
                namespace: a
                resources: [web.yaml]
                secretGenerator:
                - name: generated
                  literals: [password={password}, token={SECRETS["token"]}]
            """,
            "overlays/a/web.yaml": WORKLOAD,
        }

    repo = init_repo(tmp_path / "repo", tree(SECRETS["password"]))
    commit(repo, tree("a-brand-new-password-42"))
    outputs = run_all_formats(repo, no_identity_env(tmp_path))
    record = secret_record(outputs["json"], json.loads(outputs["json"])["targets"][0]["resources"][0]["name"])
    assert record["previousName"].startswith("generated-")
    assert record["secret"]["comparedBy"] == "value" and record["secret"]["encrypted"] is False
    assert key_changes(record) == {"data.password": "changed", "data.token": "unchanged"}
    web = [r for r in json.loads(outputs["json"])["targets"][0]["resources"] if r["kind"] == "Deployment"]
    assert web[0]["status"] == "rolling"
    assert "data.password: changed" in outputs["text"]
    assert "password: '*** (after)'" in outputs["unified"] and "token: '***'" in outputs["unified"]
    assert_no_secret_material(outputs, SECRETS["password"], SECRETS["token"], "a-brand-new-password-42")


def test_sops_reencryption_without_identity_compares_key_sets(
    tmp_path: Path, recipient_identity: x25519.Identity
) -> None:
    repo, old = sops_repo(tmp_path, recipient_identity, SECRETS)
    new = sops_secret("db", {**SECRETS, "extra": "s3cr3t-extra-value"}, recipient_identity.to_public(), stamp="02")
    commit(repo, {"overlays/a/secret.yaml": new})
    outputs = run_all_formats(repo, no_identity_env(tmp_path))
    record = secret_record(outputs["json"])
    assert record["status"] == "changed"
    assert record["secret"]["comparedBy"] == "keys" and record["secret"]["encrypted"] is True
    assert record["secret"]["reencrypted"] is False  # cannot know without an identity
    assert key_changes(record) == {
        "stringData.extra": "added",
        "stringData.password": "unknown",
        "stringData.token": "unknown",
    }
    assert record["fields"] == []  # the sops block and the values never become field changes
    assert "no decryption identity: compared by key set" in outputs["text"]
    assert "stringData.extra: added" in outputs["text"]
    assert_no_secret_material(outputs, *SECRETS.values(), "s3cr3t-extra-value", files=[old, new])


def test_sops_value_change_without_identity_cannot_be_told_from_reencryption(
    tmp_path: Path, recipient_identity: x25519.Identity
) -> None:
    repo, old = sops_repo(tmp_path, recipient_identity, SECRETS)
    new = sops_secret("db", {**SECRETS, "password": "changed-password-77"}, recipient_identity.to_public(), "02")
    commit(repo, {"overlays/a/secret.yaml": new})
    outputs = run_all_formats(repo, no_identity_env(tmp_path))
    assert key_changes(secret_record(outputs["json"])) == {
        "stringData.password": "unknown",
        "stringData.token": "unknown",
    }
    assert_no_secret_material(outputs, *SECRETS.values(), "changed-password-77", files=[old, new])


def test_unchanged_sops_secret_is_not_a_change(tmp_path: Path, recipient_identity: x25519.Identity) -> None:
    repo, _ = sops_repo(tmp_path, recipient_identity, SECRETS)
    commit(
        repo,
        {
            "overlays/a/kustomization.yaml": "namespace: a\nresources: [secret.yaml, ns.yaml]\n",
            "overlays/a/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
        },
    )
    proc = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo, env=no_identity_env(tmp_path))
    assert proc.returncode == 1
    kinds = [r["kind"] for t in json.loads(proc.stdout)["targets"] for r in t["resources"]]
    assert kinds == ["Namespace"]


def test_sops_reencryption_with_identity_says_values_unchanged(
    tmp_path: Path, recipient_identity: x25519.Identity
) -> None:
    repo, old = sops_repo(tmp_path, recipient_identity, SECRETS)
    new = sops_secret("db", SECRETS, recipient_identity.to_public(), stamp="02")
    commit(repo, {"overlays/a/secret.yaml": new})
    outputs = run_all_formats(repo, identity_env(tmp_path, recipient_identity))
    record = secret_record(outputs["json"])
    assert record["secret"]["comparedBy"] == "plaintext"
    assert record["secret"]["reencrypted"] is True
    assert key_changes(record) == {"stringData.password": "unchanged", "stringData.token": "unchanged"}
    assert "re-encrypted without a value change" in outputs["text"]
    assert_no_secret_material(outputs, *SECRETS.values(), files=[old, new])


def test_sops_value_change_with_identity_is_changed(tmp_path: Path, recipient_identity: x25519.Identity) -> None:
    repo, old = sops_repo(tmp_path, recipient_identity, SECRETS)
    new = sops_secret("db", {**SECRETS, "password": "changed-password-77"}, recipient_identity.to_public(), "02")
    commit(repo, {"overlays/a/secret.yaml": new})
    outputs = run_all_formats(repo, identity_env(tmp_path, recipient_identity))
    record = secret_record(outputs["json"])
    assert record["secret"]["comparedBy"] == "plaintext" and record["secret"]["reencrypted"] is False
    assert key_changes(record) == {"stringData.password": "changed", "stringData.token": "unchanged"}
    assert "stringData.password: changed" in outputs["text"]
    assert_no_secret_material(outputs, *SECRETS.values(), "changed-password-77", files=[old, new])


def test_identity_that_does_not_open_the_file_falls_back_to_key_sets(
    tmp_path: Path, recipient_identity: x25519.Identity
) -> None:
    repo, _ = sops_repo(tmp_path, recipient_identity, SECRETS)
    commit(repo, {"overlays/a/secret.yaml": sops_secret("db", SECRETS, recipient_identity.to_public(), "02")})
    proc = run_gitops("diff", "--base", "main", "-o", "json", cwd=repo, env=identity_env(tmp_path, new_identity()))
    assert proc.returncode == 1, proc.stderr
    assert secret_record(proc.stdout)["secret"]["comparedBy"] == "keys"


def test_files_written_by_the_sops_library_rotate_without_value_change(tmp_path: Path) -> None:
    from gitops.sops import encrypt_text, parse_identities, rotate_text
    from gitops.sops.rules import Scope
    from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, key_env

    plaintext = f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: {SECRETS['password']}\n"
    scope = Scope("encrypted_regex", "^(data|stringData)$")
    old = encrypt_text(plaintext, "yaml", "secret.yaml", recipients=[TEST_RECIPIENT], scope=scope)
    identities = parse_identities(TEST_KEY_FILE.read_text(), str(TEST_KEY_FILE))
    new = rotate_text(old, "yaml", "secret.yaml", identities)
    repo = init_repo(
        tmp_path / "repo",
        {"overlays/a/kustomization.yaml": "namespace: a\nresources: [secret.yaml]\n", "overlays/a/secret.yaml": old},
    )
    commit(repo, {"overlays/a/secret.yaml": new})
    outputs = run_all_formats(repo, key_env(tmp_path))
    record = secret_record(outputs["json"])
    assert record["secret"]["comparedBy"] == "plaintext" and record["secret"]["reencrypted"] is True
    assert key_changes(record) == {"stringData.password": "unchanged"}
    assert_no_secret_material(outputs, SECRETS["password"], files=[old, new])
