"""Interop: every age vector from real sops releases decrypts, with its MAC verified (shared/sops-vectors)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.errors import GitopsError
from gitops.sops import crypto, formats, tree
from gitops.sops.api import decrypt_text, open_text, open_with_data_key
from gitops.sops.keys import parse_identities
from gitops.sops.metadata import parse_metadata
from gitops.sops.scalars import from_bytes, rfc3339_aad, type_and_bytes
from tests.sops_helpers import VECTORS, plain, vectors

KEY_FILES = (
    "kustomize-controller/internal/controller/testdata/sops/keys/age.txt",
    "kustomize-controller/internal/controller/testdata/sops/keys/age-global.txt",
    "sops-nix/pkgs/sops-install-secrets/test-assets/age-keys.txt",
    "humphd-sops-age/key.txt",
    "rops/age-key.txt",
)


def _expected() -> list[dict[str, Any]]:
    path = VECTORS / "EXPECTED.json"
    return json.loads(path.read_text()) if path.is_file() else []


def _identities() -> list[Any]:
    root = vectors()
    return [i for name in KEY_FILES for i in parse_identities((root / name).read_text(), name)]


def _vector_text(entry: dict[str, Any]) -> tuple[str, str]:
    """(text, format) of a vector; `inside/secret.yaml#...` is a sops JSON doc base64'd into a Secret."""
    name = entry["file"]
    root = vectors()
    if "#" in name:
        secret = yaml.safe_load((root / name.split("#")[0]).read_text())
        return base64.b64decode(secret["data"]["key"]).decode(), "json"
    if name.endswith("file.txt"):  # sops' binary store: a JSON envelope with one `data` key
        return (root / name).read_text(), "json"
    return (root / name).read_text(), formats.format_for(name)


EXPECTED = _expected()
IDS = [e["file"] for e in EXPECTED]


def test_every_age_vector_is_listed() -> None:
    vectors()
    assert len(EXPECTED) == 20  # reference §4: 20 of 20 age vectors (the post-quantum one excepted)


@pytest.mark.parametrize("entry", EXPECTED, ids=IDS)
def test_age_vector_decrypts_with_mac_verified(entry: dict[str, Any]) -> None:
    text, fmt = _vector_text(entry)
    opened = open_text(text, fmt, entry["file"], _identities())  # raises on a MAC mismatch
    assert opened.data_key.hex() == entry["data_key_hex"]
    stored_mac = tree.open_mac(opened.data_key, opened.metadata.mac, entry["lastmodified_aad"], entry["file"])
    assert stored_mac == entry["mac_plaintext"]
    assert [plain(doc) for doc in opened.parsed.documents] == entry["plaintext_tree"]


@pytest.mark.parametrize("entry", EXPECTED, ids=IDS)
def test_aes_layer_matches_expected_leaves_without_age(entry: dict[str, Any]) -> None:
    text, fmt = _vector_text(entry)
    parsed = formats.load(text, fmt, entry["file"])
    key = bytes.fromhex(entry["data_key_hex"])
    leaves = []
    for container, index, path in tree.walk(parsed.documents, entry["file"]):
        value = container[index]
        if crypto.is_enc(value):
            aad = ":".join(path) + ":"
            plaintext, kind = crypto.decrypt(key, value, aad)
            leaves.append([aad, from_bytes(kind, plaintext)])
        elif type_and_bytes(value) == ("str", b""):  # sops leaves empty strings as they are
            leaves.append([":".join(path) + ":", ""])
    assert leaves == entry["decrypted_leaves"]
    meta = parse_metadata(parsed.metadata, entry["file"])
    assert rfc3339_aad(meta.lastmodified) == entry["lastmodified_aad"]
    reopened = open_with_data_key(text, fmt, entry["file"], key)
    assert reopened.metadata.lastmodified


def test_post_quantum_vector_is_a_clean_error() -> None:
    root = vectors()
    name = "kustomize-controller/internal/controller/testdata/sops/algorithms/age-pq.yaml"
    key_text = (root / "kustomize-controller/internal/controller/testdata/sops/keys/age-pq.txt").read_text()
    with pytest.raises(GitopsError, match=r"^pq: line \d+: post-quantum age identity .* is not supported$"):
        parse_identities(key_text, "pq")
    with pytest.raises(GitopsError, match=r"post-quantum age recipient .* is not supported"):
        decrypt_text((root / name).read_text(), "yaml", name, [])


def _pgp_data_keys() -> dict[str, bytes]:
    lines = (vectors() / "pgp-only" / "DATA_KEYS.txt").read_text().splitlines()
    return {line.split()[0]: bytes.fromhex(line.split()[2]) for line in lines if line and not line.startswith("#")}


PGP_FILES = [
    "sops-functional-tests/comments.enc.yaml",
    "sops-functional-tests/comments_unencrypted_comments.yaml",
    "sops-functional-tests/multiple_keys.yaml",
    "sops-functional-tests/format.enc.yaml",
    "sops-functional-tests/format.enc.json",
    "sops-root/example.yaml",
    "sops-root/example.json",
]


@pytest.mark.parametrize("name", PGP_FILES)
def test_pgp_vectors_verify_at_the_tree_layer(name: str) -> None:
    path = vectors() / "pgp-only" / name
    opened = open_with_data_key(path.read_text(), formats.format_for(name), name, _pgp_data_keys()[name])
    assert opened.metadata.other_keys == ("pgp",)
    assert opened.metadata.age == ()


def test_no_mac_vector_is_refused() -> None:
    name = "sops-functional-tests/no_mac.yaml"
    path = vectors() / "pgp-only" / name
    with pytest.raises(GitopsError, match="no MAC"):
        open_with_data_key(path.read_text(), "yaml", name, _pgp_data_keys()[name])


def test_sops_comments_decrypt_to_the_original_plaintext() -> None:
    root = vectors() / "pgp-only" / "sops-functional-tests"
    name = "sops-functional-tests/comments.enc.yaml"
    opened = open_with_data_key((root / "comments.enc.yaml").read_text(), "yaml", name, _pgp_data_keys()[name])
    assert formats.dump(opened.parsed, "yaml", None) == (root / "comments.yaml").read_text() + "\n"


def test_example_float_and_sequence_values_hash_like_go(tmp_path: Path) -> None:
    name = "sops-root/example.yaml"
    path = vectors() / "pgp-only" / name
    opened = open_with_data_key(path.read_text(), "yaml", name, _pgp_data_keys()[name])
    body = plain(opened.parsed.documents[0])
    assert body["number"] == 1234568000.0
    assert body["somebooleans"] == [True, False]
    assert body["somelist_unencrypted"][0] == "all elements of this list"
