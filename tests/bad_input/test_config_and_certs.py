"""gitops.yaml problems reach every command with file:line; certificates say what is wrong with them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.bad_input.harness import assert_refused, make_repo, run_limited
from tests.helpers import REPO_ROOT
from tests.sops_helpers import key_env

COMMANDS = (["render"], ["check"], ["diff", "--base", "main"], ["secrets", "lint"], ["render", "--list"])


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.mark.parametrize(
    ("config", "needles"),
    [
        ('kubernetesVersion: "1.33\n', ("gitops.yaml:2", "not valid YAML")),
        ('kubernetesVersion: "1.33"\nkubernetesVersion: "1.34"\n', ("gitops.yaml:2", "not valid YAML")),
        ('kubernetesVersion: "1.33"\ncheck: {disabel: [policy]}\n', ("gitops.yaml", "/check", "disabel")),
        ('kubernetesVersion: "1.33"\nlimits: {maxFileBytes: -1}\n', ("gitops.yaml", "/limits/maxFileBytes")),
    ],
)
def test_broken_config_is_reported_by_every_command(repo: Path, config: str, needles: tuple[str, ...]) -> None:
    (repo / "gitops.yaml").write_text(config)
    for command in COMMANDS:
        assert_refused(repo, *command, needles=needles)


def test_non_utf8_config_names_its_line(repo: Path) -> None:
    (repo / "gitops.yaml").write_bytes(b'kubernetesVersion: "1.33"\n# \xff\n')
    assert_refused(repo, "render", needles=("gitops.yaml:2", "not UTF-8"))


def _certificate(not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "db-ca")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@pytest.fixture
def ca_repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            ".sops.yaml": (REPO_ROOT / ".sops.yaml").read_text(),
            "overlays/staging/kustomization.yaml": "resources: []\n",
        },
    )


def test_der_certificate_is_named_with_the_conversion(ca_repo: Path, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    cert = _certificate(now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    (tmp_path / "ca.der").write_bytes(cert.public_bytes(serialization.Encoding.DER))
    assert_refused(
        ca_repo,
        "secrets", "ca-cert", str(tmp_path / "ca.der"), "--env", "staging",
        needles=("ca.der", "looks like DER", "openssl x509 -inform der"),
        env=key_env(tmp_path),
    )  # fmt: skip


def test_not_yet_valid_certificate_is_refused(ca_repo: Path, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    cert = _certificate(now + dt.timedelta(days=30), now + dt.timedelta(days=365))
    (tmp_path / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    assert_refused(
        ca_repo,
        "secrets", "ca-cert", str(tmp_path / "ca.pem"), "--env", "staging",
        needles=("ca.pem", "db-ca", "not valid before"),
        env=key_env(tmp_path),
    )  # fmt: skip


def test_a_valid_pem_certificate_is_packaged(ca_repo: Path, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    cert = _certificate(now - dt.timedelta(days=1), now + dt.timedelta(days=365))
    (tmp_path / "ca.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    proc = run_limited(
        "secrets", "ca-cert", str(tmp_path / "ca.pem"), "--env", "staging", cwd=ca_repo, env=key_env(tmp_path)
    )
    assert proc.returncode == 0, proc.stderr
    assert (ca_repo / "overlays/staging/shared/mastodon-db-ca.sops.yaml").is_file()
