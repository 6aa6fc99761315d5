"""ENV-*: copy-paste mistakes between environments, on the rendered policy fixture copied to a second
environment the way README's "Adding an environment" copies an overlay.

The encrypted objects are the shipped repository's real SOPS files; the re-wrapped copy is made with
`gitops.sops.update_keys_text`, what `gitops secrets updatekeys` does to a copied file.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyrage import x25519

from gitops.check.findings import Finding, Severity
from gitops.check.integrity import available_identities
from gitops.manifests import manifests_from_build
from gitops.policy.api import run_policy
from gitops.sops import parse_identities, update_keys_text
from tests.helpers import REPO_ROOT
from tests.policy.test_rules import CONFIG, Targets, load
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT

STAGING_VALUES = {
    "LOCAL_DOMAIN": "staging.social.example.org",
    "WEB_DOMAIN": "staging.social.example.org",
    "DB_HOST": "private-mastodon-staging-do-user-0000000-0.f.db.ondigitalocean.com",
}
PRODUCTION_CA = "overlays/production/shared/mastodon-db-ca.sops.yaml"
STAGING_CA = "overlays/staging/shared/mastodon-db-ca.sops.yaml"
OTHER_RECIPIENT = str(x25519.Identity.generate().to_public())


def two_environments() -> Targets:
    """Production and a staging copied from it, with the copy's domains and database host changed."""
    staging = load("staging")
    for manifests in staging.values():
        for manifest in manifests:
            data = manifest.body.get("data")
            if manifest.identity.kind == "ConfigMap" and isinstance(data, dict):
                data.update({k: v for k, v in STAGING_VALUES.items() if k in data})
            if manifest.identity.name == "flux-system" and manifest.target == "clusters/staging":
                manifest.body["spec"]["path"] = "./clusters/staging"
    return {**load("production"), **staging}


def findings(targets: Targets, rule: str) -> list[Finding]:
    return run_policy(None, targets, CONFIG, rule_ids=[rule])


@pytest.fixture
def no_identity(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    monkeypatch.setenv("SOPS_AGE_KEY", "")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    available_identities.cache_clear()
    yield
    available_identities.cache_clear()


@pytest.fixture
def test_identity(monkeypatch: pytest.MonkeyPatch, no_identity: None) -> None:
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(TEST_KEY_FILE))
    available_identities.cache_clear()


def test_env1_passes_when_each_environment_has_its_own_values() -> None:
    assert findings(two_environments(), "ENV-1") == []


@pytest.mark.parametrize("name", sorted(STAGING_VALUES))
def test_env1_fails_on_a_value_kept_from_the_copied_environment(name: str) -> None:
    targets = two_environments()
    for manifest in targets["overlays/staging/apps"]:
        data = manifest.body.get("data")
        if manifest.identity.kind == "ConfigMap" and isinstance(data, dict) and name in data:
            data[name] = {
                "LOCAL_DOMAIN": "social.example.org",
                "WEB_DOMAIN": "social.example.org",
                "DB_HOST": "private-mastodon-production-do-user-0000000-0.f.db.ondigitalocean.com",
            }[name]
    found = findings(targets, "ENV-1")
    assert found and all(f.rule == "ENV-1" and f.severity is Severity.ERROR for f in found)
    assert {f.target.split("/")[1] for f in found if f.target} == {"production", "staging"}
    staging = next(f for f in found if f.target and "staging" in f.target)
    assert staging.file == "overlays/staging/apps/source.yaml"  # the file that sets the value
    assert f"{name}=" in staging.message and "production" in staging.message


def test_env2_passes_when_each_cluster_syncs_its_own_directory() -> None:
    assert findings(two_environments(), "ENV-2") == []


def test_env2_fails_when_a_copied_cluster_syncs_the_original_directory() -> None:
    targets = two_environments()
    for manifest in targets["clusters/staging"]:
        if manifest.identity.name == "flux-system":
            manifest.body["spec"]["path"] = "./clusters/production"
    found = findings(targets, "ENV-2")
    assert len(found) == 1, found
    assert found[0].target == "clusters/staging" and found[0].path == "/spec/path"
    assert "./clusters/production" in found[0].message and "./clusters/staging" in found[0].message


def without_encrypted(targets: Targets) -> Targets:
    """The two environments minus the fixture's encrypted objects (the copy shares them, as copies do)."""
    return {t: [m for m in ms if "sops" not in m.body] for t, ms in targets.items()}


def test_env3_fails_on_the_copied_fixture_and_passes_without_its_encrypted_objects() -> None:
    assert {f.rule for f in findings(two_environments(), "ENV-3") if f.severity is Severity.ERROR} == {"ENV-3"}
    assert findings(without_encrypted(two_environments()), "ENV-3") == []


def _with_encrypted(targets: Targets, env: str, text: str, origin: str) -> Targets:
    (manifest,) = manifests_from_build(text, f"overlays/{env}/shared")
    manifest.origin = origin
    targets = copy.copy(targets)
    targets[f"overlays/{env}/shared"] = [*targets[f"overlays/{env}/shared"], manifest]
    return targets


def _production_ca() -> str:
    return (REPO_ROOT / PRODUCTION_CA).read_text(encoding="utf-8")


def test_env3_passes_for_separately_encrypted_files(test_identity: None) -> None:
    targets = _with_encrypted(without_encrypted(two_environments()), "production", _production_ca(), PRODUCTION_CA)
    targets = _with_encrypted(targets, "staging", (REPO_ROOT / STAGING_CA).read_text(encoding="utf-8"), STAGING_CA)
    assert findings(targets, "ENV-3") == []


def test_env3_fails_on_a_file_copied_as_is_even_without_an_identity(no_identity: None) -> None:
    """Identical wrapped keys can only hold the same data key: no decryption needed."""
    targets = _with_encrypted(without_encrypted(two_environments()), "production", _production_ca(), PRODUCTION_CA)
    targets = _with_encrypted(targets, "staging", _production_ca(), STAGING_CA)
    errors = [f for f in findings(targets, "ENV-3") if f.severity is Severity.ERROR]
    assert {f.file for f in errors} == {PRODUCTION_CA, STAGING_CA}
    assert all("gitops secrets rotate" in f.message for f in errors)


def test_env3_fails_on_a_copied_file_rewrapped_for_new_recipients(test_identity: None) -> None:
    """updatekeys wraps the same data key again: only decrypting the data keys shows it."""
    identities = parse_identities(TEST_KEY_FILE.read_text(), "test key")
    rewrapped = update_keys_text(_production_ca(), "yaml", STAGING_CA, identities, [OTHER_RECIPIENT, TEST_RECIPIENT])
    assert OTHER_RECIPIENT in rewrapped  # and no wrapped key is the original's (age wraps with a fresh nonce)
    targets = _with_encrypted(without_encrypted(two_environments()), "production", _production_ca(), PRODUCTION_CA)
    targets = _with_encrypted(targets, "staging", rewrapped, STAGING_CA)
    errors = [f for f in findings(targets, "ENV-3") if f.severity is Severity.ERROR]
    assert {f.file for f in errors} == {PRODUCTION_CA, STAGING_CA}


def test_env3_says_it_could_not_compare_without_an_identity(no_identity: None) -> None:
    identities = parse_identities(TEST_KEY_FILE.read_text(), "test key")
    rewrapped = update_keys_text(_production_ca(), "yaml", STAGING_CA, identities, [OTHER_RECIPIENT])
    targets = _with_encrypted(without_encrypted(two_environments()), "production", _production_ca(), PRODUCTION_CA)
    targets = _with_encrypted(targets, "staging", rewrapped, STAGING_CA)
    found = findings(targets, "ENV-3")
    assert len(found) == 1 and found[0].severity is Severity.WARNING, found
    assert "not compared" in found[0].message and "no age identity is set" in found[0].message
