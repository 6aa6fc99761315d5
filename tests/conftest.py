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
