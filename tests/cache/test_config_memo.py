"""gitops.yaml contents that passed validation are remembered: a remembered one must read exactly as a fresh
validation reads it, and nothing that fails validation (under the schemas in use) may ever come from memory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from gitops import cache_location
from gitops.config import parse_config
from gitops.errors import GitopsError
from gitops.paths import SCHEMAS_DIR
from tests.helpers import REPO_ROOT

CONFIGS = sorted(
    p for p in [REPO_ROOT / "gitops.yaml", *(REPO_ROOT / "tests" / "fixtures").glob("*/*/gitops.yaml")] if p.is_file()
)


@pytest.fixture(autouse=True)
def _own_memo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "gitops" / "configs.json"


def _memo(tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "xdg" / "gitops" / "configs.json"
    return json.loads(path.read_text(encoding="utf-8"))["entries"] if path.exists() else {}


def test_a_remembered_config_reads_as_a_validated_one(tmp_path: Path) -> None:
    passed = 0
    for path in CONFIGS:
        text = path.read_text(encoding="utf-8")
        before = _memo(tmp_path)
        try:
            fresh = parse_config(text, "gitops.yaml")
        except GitopsError:
            assert _memo(tmp_path) == before, f"{path}: a failing content is not remembered"
            with pytest.raises(GitopsError):
                parse_config(text, "gitops.yaml")  # and fails again, validated again
            continue
        passed += 1
        assert parse_config(text, "gitops.yaml") == fresh, path
    assert passed >= 3 and len(_memo(tmp_path)) >= 2


def test_a_remembered_content_is_validated_again_under_other_schemas(tmp_path: Path) -> None:
    text = "kubernetesVersion: '1.33'\nclusters: [clusters/prod]\n"
    parse_config(text, "gitops.yaml")
    assert len(_memo(tmp_path)) == 1
    strict = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, strict, ignore=shutil.ignore_patterns("kubernetes", "crds", "mastodon"))
    schema = json.loads((strict / "gitops-config.schema.json").read_text(encoding="utf-8"))
    schema["properties"].pop("clusters")
    (strict / "gitops-config.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(GitopsError, match="clusters"):
        parse_config(text, "gitops.yaml", strict)


def test_without_the_cache_nothing_is_remembered(tmp_path: Path) -> None:
    cache_location.set_enabled(False)
    try:
        parse_config("kubernetesVersion: '1.33'\n", "gitops.yaml")
    finally:
        cache_location.set_enabled(True)
    assert _memo(tmp_path) == {}


@pytest.mark.parametrize("blank", ["", "\n", "  \n\r\n  "])
def test_a_blank_gitops_yaml_reads_as_the_parsed_empty_document(blank: str, tmp_path: Path) -> None:
    """Blank text skips the YAML parser and the validator; it must read as an empty YAML document does
    through them (a comment-only file is one and takes the parser)."""
    parsed = parse_config("# only marks the repository root\n", "gitops.yaml")
    assert parse_config(blank, "gitops.yaml") == parsed
    assert _memo(tmp_path) == {}  # neither is remembered: nothing was validated
