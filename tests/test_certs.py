"""CA-certificate validation and `gitops secrets ca-cert` packaging into the env's encrypted Secret."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gitops import certs
from gitops.errors import GitopsError
from gitops.sops import decrypt_text, parse_identities, read_metadata
from tests.helpers import assert_one_line_error, run_gitops, write_tree
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, key_env

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def make_cert(cn: str, not_after: dt.datetime, *, ca: bool = True) -> tuple[str, str]:
    """(certificate PEM, private key PEM), self-signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_after - dt.timedelta(days=3650))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_bundle_records_the_earliest_not_after() -> None:
    first, _ = make_cert("db-ca", dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    second, _ = make_cert("redis-ca", dt.datetime(2029, 6, 1, 12, tzinfo=dt.UTC))
    bundle = certs.validate_ca_pem(first + second, "ca.pem", now=NOW)
    assert bundle.subjects == ("db-ca", "redis-ca")
    assert certs.format_not_after(bundle.not_after) == "2029-06-01T12:00:00Z"
    assert bundle.pem == first + second


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("private key", "contains a private key"),
        ("expired", "expired on 2025-01-01T00:00:00Z"),
        ("not a CA", "is not a CA certificate"),
        ("empty", "no PEM CERTIFICATE block"),
        ("garbage block", "not a valid X.509 certificate"),
        ("other block", "expected CERTIFICATE"),
    ],
)
def test_invalid_bundles_are_refused(case: str, message: str) -> None:
    good, key = make_cert("db-ca", dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    texts = {
        "private key": good + key,
        "expired": good + make_cert("old", dt.datetime(2025, 1, 1, tzinfo=dt.UTC))[0],
        "not a CA": make_cert("leaf", dt.datetime(2031, 1, 1, tzinfo=dt.UTC), ca=False)[0],
        "empty": "hello\n",
        "garbage block": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        "other block": "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    }
    with pytest.raises(GitopsError, match=message) as info:
        certs.validate_ca_pem(texts[case], "ca.pem", now=NOW)
    assert str(info.value).startswith("ca.pem: ")
    assert "PRIVATE KEY-----" not in str(info.value)


def _repo(tmp_path: Path, regex: str = "^(data|stringData)$") -> Path:
    return write_tree(
        tmp_path / "repo",
        {
            ".sops.yaml": f"""
                creation_rules:
                  - path_regex: ^overlays/staging/
                    encrypted_regex: {regex}
                    age: {TEST_RECIPIENT}
                """,
            "overlays/staging/kustomization.yaml": "resources: []\n",
        },
    )


def test_ca_cert_command_writes_the_encrypted_secret(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    pem, _ = make_cert("db-ca", dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    (tmp_path / "ca.pem").write_text(pem)
    proc = run_gitops(
        "secrets", "ca-cert", str(tmp_path / "ca.pem"), "--env", "staging", cwd=repo, env=key_env(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    target = repo / "overlays/staging/shared/mastodon-db-ca.sops.yaml"
    text = target.read_text()
    assert "BEGIN CERTIFICATE" not in text
    assert 'gitops/ca-not-after: "2031-01-01T00:00:00Z"' in text  # plaintext, readable without a key
    meta = read_metadata(text, "yaml", "ca")
    assert meta is not None and meta.recipients == (TEST_RECIPIENT,)
    plaintext = decrypt_text(text, "yaml", "ca", parse_identities(TEST_KEY_FILE.read_text(), "k"))
    assert "ca.crt: |\n    -----BEGIN CERTIFICATE-----" in plaintext
    assert "name: mastodon-db-ca\n  namespace: mastodon\n" in plaintext


def test_ca_cert_refusals_leave_nothing_behind(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    pem, key = make_cert("db-ca", dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    (tmp_path / "bad.pem").write_text(pem + key)
    env = key_env(tmp_path)
    proc = run_gitops("secrets", "ca-cert", str(tmp_path / "bad.pem"), "--env", "staging", cwd=repo, env=env)
    assert_one_line_error(proc, "bad.pem", "private key")
    (tmp_path / "ca.pem").write_text(pem)
    proc = run_gitops("secrets", "ca-cert", str(tmp_path / "ca.pem"), "--env", "nowhere", cwd=repo, env=env)
    assert_one_line_error(proc, "overlays/nowhere", "no such environment")
    assert not (repo / "overlays/staging/shared").exists()


def test_ca_cert_needs_a_rule_that_keeps_metadata_plaintext(tmp_path: Path) -> None:
    repo = _repo(tmp_path, regex="^stringData$")
    pem, _ = make_cert("db-ca", dt.datetime(2031, 1, 1, tzinfo=dt.UTC))
    (tmp_path / "ca.pem").write_text(pem)
    proc = run_gitops(
        "secrets", "ca-cert", str(tmp_path / "ca.pem"), "--env", "staging", cwd=repo, env=key_env(tmp_path)
    )
    assert_one_line_error(proc, "mastodon-db-ca.sops.yaml", "encrypted_regex")


def test_annotation_reads_back() -> None:
    body = {"metadata": {"annotations": {certs.CA_NOT_AFTER_ANNOTATION: "2031-01-01T00:00:00Z"}}}
    assert certs.ca_not_after(body) == dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
    assert certs.ca_not_after({"metadata": {}}) is None
