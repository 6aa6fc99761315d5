"""Shared bits for the sops tests: the repository's published test key and the interop vectors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gitops.sops.scalars import GoTime, Typed
from tests.helpers import REPO_ROOT, SHARED

TEST_KEY_FILE = REPO_ROOT / "tests" / "keys" / "test-age-key.txt"
TEST_RECIPIENT = (REPO_ROOT / "tests" / "keys" / "test-age-key.pub").read_text().strip()
VECTORS = SHARED / "sops-vectors"


def vectors() -> Path:
    if not VECTORS.is_dir():
        pytest.skip(f"interop vectors not found at {VECTORS} (they live next to the repository in shared/)")
    return VECTORS


def key_env(tmp_path: Path, key_file: Path = TEST_KEY_FILE) -> dict[str, str]:
    """Environment with only the given key file visible (no user keys.txt, no SOPS_AGE_KEY)."""
    return {
        "SOPS_AGE_KEY_FILE": str(key_file),
        "SOPS_AGE_KEY": "",
        "HOME": str(tmp_path / "home"),
        "XDG_CONFIG_HOME": str(tmp_path / "home" / ".config"),
    }


def plain(node: Any) -> Any:
    """A loaded tree as plain Python values, typed the yaml.v3 way (for comparing with JSON)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    if isinstance(node, Typed):
        return plain(node.value)
    if isinstance(node, GoTime):
        return str(node)
    if isinstance(node, str):
        return str(node)
    return node
