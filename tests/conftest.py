from __future__ import annotations

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
