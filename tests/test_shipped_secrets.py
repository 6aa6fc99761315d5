"""The shipped encrypted Secrets, the .sops.yaml rules and the pre-commit hygiene gate."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gitops.sops import decrypt_text, load_identities, read_metadata
from tests.helpers import REPO_ROOT, run_gitops, write_tree

TEST_KEY = REPO_ROOT / "tests/keys/test-age-key.txt"
APP_SECRET_KEYS = {
    "SECRET_KEY_BASE",
    "VAPID_PRIVATE_KEY",
    "VAPID_PUBLIC_KEY",
    "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY",
    "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
    "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
    "DB_PASS",
    "REDIS_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "SMTP_LOGIN",
    "SMTP_PASSWORD",
}


@pytest.mark.parametrize("env", ["staging", "production"])
def test_each_environment_ships_encrypted_app_and_ca_secrets(env: str) -> None:
    identities = load_identities({"SOPS_AGE_KEY_FILE": str(TEST_KEY)}, home=Path("/nonexistent"))
    app_file = REPO_ROOT / f"overlays/{env}/shared/mastodon-secrets.sops.yaml"
    app_text = app_file.read_text()
    assert read_metadata(app_text, "yaml", app_file.name) is not None
    app = yaml.safe_load(decrypt_text(app_text, "yaml", app_file.name, identities))
    assert set(app["stringData"]) == APP_SECRET_KEYS
    assert app["stringData"]["REDIS_URL"].startswith("rediss://")
    assert all("FAKE" in value or "@" in value for value in app["stringData"].values())
    assert "FAKE" not in app_text.split("stringData:")[1].split("sops:")[0]  # values are ciphertext on disk

    ca_file = REPO_ROOT / f"overlays/{env}/shared/mastodon-db-ca.sops.yaml"
    ca = yaml.safe_load(decrypt_text(ca_file.read_text(), "yaml", ca_file.name, identities))
    assert ca["metadata"]["name"] == "mastodon-db-ca"
    assert ca["stringData"]["ca.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert "gitops/ca-not-after" in ca["metadata"]["annotations"]


def test_shipped_secrets_render_into_the_shared_layer_still_encrypted() -> None:
    proc = run_gitops("render", "clusters/production/flux-system/mastodon-shared", "--out", "-", cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stderr
    secrets = [d for d in yaml.safe_load_all(proc.stdout) if d["kind"] == "Secret"]
    assert sorted(s["metadata"]["name"] for s in secrets) == ["mastodon-db-ca", "mastodon-secrets"]
    assert all("sops" in s for s in secrets)
    assert "FAKE" not in proc.stdout


def test_shipped_repository_passes_the_hygiene_gate_with_only_the_test_key_warning() -> None:
    proc = run_gitops("secrets", "lint", cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert [line.split(": ")[1] for line in proc.stdout.splitlines()] == ["warning SEC-TEST-KEY"]


def test_lint_fails_on_a_plaintext_secret(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path,
        {
            "overlays/dev/secret.yaml": """
                apiVersion: v1
                kind: Secret
                metadata: {name: oops}
                stringData: {DB_PASS: hunter2}
            """,
            "overlays/dev/kustomization.yaml": "resources: [secret.yaml]\n",
        },
    )
    proc = run_gitops("secrets", "lint", "overlays/dev/secret.yaml", cwd=repo)
    assert proc.returncode == 1
    assert "overlays/dev/secret.yaml" in proc.stdout
    assert "SEC-PLAINTEXT-SECRET" in proc.stdout
    assert "hunter2" not in proc.stdout + proc.stderr
    (repo / "overlays/dev/secret.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\ndata: {LOG_LEVEL: info}\n"
    )
    assert run_gitops("secrets", "lint", cwd=repo).returncode == 0


def test_pre_commit_hook_runs_the_lint_command() -> None:
    (hook,) = yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert hook["entry"] == "gitops secrets lint"
    assert hook["pass_filenames"] is False


def test_decrypt_values_opens_a_rendered_object_whose_plain_fields_kustomize_changed() -> None:
    from gitops.errors import GitopsError
    from gitops.sops import decrypt_values

    identities = load_identities({"SOPS_AGE_KEY_FILE": str(TEST_KEY)}, home=Path("/nonexistent"))
    body = yaml.safe_load((REPO_ROOT / "overlays/staging/shared/mastodon-secrets.sops.yaml").read_text())
    body["metadata"]["labels"] = {"added-by": "kustomize"}  # the MAC would no longer verify; values still open
    values = decrypt_values(body, "rendered", identities)
    assert values[("stringData", "DB_PASS")] == (b"FAKE-staging-db-password", "str")
    assert len(values) == len(APP_SECRET_KEYS)
    with pytest.raises(GitopsError):
        decrypt_values({k: v for k, v in body.items() if k != "sops"}, "plain", identities)
