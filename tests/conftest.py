from __future__ import annotations

from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.kustomize import Kustomize, find_kustomize


@pytest.fixture(scope="session")
def kustomize() -> Kustomize:
    """The real kustomize. Tests that need it fail loudly (not skip) when the machine has none."""
    try:
        return find_kustomize()
    except GitopsError as exc:
        pytest.fail(f"these tests need kustomize >= 5 or kubectl on PATH: {exc}")


@pytest.fixture(autouse=True)
def _own_render_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with an empty render cache of its own (never the user's ~/.cache/gitops)."""
    monkeypatch.setenv("GITOPS_CACHE_DIR", str(tmp_path_factory.mktemp("gitops-cache")))


@pytest.fixture(autouse=True)
def _test_age_identity(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs as CI does, with age identities (never the user's keys file): the repository's test key,
    and kustomize-controller's vector key the check fixtures' Secret is encrypted for. A test about running
    without an identity clears both variables itself."""
    from gitops.check.integrity import available_identities

    keys = Path(__file__).parent / "keys"
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(keys / "test-age-key.txt"))
    monkeypatch.setenv("SOPS_AGE_KEY", (keys / "flux-global-age-key.txt").read_text(encoding="utf-8"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path_factory.mktemp("xdg-config")))
    available_identities.cache_clear()
