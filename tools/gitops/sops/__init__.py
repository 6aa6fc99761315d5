"""SOPS v3 with age, in Python: byte-compatible with the sops CLI and Flux's kustomize-controller."""

from gitops.sops.api import (
    Opened,
    decrypt_text,
    decrypt_values,
    encrypt_text,
    open_text,
    read_metadata,
    rotate_text,
    update_keys_text,
    verify_text,
)
from gitops.sops.formats import format_for, has_marker
from gitops.sops.keys import identities_if_any, load_identities, parse_identities
from gitops.sops.metadata import Metadata
from gitops.sops.rules import CreationRule, Scope, find_config, rule_for

__all__ = [
    "CreationRule",
    "Metadata",
    "Opened",
    "Scope",
    "decrypt_text",
    "decrypt_values",
    "encrypt_text",
    "find_config",
    "format_for",
    "has_marker",
    "identities_if_any",
    "load_identities",
    "open_text",
    "parse_identities",
    "read_metadata",
    "rotate_text",
    "rule_for",
    "update_keys_text",
    "verify_text",
]
