"""Container environment resolution, the way the kubelet does it.

envFrom sources in order (a later source wins on the same key), then `env` entries in order (overriding
envFrom). ConfigMap and Secret references are looked up among rendered objects; a Secret's values are
known only when they are plain text (stringData, or base64 data without SOPS `ENC[` markers). A source
that is not rendered at all (e.g. a Secret created outside Git) leaves its keys unknown: `may_have`
answers "possibly" for every name, `has` only for keys known to exist.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gitops.encrypted import is_encrypted_value
from gitops.manifests import Manifest

Lookup = Callable[[str, str], Manifest | None]
"""(kind "ConfigMap"|"Secret", name) -> the rendered object, if any."""


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None
    """The value when known; None when it comes from an encrypted or unrendered Secret, or a fieldRef."""
    source: str
    """"literal", "configmap", "secret" or "field"."""
    source_name: str = ""
    key: str = ""
    defined_in: Manifest | None = None
    """The object holding the value (a ConfigMap/Secret, or the workload itself for literals)."""
    pointer: str = ""
    """JSON pointer to the value inside `defined_in`."""

    @property
    def known(self) -> bool:
        return self.value is not None


@dataclass
class ContainerEnv:
    vars: dict[str, EnvVar] = field(default_factory=dict)
    open_sources: list[tuple[str, str]] = field(default_factory=list)
    """envFrom sources that were not rendered: (kind, name); any key may come from them."""
    env_from: list[tuple[str, str]] = field(default_factory=list)
    """Every envFrom source in order: (kind, name)."""

    def get(self, name: str) -> EnvVar | None:
        return self.vars.get(name)

    def value(self, name: str) -> str | None:
        var = self.vars.get(name)
        return var.value if var is not None else None

    def has(self, name: str) -> bool:
        return name in self.vars

    def may_have(self, name: str) -> bool:
        return name in self.vars or bool(self.open_sources)


def secret_values(secret: Manifest) -> dict[str, str | None]:
    """Keys of a Secret with their plain values, None where the value is encrypted or not decodable."""
    body = secret.body
    encrypted = "sops" in body
    out: dict[str, str | None] = {}
    for key, raw in (body.get("data") or {}).items():
        out[str(key)] = None if encrypted else _decode(raw)
    for key, raw in (body.get("stringData") or {}).items():
        text = None if raw is None else str(raw)
        out[str(key)] = None if encrypted or is_encrypted_value(text) else text
    return out


def _decode(raw: Any) -> str | None:
    if not isinstance(raw, str) or is_encrypted_value(raw):
        return None
    try:
        return base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def configmap_values(configmap: Manifest) -> dict[str, str | None]:
    data = configmap.body.get("data") or {}
    out: dict[str, str | None] = {str(k): None if v is None else str(v) for k, v in data.items()}
    for key in configmap.body.get("binaryData") or {}:
        out[str(key)] = None
    return out


def _values(manifest: Manifest) -> dict[str, str | None]:
    return secret_values(manifest) if manifest.identity.kind == "Secret" else configmap_values(manifest)


def _data_pointer(manifest: Manifest, key: str) -> str:
    body = manifest.body
    section = "stringData" if key in (body.get("stringData") or {}) else "data"
    return f"/{section}/{_escape(key)}"


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def resolve_env(container: dict[str, Any], workload: Manifest, pointer: str, lookup: Lookup) -> ContainerEnv:
    """The environment of `container` (at JSON pointer `pointer` inside `workload`)."""
    env = ContainerEnv()
    for source in container.get("envFrom") or []:
        if not isinstance(source, dict):
            continue
        prefix = str(source.get("prefix") or "")
        for ref_key, kind, label in (("configMapRef", "ConfigMap", "configmap"), ("secretRef", "Secret", "secret")):
            ref = source.get(ref_key)
            if not isinstance(ref, dict) or not ref.get("name"):
                continue
            name = str(ref["name"])
            env.env_from.append((kind, name))
            found = lookup(kind, name)
            if found is None:
                if not ref.get("optional"):
                    env.open_sources.append((kind, name))
                continue
            for key, value in _values(found).items():
                env.vars[prefix + key] = EnvVar(prefix + key, value, label, name, key, found, _data_pointer(found, key))
    for index, entry in enumerate(container.get("env") or []):
        if not isinstance(entry, dict) or not entry.get("name"):
            continue
        name = str(entry["name"])
        here = f"{pointer}/env/{index}"
        value_from = entry.get("valueFrom")
        if not isinstance(value_from, dict):
            raw = entry.get("value")
            env.vars[name] = EnvVar(name, "" if raw is None else str(raw), "literal", "", "", workload, f"{here}/value")
            continue
        resolved = _resolve_ref(name, value_from, workload, here, lookup)
        if resolved is not None:
            env.vars[name] = resolved
    return env


def _resolve_ref(name: str, value_from: dict[str, Any], workload: Manifest, here: str, lookup: Lookup) -> EnvVar | None:
    for ref_key, kind, label in (("configMapKeyRef", "ConfigMap", "configmap"), ("secretKeyRef", "Secret", "secret")):
        ref = value_from.get(ref_key)
        if not isinstance(ref, dict):
            continue
        source_name, key = str(ref.get("name", "")), str(ref.get("key", ""))
        found = lookup(kind, source_name)
        if found is None:
            return EnvVar(name, None, label, source_name, key, workload, f"{here}/valueFrom")
        values = _values(found)
        if key not in values:
            return None if ref.get("optional") else EnvVar(name, None, label, source_name, key, workload, here)
        return EnvVar(name, values[key], label, source_name, key, found, _data_pointer(found, key))
    return EnvVar(name, None, "field", "", "", workload, f"{here}/valueFrom")
