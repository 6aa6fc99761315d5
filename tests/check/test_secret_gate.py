"""The secret-hygiene gate: one failing and one passing fixture per rule, repositories built in tmp_path."""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyrage import x25519

from gitops.check.findings import Severity
from gitops.check.integrity import available_identities
from gitops.check.secret_gate import check_hygiene, secrets_in_config
from gitops.manifests import manifests_from_build
from gitops.secret_class import is_secret_class
from gitops.sops import Scope, encrypt_text
from tests.helpers import write_tree
from tests.policy.test_rules import Targets, container, env_map, fresh, mutate, obj, set_env
from tests.sops_helpers import TEST_RECIPIENT

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
OWN_IDENTITY = x25519.Identity.generate()
OWN_RECIPIENT = str(OWN_IDENTITY.to_public())
SCOPE = Scope("encrypted_regex", "^(data|stringData)$")
SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: mastodon\nstringData:\n  DB_PASS: x\n"


@pytest.fixture(autouse=True)
def _own_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's own key is available too, as in CI: every encrypted fixture's MAC is verified."""
    monkeypatch.setenv("SOPS_AGE_KEY", f"{os.environ.get('SOPS_AGE_KEY', '')}\n{OWN_IDENTITY}\n")
    available_identities.cache_clear()


def sops_config(staging: str = TEST_RECIPIENT, production: str = OWN_RECIPIENT) -> str:
    return f"""
        creation_rules:
          - path_regex: ^overlays/staging/.*\\.sops\\.yaml$
            encrypted_regex: ^(data|stringData)$
            age: {staging}
          - path_regex: ^overlays/production/.*\\.sops\\.yaml$
            encrypted_regex: ^(data|stringData)$
            age: {production}
        """


def encrypted(recipient: str = TEST_RECIPIENT, body: str = SECRET) -> str:
    return encrypt_text(body, "yaml", "fixture", recipients=[recipient], scope=SCOPE)


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    base = {".sops.yaml": sops_config(), "tests/keys/test-age-key.pub": TEST_RECIPIENT + "\n"}
    return write_tree(tmp_path / "repo", {**base, **files})


def rules_of(findings: list) -> list[tuple[str, Severity]]:  # type: ignore[type-arg]
    return sorted((f.rule, f.severity) for f in findings)


def test_clean_repository_has_no_findings(tmp_path: Path) -> None:
    root = repo(tmp_path, {"overlays/staging/app.sops.yaml": encrypted()})
    assert check_hygiene(root, now=NOW) == []


def test_plaintext_secret_in_sources(tmp_path: Path) -> None:
    root = repo(tmp_path, {"base/app/secret.yaml": SECRET})
    findings = check_hygiene(root, now=NOW)
    assert rules_of(findings) == [("SEC-PLAINTEXT-SECRET", Severity.ERROR)]
    assert findings[0].file == "base/app/secret.yaml"
    assert findings[0].identity is not None and findings[0].identity.name == "app"
    assert "x" not in findings[0].message.split()  # the value is never repeated


def test_sops_file_with_plaintext_data_value(tmp_path: Path) -> None:
    leaky = encrypted().replace("stringData:\n", "stringData:\n  EXTRA: plain\n", 1)
    root = repo(tmp_path, {"overlays/staging/app.sops.yaml": leaky})
    findings = [f for f in check_hygiene(root, now=NOW) if f.rule == "SEC-PLAINTEXT-SECRET"]
    assert [f.path for f in findings] == ["/stringData/EXTRA"]


def test_encrypted_file_without_rule(tmp_path: Path) -> None:
    root = repo(tmp_path, {"overlays/staging/app.sops.yaml": encrypted(), "base/stray.yaml": encrypted()})
    findings = check_hygiene(root, now=NOW)
    assert [(f.rule, f.file) for f in findings] == [("SEC-SOPS-RULE", "base/stray.yaml")]


def test_encrypted_file_with_other_recipients_than_its_rule(tmp_path: Path) -> None:
    root = repo(tmp_path, {"overlays/production/app.sops.yaml": encrypted(TEST_RECIPIENT)})
    findings = check_hygiene(root, now=NOW)
    assert rules_of(findings) == [("SEC-SOPS-RECIPIENTS", Severity.ERROR)]
    assert OWN_RECIPIENT in findings[0].message and "updatekeys" in findings[0].message
    fixed = repo(tmp_path / "fixed", {"overlays/production/app.sops.yaml": encrypted(OWN_RECIPIENT)})
    assert check_hygiene(fixed, now=NOW) == []


FLUX = """
    apiVersion: kustomize.toolkit.fluxcd.io/v1
    kind: Kustomization
    metadata:
      name: apps
      namespace: flux-system
    spec:
      interval: 10m
      path: ./overlays/staging
      prune: true
      sourceRef:
        kind: GitRepository
        name: flux-system
    """
DECRYPTION = "  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"


def test_flux_kustomization_without_decryption(tmp_path: Path) -> None:
    files = {"overlays/staging/app.sops.yaml": encrypted(), "clusters/staging/apps.yaml": FLUX}
    findings = check_hygiene(repo(tmp_path, files), now=NOW)
    assert rules_of(findings) == [("SEC-FLUX-DECRYPTION", Severity.ERROR)]
    assert "overlays/staging/app.sops.yaml" in findings[0].message
    files["clusters/staging/apps.yaml"] = textwrap.dedent(FLUX) + DECRYPTION
    assert check_hygiene(repo(tmp_path / "ok", files), now=NOW) == []


def test_flux_kustomization_of_a_path_without_secrets_needs_nothing(tmp_path: Path) -> None:
    files = {"overlays/production/app.sops.yaml": encrypted(OWN_RECIPIENT), "clusters/staging/apps.yaml": FLUX}
    assert check_hygiene(repo(tmp_path, files), now=NOW) == []


CONFIGMAP = """
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: env
    data:
      LOCAL_DOMAIN: example.org
      {key}: {value}
    """
DEPLOYMENT = """
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: web
    spec:
      template:
        spec:
          containers:
            - name: web
              image: ghcr.io/mastodon/mastodon:v4.3.0
              env:
                - name: {key}
                  {field}
    """


@pytest.mark.parametrize(
    ("key", "value", "leaks"),
    [
        ("SECRET_KEY_BASE", "abc", True),
        ("DB_PASS", "abc", True),
        ("SMTP_PASSWORD", "abc", True),
        ("ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY", "abc", True),
        ("AWS_SECRET_ACCESS_KEY", "abc", True),
        ("REDIS_URL", "rediss://:pw@redis:6379", True),
        ("REDIS_URL", "rediss://redis:6379", False),
        ("DATABASE_URL", "postgres://u:p@db/x", True),
        ("DB_HOST", "db", False),
        ("AWS_ACCESS_KEY_ID", "AKIA", False),
    ],
)
def test_secret_class_keys(key: str, value: str, leaks: bool) -> None:
    assert is_secret_class(key, value) is leaks


def test_secret_class_key_in_source_configmap(tmp_path: Path) -> None:
    root = repo(tmp_path, {"base/app/cm.yaml": CONFIGMAP.format(key="DB_PASS", value="hunter2")})
    findings = check_hygiene(root, now=NOW)
    assert [(f.rule, f.path) for f in findings] == [("SEC-SECRET-IN-CONFIG", "/data/DB_PASS")]
    assert "hunter2" not in findings[0].message
    ok = repo(tmp_path / "ok", {"base/app/cm.yaml": CONFIGMAP.format(key="DB_HOST", value="db")})
    assert check_hygiene(ok, now=NOW) == []


def test_literal_env_value_versus_secret_ref(tmp_path: Path) -> None:
    leak = DEPLOYMENT.format(key="OTP_SECRET", field="value: abc")
    findings = check_hygiene(repo(tmp_path, {"base/app/web.yaml": leak}), now=NOW)
    assert rules_of(findings) == [("SEC-SECRET-IN-CONFIG", Severity.ERROR)]
    ref = DEPLOYMENT.format(key="OTP_SECRET", field="valueFrom: {secretKeyRef: {name: app, key: OTP_SECRET}}")
    assert check_hygiene(repo(tmp_path / "ok", {"base/app/web.yaml": ref}), now=NOW) == []


def test_rendered_configmap_from_a_generator(tmp_path: Path) -> None:
    root = repo(tmp_path, {})
    rendered = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: env-abc\ndata:\n  REPLICA_DB_PASS: x\n"
    manifests = manifests_from_build(rendered, "overlays/staging")
    findings = check_hygiene(root, manifests, now=NOW)
    assert [(f.rule, f.target) for f in findings] == [("SEC-SECRET-IN-CONFIG", "overlays/staging")]
    clean = manifests_from_build(rendered.replace("REPLICA_DB_PASS", "REPLICA_DB_HOST"), "overlays/staging")
    assert check_hygiene(root, clean, now=NOW) == []


def test_postbuild_substitute_secret(tmp_path: Path) -> None:
    flux = textwrap.dedent(FLUX).replace("./overlays/staging", "./overlays/none")
    flux += "  postBuild:\n    substitute:\n      SMTP_PASSWORD: abc\n"
    findings = check_hygiene(repo(tmp_path, {"clusters/staging/apps.yaml": flux}), now=NOW)
    assert [f.path for f in findings] == ["/spec/postBuild/substitute/SMTP_PASSWORD"]


def _ca_secret(not_after: str) -> str:
    body = SECRET.replace(
        "  namespace: mastodon\n", f'  namespace: mastodon\n  annotations:\n    gitops/ca-not-after: "{not_after}"\n'
    )
    return encrypted(TEST_RECIPIENT, body)


@pytest.mark.parametrize(
    ("not_after", "expected"),
    [
        ("2031-01-01T00:00:00Z", []),
        ("2026-01-20T00:00:00Z", [("SEC-CA-EXPIRY", Severity.WARNING)]),
        ("2025-12-31T00:00:00Z", [("SEC-CA-EXPIRY", Severity.ERROR)]),
        ("soon", [("SEC-CA-EXPIRY", Severity.ERROR)]),
    ],
)
def test_ca_expiry_from_the_plaintext_annotation(tmp_path: Path, not_after: str, expected: list) -> None:  # type: ignore[type-arg]
    root = repo(tmp_path, {"overlays/staging/shared/mastodon-db-ca.sops.yaml": _ca_secret(not_after)})
    assert rules_of(check_hygiene(root, now=NOW)) == expected


def test_production_rule_with_the_published_test_key(tmp_path: Path) -> None:
    files = {".sops.yaml": sops_config(production=TEST_RECIPIENT)}
    findings = check_hygiene(repo(tmp_path, files), now=NOW)
    assert rules_of(findings) == [("SEC-TEST-KEY", Severity.WARNING)]
    assert "updatekeys" in findings[0].message and findings[0].file == ".sops.yaml"
    assert check_hygiene(repo(tmp_path / "own", {}), now=NOW) == []  # staging may keep the test key


def test_every_rule_id_the_gate_reports_is_registered_and_documented() -> None:
    import re

    import gitops.check.secret_gate
    from gitops.check.registry import get_rule
    from tests.helpers import REPO_ROOT

    used = set(re.findall(r'"(SEC-[A-Z-]+)"', Path(gitops.check.secret_gate.__file__).read_text()))
    assert used >= {"SEC-PLAINTEXT-SECRET", "SEC-SECRET-IN-CONFIG", "SEC-TEST-KEY"}
    docs = (REPO_ROOT / "docs/rules.md").read_text()
    for rule_id in used:
        assert get_rule(rule_id) is not None, rule_id
        assert f"### {rule_id}\n" in docs, rule_id


# --- one rule for secret-class values, judged on rendered manifests (the policy pack's SEC-1 retired into it) ---


def _flux_spec(targets: Targets, name: str) -> dict[str, Any]:
    return obj(targets, "Kustomization", name, "clusters/production")["spec"]


def _resolve(body: Any, pointer: str) -> Any:
    """RFC 6901: the value `pointer` addresses in `body` (KeyError/IndexError when it does not exist)."""
    for token in pointer.lstrip("/").split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        body = body[int(token)] if isinstance(body, list) else body[token]
    return body


SUBSTITUTE = {"substitute": {"SMTP_PASSWORD": "x"}}
RENDERED_LEAKS = [
    ("configmap", mutate(lambda t: env_map(t).update(DB_PASS="hunter2")), ("ConfigMap", "mastodon-env-425m7h8278"),
     "/data/DB_PASS", "hunter2"),
    ("literal-env", mutate(lambda t: set_env(container(t, "mastodon-web"), "SECRET_KEY_BASE", "abc")),
     ("Deployment", "mastodon-web"), None, "abc"),
    ("redis-url-with-password", mutate(lambda t: env_map(t).update(REDIS_URL="rediss://default:pw@redis:25061")),
     ("ConfigMap", "mastodon-env-425m7h8278"), "/data/REDIS_URL", "rediss://default:pw@redis:25061"),
    ("flux-substitute", mutate(lambda t: _flux_spec(t, "mastodon-apps").update(postBuild=SUBSTITUTE)),
     ("Kustomization", "mastodon-apps"), "/spec/postBuild/substitute/SMTP_PASSWORD", "x"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("build", "about", "expected_pointer", "value"), [pytest.param(*c[1:], id=c[0]) for c in RENDERED_LEAKS]
)
def test_secret_class_value_in_rendered_config_is_one_finding_with_a_real_pointer(
    build: Callable[[], Targets], about: tuple[str, str], expected_pointer: str | None, value: str
) -> None:
    manifests = [m for target in build().values() for m in target]
    findings = secrets_in_config([], manifests)
    assert [(f.rule, f.severity) for f in findings] == [("SEC-SECRET-IN-CONFIG", Severity.ERROR)]
    finding = findings[0]
    assert finding.identity is not None and (finding.identity.kind, finding.identity.name) == about
    manifest = next(m for m in manifests if m.identity == finding.identity and m.target == finding.target)
    assert _resolve(manifest.body, finding.path) == value
    if expected_pointer is not None:
        assert finding.path == expected_pointer
    assert finding.file == f"{finding.target}/source.yaml"
    assert value not in finding.message


def test_the_good_rendered_fixture_has_no_secret_in_config() -> None:
    assert secrets_in_config([], [m for target in fresh().values() for m in target]) == []
