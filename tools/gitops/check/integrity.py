"""Integrity of the encrypted files: every SOPS file's MAC is verified when an age identity is available.

sops' MAC covers every value of the file, encrypted or not (unless `mac_only_encrypted: true`), so a changed
ciphertext character and an edited plaintext annotation (gitops/ca-not-after) both break it; Flux never checks
the MAC (sops-format.md §5), so without this the cluster is the first to notice. The expiry annotation is also
compared with the decrypted certificate, which catches files whose MAC leaves plaintext uncovered. Plaintexts
stay in memory: findings name files and keys, never values.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pyrage import x25519

from gitops.certs import CA_NOT_AFTER_ANNOTATION, CA_SECRET_KEY, format_not_after, parse_not_after, pem_not_after
from gitops.check.findings import Finding, Severity
from gitops.check.rules import Rule
from gitops.errors import GitopsError
from gitops.sops import formats, load_identities
from gitops.sops.api import open_with_data_key
from gitops.sops.groups import data_key_for
from gitops.sops.metadata import Metadata, parse_metadata

AREA = "Secret hygiene"
MAC_MISMATCH = Rule(
    "SEC-MAC",
    Severity.ERROR,
    "An encrypted file fails its MAC or does not decrypt",
    "A ciphertext or a plaintext value of a SOPS file was changed outside sops (by hand, a bad merge, an"
    " attacker): `sops -d` refuses the file and the values Flux applies are not the ones that were encrypted."
    " Flux does not check the MAC, so only CI can catch it; `gitops check` verifies every file when an age"
    " identity is available (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE or ~/.config/sops/age/keys.txt).",
    area=AREA,
)
MAC_UNVERIFIED = Rule(
    "SEC-MAC-UNVERIFIED",
    Severity.WARNING,
    "Encrypted files were not verified: no age identity opens them",
    "Without a key, a tampered ciphertext or an edited plaintext annotation looks like any valid file. Give CI"
    " the age key as the SOPS_AGE_KEY secret (see .github/workflows/pull-request.yaml) so every MAC is checked.",
    area=AREA,
)
CA_ANNOTATION = Rule(
    "SEC-CA-ANNOTATION",
    Severity.ERROR,
    "The CA expiry annotation disagrees with the encrypted certificate",
    "gitops/ca-not-after is the plaintext copy of the bundle's earliest notAfter that SEC-CA-EXPIRY reads"
    " without a key; when it differs from the certificate itself, expiry warnings come too late or never."
    " Re-package the bundle with `gitops secrets ca-cert`.",
    area=AREA,
)
RULES = (MAC_MISMATCH, MAC_UNVERIFIED, CA_ANNOTATION)


@lru_cache(maxsize=1)
def available_identities() -> tuple[x25519.Identity, ...]:
    """The age identities of this run (SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, the default keys file), read once.
    An unreadable key file is bad input (GitopsError naming it)."""
    return tuple(load_identities())


def data_key_of(meta: Metadata, source: str, identities: Sequence[x25519.Identity]) -> bytes | None:
    """The file's data key, or None when no identity opens it."""
    try:
        return data_key_for(meta, identities, source)
    except GitopsError:
        return None


def verify_files(files: Sequence[tuple[str, str]]) -> list[Finding]:
    """SEC-MAC / SEC-CA-ANNOTATION for each (repository-relative path, text) of an encrypted file, and one
    SEC-MAC-UNVERIFIED warning naming the files no identity opens (all of them without an identity)."""
    identities = available_identities()
    findings: list[Finding] = []
    unverified: list[str] = []
    for rel, text in files:
        fmt = formats.format_for(rel)
        try:
            parsed = formats.load(text, fmt, rel)
            meta = parse_metadata(parsed.metadata, rel)
        except GitopsError:
            continue  # the schema and hygiene checks report a file whose metadata does not parse
        data_key = data_key_of(meta, rel, identities) if identities else None
        if data_key is None:
            unverified.append(rel)
            continue
        try:
            opened = open_with_data_key(text, fmt, rel, data_key)
        except GitopsError as exc:
            findings.append(Finding(MAC_MISMATCH.id, Severity.ERROR, _without_source(str(exc), rel), file=rel))
            continue
        findings += _annotation_mismatches(rel, opened.parsed.documents)
    if unverified:
        why = "no age identity is set" if not identities else "no available age identity opens them"
        more = f" and {len(unverified) - 1} more" if len(unverified) > 1 else ""
        message = (
            f"MAC of {len(unverified)} encrypted file(s) not verified ({unverified[0]}{more}): {why}; "
            "set SOPS_AGE_KEY or SOPS_AGE_KEY_FILE"
        )
        findings.append(Finding(MAC_UNVERIFIED.id, Severity.WARNING, message))
    return findings


def _without_source(message: str, rel: str) -> str:
    """sops errors start with the file name, which the finding carries already."""
    return message.removeprefix(f"{rel}: ")


def _annotation_mismatches(rel: str, documents: Sequence[Any]) -> list[Finding]:
    findings = []
    for document in documents:
        if not isinstance(document, dict):
            continue
        annotations = (document.get("metadata") or {}).get("annotations") or {}
        if not isinstance(annotations, dict) or CA_NOT_AFTER_ANNOTATION not in annotations:
            continue
        recorded = parse_not_after(str(annotations[CA_NOT_AFTER_ANNOTATION]))
        actual = pem_not_after(_certificate_text(document))
        if recorded is None or actual is None or recorded == actual.replace(microsecond=0):
            continue  # SEC-CA-EXPIRY reports an unreadable annotation; no certificate means nothing to compare
        message = (
            f"{CA_NOT_AFTER_ANNOTATION} says {format_not_after(recorded)} but the encrypted certificate expires"
            f" {format_not_after(actual)}; run gitops secrets ca-cert again"
        )
        pointer = "/metadata/annotations/" + CA_NOT_AFTER_ANNOTATION.replace("/", "~1")
        findings.append(Finding(CA_ANNOTATION.id, Severity.ERROR, message, file=rel, path=pointer))
    return findings


def _certificate_text(document: dict[str, Any]) -> str:
    string_data = document.get("stringData") or {}
    if isinstance(string_data, dict) and isinstance(string_data.get(CA_SECRET_KEY), str):
        return str(string_data[CA_SECRET_KEY])
    data = document.get("data") or {}
    raw = data.get(CA_SECRET_KEY) if isinstance(data, dict) else None
    try:
        return base64.b64decode(str(raw), validate=True).decode("ascii") if raw else ""
    except (binascii.Error, UnicodeDecodeError):
        return ""
