"""The managed-database CA certificate: validation and packaging as an encrypted Kubernetes Secret.

The earliest notAfter goes into a plaintext annotation (the rule encrypts only data/stringData), so
`gitops check` can warn about expiry without a decryption key.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from gitops.errors import GitopsError

CA_NOT_AFTER_ANNOTATION = "gitops/ca-not-after"
CA_SECRET_NAME = "mastodon-db-ca"
CA_SECRET_NAMESPACE = "mastodon"
CA_SECRET_KEY = "ca.crt"
CA_FILE_NAME = "mastodon-db-ca.sops.yaml"
CA_ENCRYPTED_REGEX = "^(data|stringData)$"
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class CaBundle:
    pem: str
    """The CERTIFICATE blocks, normalised (one block after another, trailing newline)."""
    subjects: tuple[str, ...]
    not_after: dt.datetime
    """Earliest notAfter of all certificates (UTC)."""


def _subject(cert: x509.Certificate) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string() or "(empty subject)"


def validate_ca_pem(text: str, source: str, *, now: dt.datetime | None = None) -> CaBundle:
    """One or more CERTIFICATE blocks, no private key, nothing else, none expired, each a CA when it says so."""
    if "PRIVATE KEY-----" in text:
        raise GitopsError(f"{source}: contains a private key; only CA certificates may be packaged")
    blocks = list(_PEM_BLOCK.finditer(text))
    if not blocks:
        raise GitopsError(f"{source}: no PEM CERTIFICATE block found")
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    pems, subjects, expiries = [], [], []
    for number, block in enumerate(blocks, start=1):
        if block[1] != "CERTIFICATE":
            raise GitopsError(f"{source}: block {number} is a {block[1]}, expected CERTIFICATE")
        try:
            cert = x509.load_pem_x509_certificate(block[0].encode("ascii"))
        except ValueError:
            raise GitopsError(f"{source}: block {number} is not a valid X.509 certificate") from None
        subject = _subject(cert)
        if cert.not_valid_before_utc > moment:
            starts = cert.not_valid_before_utc.strftime(_TIME_FORMAT)
            raise GitopsError(f"{source}: certificate {number} ({subject}) is not valid before {starts}")
        if cert.not_valid_after_utc <= moment:
            expired = cert.not_valid_after_utc.strftime(_TIME_FORMAT)
            raise GitopsError(f"{source}: certificate {number} ({subject}) expired on {expired}")
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is not None and not constraints.ca:
            raise GitopsError(f"{source}: certificate {number} ({subject}) is not a CA certificate")
        pems.append(block[0].replace("\r\n", "\n").strip() + "\n")
        subjects.append(subject)
        expiries.append(cert.not_valid_after_utc)
    return CaBundle("".join(pems), tuple(subjects), min(expiries))


def read_certificate_text(path: Path) -> str:
    """A PEM file's text; a DER (binary) certificate is named as such, with the command that converts it."""
    from gitops.sops.files import read_text

    try:
        head = path.read_bytes()[:2]
    except OSError:
        head = b""
    # DER encodes a certificate as an ASN.1 SEQUENCE: tag 0x30, then a long-form length (0x81-0x84)
    if len(head) == 2 and head[0] == 0x30 and 0x81 <= head[1] <= 0x84:
        raise GitopsError(
            f"{path}: looks like DER (binary), not PEM: convert with"
            f" openssl x509 -inform der -in {path} -out {path.stem}-pem.crt"
        )
    return read_text(path)


def format_not_after(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(_TIME_FORMAT)


def parse_not_after(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(value.strip(), _TIME_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None


def pem_not_after(text: str) -> dt.datetime | None:
    """The earliest notAfter of the CERTIFICATE blocks in `text`, unvalidated; None when there is none."""
    expiries = []
    for block in _PEM_BLOCK.finditer(text):
        try:
            expiries.append(x509.load_pem_x509_certificate(block[0].encode("ascii")).not_valid_after_utc)
        except (ValueError, UnicodeEncodeError):
            continue
    return min(expiries, default=None)


def ca_not_after(body: dict[str, Any]) -> dt.datetime | None:
    """The recorded expiry of a CA Secret (from its plaintext annotation), or None."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(CA_NOT_AFTER_ANNOTATION) if isinstance(annotations, dict) else None
    return parse_not_after(str(value)) if value is not None else None


def ca_secret_yaml(bundle: CaBundle) -> str:
    """The plaintext Secret, as text held in memory only (it is encrypted before anything is written)."""
    indented = "".join(f"    {line}\n" for line in bundle.pem.splitlines())
    return (
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        f"  name: {CA_SECRET_NAME}\n"
        f"  namespace: {CA_SECRET_NAMESPACE}\n"
        "  annotations:\n"
        f'    {CA_NOT_AFTER_ANNOTATION}: "{format_not_after(bundle.not_after)}"\n'
        "type: Opaque\n"
        "stringData:\n"
        f"  {CA_SECRET_KEY}: |\n"
        f"{indented}"
    )


def ca_secret_path(repo_root: Path, env: str) -> Path:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", env):
        raise GitopsError(f"{env}: not a valid environment name")
    overlay = repo_root / "overlays" / env
    if not overlay.is_dir():
        raise GitopsError(f"overlays/{env}: no such environment overlay")
    return overlay / "shared" / CA_FILE_NAME


def package_ca_cert(repo_root: Path, pem: Path, env: str, *, now: dt.datetime | None = None) -> Path:
    """Validate `pem` and write overlays/<env>/shared/mastodon-db-ca.sops.yaml, encrypted for that env's rule."""
    from gitops.atomic import write_text_atomically
    from gitops.sops import encrypt_text
    from gitops.sops.files import encryption_target
    from gitops.sops.rules import find_config

    bundle = validate_ca_pem(read_certificate_text(pem), str(pem), now=now)
    target = ca_secret_path(repo_root, env)
    relative = target.relative_to(repo_root).as_posix()
    plan = encryption_target(target, find_config(target, repo_root))  # the repository's rule for ENV
    scope = plan.scope
    if scope.selector != "encrypted_regex" or scope.pattern != CA_ENCRYPTED_REGEX:
        raise GitopsError(
            f"{relative}: its .sops.yaml rule must use encrypted_regex {CA_ENCRYPTED_REGEX} "
            "so the expiry annotation stays readable without a key"
        )
    text = encrypt_text(ca_secret_yaml(bundle), "yaml", relative, recipients=plan.recipients, scope=scope, now=now)
    write_text_atomically(target, text)
    return target
