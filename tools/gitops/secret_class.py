"""Which configuration values are secrets (mastodon-on-kubernetes.md SEC-1), and where in an object they leak.

Shared by check's secret gate (SEC-SECRET-IN-CONFIG) and diff's hiding of such values; kept apart from the
gate so that a diff does not load the gate's dependencies (the sops package, x509).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gitops.k8s import is_flux_kustomization, iter_containers, pointer

SECRET_CLASS_NAMES = frozenset(
    {
        "SECRET_KEY_BASE",
        "OTP_SECRET",
        "VAPID_PRIVATE_KEY",
        "DB_PASS",
        "REPLICA_DB_PASS",
        "AWS_SECRET_ACCESS_KEY",
        "ES_PASS",
        "OIDC_CLIENT_SECRET",
        "SAML_PRIVATE_KEY",
        "LDAP_PASSWORD",
        "DEEPL_API_KEY",
        "HCAPTCHA_SECRET_KEY",
        "CACHE_BUSTER_SECRET",
        "LIBRE_TRANSLATE_API_KEY",
    }
)
SECRET_CLASS_PREFIXES = ("ACTIVE_RECORD_ENCRYPTION_",)
SECRET_CLASS_SUFFIXES = ("_PASSWORD", "REDIS_PASSWORD", "SMTP_PASSWORD")
# *REDIS_URL / DATABASE_URL are secret only when they carry a password in their userinfo.
URL_KEYS = re.compile(r"(REDIS_URL|DATABASE_URL)$")
URL_WITH_PASSWORD = re.compile(r"://[^/\s@]*:[^/\s@]+@")


def is_secret_class(key: str, value: Any = None) -> bool:
    """Whether a config key holds a secret (mastodon-on-kubernetes.md SEC-1)."""
    if key in SECRET_CLASS_NAMES or key.startswith(SECRET_CLASS_PREFIXES) or key.endswith(SECRET_CLASS_SUFFIXES):
        return True
    return bool(URL_KEYS.search(key) and isinstance(value, str) and URL_WITH_PASSWORD.search(value))


def config_leaks(body: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(JSON pointer, key, where) of secret-class values in ConfigMap data, literal env values and Flux
    postBuild.substitute; the pointer addresses the value inside `body`."""
    kind = str(body.get("kind"))
    if kind == "ConfigMap":
        for field in ("data", "binaryData"):
            values = body.get(field)
            for key, value in values.items() if isinstance(values, dict) else []:
                if is_secret_class(str(key), value):
                    yield pointer((field, key)), str(key), "a ConfigMap"
    if is_flux_kustomization(body):
        substitute = ((body.get("spec") or {}).get("postBuild") or {}).get("substitute")
        for key, value in substitute.items() if isinstance(substitute, dict) else []:
            if is_secret_class(str(key), value):
                yield pointer(("spec", "postBuild", "substitute", key)), str(key), "postBuild.substitute"
    for container_pointer, container in iter_containers(body):
        entries = container.get("env")
        for position, env in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(env, dict) and "value" in env and is_secret_class(str(env.get("name")), env.get("value")):
                where = f"a literal env value of container {container.get('name')}"
                yield f"{container_pointer}/env/{position}/value", str(env.get("name")), where
