"""Rendered ConfigMaps and Secrets the API server would refuse for their size.

The API server validates a ConfigMap's data plus binaryData, and a Secret's data (stringData merged in), against
MaxSecretSize = 1 MiB (k8s.io/kubernetes pkg/apis/core/validation: "must have at most 1048576 bytes"); the
apply fails in the cluster, after the merge. A SOPS-encrypted value is counted by its ciphertext, which
AES-GCM keeps exactly as long as the plaintext.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

from gitops.check.findings import Finding, Severity
from gitops.check.rules import Rule
from gitops.manifests import Manifest
from gitops.sops.crypto import CipherError, is_enc, parse_enc

MAX_OBJECT_DATA_BYTES = 1024 * 1024
"""core.MaxSecretSize, applied to ConfigMaps and Secrets alike."""

OBJECT_SIZE = Rule(
    "SCHEMA-OBJECT-SIZE",
    Severity.ERROR,
    "A ConfigMap's or Secret's data is over the API server's 1 MiB limit",
    "The API server refuses a ConfigMap whose data and binaryData, or a Secret whose data and stringData, add up"
    " to more than 1 MiB (1048576 bytes): Flux's apply fails for the whole Kustomization. Large files belong in"
    " a volume or an object store, not in a ConfigMap.",
    area="Schema",
)
RULES = (OBJECT_SIZE,)


def oversized_objects(manifests: Iterable[Manifest]) -> list[Finding]:
    """SCHEMA-OBJECT-SIZE for every rendered ConfigMap/Secret over the limit."""
    findings = []
    for manifest in manifests:
        kind = manifest.identity.kind
        if kind not in ("ConfigMap", "Secret") or manifest.identity.api_version != "v1":
            continue
        size = _data_bytes(manifest.body, kind)
        if size > MAX_OBJECT_DATA_BYTES:
            message = (
                f"{kind} data is {size} bytes, over the API server's limit of {MAX_OBJECT_DATA_BYTES} bytes (1 MiB)"
            )
            findings.append(
                Finding(
                    OBJECT_SIZE.id,
                    Severity.ERROR,
                    message,
                    identity=manifest.identity,
                    target=manifest.target,
                    file=manifest.origin,
                )
            )
    return findings


def _data_bytes(body: dict[str, Any], kind: str) -> int:
    base64_fields = ("binaryData",) if kind == "ConfigMap" else ("data",)
    text_fields = ("data",) if kind == "ConfigMap" else ("stringData",)
    total = 0
    for field in (*base64_fields, *text_fields):
        values = body.get(field)
        for value in values.values() if isinstance(values, dict) else []:
            total += _value_bytes(value, encoded=field in base64_fields)
    return total


def _value_bytes(value: Any, *, encoded: bool) -> int:
    text = str(value) if value is not None else ""
    if is_enc(text):
        try:
            text = "x" * len(parse_enc(text).data)  # the plaintext's length, not its content
        except CipherError:
            return 0
    if not encoded:
        return len(text.encode("utf-8"))
    try:
        return len(base64.b64decode(text, validate=True))
    except binascii.Error:
        return len(text) * 3 // 4  # the schema check reports invalid base64; the size is still an estimate
