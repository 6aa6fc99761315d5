"""Our output has the field set, order and styling sops 3.9.0 writes (compared with Flux's own 3.9.0 fixture)."""

from __future__ import annotations

import json
import re

from ruamel.yaml import YAML

from gitops.sops import Scope, encrypt_text, has_marker
from tests.sops_helpers import TEST_RECIPIENT, vectors

SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: age\nstringData:\n  key: value\n"
SCOPE = Scope("encrypted_regex", "^(data|stringData)$")


def _sops_block(text: str) -> str:
    return text[text.index("\nsops:\n") + 1 :]


def _shape(block: str) -> list[str]:
    """Each line with its value replaced by a type marker: keys, order, indentation and quoting remain."""
    shape = []
    for line in block.splitlines():
        line = re.sub(r"age1[0-9a-z]+", "<recipient>", line)
        line = re.sub(r"ENC\[AES256_GCM,[^\]]+\]", "<enc>", line)
        line = re.sub(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"', "<quoted-time>", line)
        line = re.sub(r"^(\s+)[A-Za-z0-9+/=]{1,64}$", r"\1<armor>", line)
        if not shape or shape[-1] != line:
            shape.append(line)
    return shape


def test_yaml_metadata_matches_sops_3_9_layout() -> None:
    reference = (vectors() / "kustomize-controller/internal/controller/testdata/sops/algorithms/age.yaml").read_text()
    ours = encrypt_text(SECRET, "yaml", "x.yaml", recipients=[TEST_RECIPIENT], scope=SCOPE)
    assert _shape(_sops_block(ours)) == _shape(_sops_block(reference))
    assert ours.split("\nsops:\n")[0].replace(re.search(r"ENC\[[^\]]+\]", ours)[0], "X") == (  # type: ignore[index]
        reference.split("\nsops:\n")[0].replace(re.search(r"ENC\[[^\]]+\]", reference)[0], "X")  # type: ignore[index]
    )
    assert has_marker(ours, "yaml")


def test_armor_lines_are_64_columns_and_sops_is_the_last_key_of_every_document() -> None:
    ours = encrypt_text(SECRET + "---\n" + SECRET, "yaml", "x.yaml", recipients=[TEST_RECIPIENT], scope=SCOPE)
    docs = list(YAML(typ="safe").load_all(ours))
    assert len(docs) == 2
    for doc in docs:
        assert list(doc)[-1] == "sops"
        assert doc["sops"]["version"] == "3.9.0"
        enc = doc["sops"]["age"][0]["enc"]
        body = enc.splitlines()[1:-1]
        assert enc.startswith("-----BEGIN AGE ENCRYPTED FILE-----\n") and enc.endswith(
            "-----END AGE ENCRYPTED FILE-----\n"
        )
        assert all(len(line) == 64 for line in body[:-1]) and 0 < len(body[-1]) <= 64
    assert docs[0]["sops"] == docs[1]["sops"]
    assert re.findall(r"^---$", ours, re.MULTILINE) == ["---"] and not ours.startswith("---")


def test_json_and_dotenv_metadata_match_the_flux_fixtures() -> None:
    root = vectors() / "kustomize-controller/internal/controller/testdata/sops"
    reference = json.loads((root / "files/file.txt").read_text())["sops"]
    ours = json.loads(encrypt_text('{"data": "value"}', "json", "x.json", recipients=[TEST_RECIPIENT]))["sops"]
    assert list(ours) == list(reference)
    assert ours["kms"] is None and ours["unencrypted_suffix"] == "_unencrypted"
    env_ref = [line.split("=", 1)[0] for line in (root / "envs/env.env").read_text().splitlines()]
    env_ours = [
        line.split("=", 1)[0]
        for line in encrypt_text("key=value\n", "dotenv", "x.env", recipients=[TEST_RECIPIENT]).splitlines()
    ]
    assert env_ours == env_ref
