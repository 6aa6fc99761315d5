"""identities_if_any: for callers where a key is optional, an unusable key is no key; load_identities reports it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.sops import identities_if_any, load_identities


def test_an_unreadable_key_file_is_no_identity_for_optional_callers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(tmp_path / "missing.txt"))
    with pytest.raises(GitopsError, match=r"missing\.txt"):
        load_identities()
    assert identities_if_any() == []


def test_a_usable_key_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Path(__file__).parents[1] / "keys" / "test-age-key.txt"
    monkeypatch.delenv("SOPS_AGE_KEY", raising=False)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key))
    assert len(identities_if_any()) == len(load_identities()) >= 1
