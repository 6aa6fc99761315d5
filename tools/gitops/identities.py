"""The age identities a render may need, loaded only when something asks for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class LazyIdentities(Sequence[Any]):
    """The age identities for encrypted substituteFrom Secrets, loaded (with the sops package) on first use:
    most runs never open one. Without a key, such Secrets warn and their variables stay unsubstituted."""

    def __init__(self) -> None:
        self._loaded: list[Any] | None = None

    def _all(self) -> list[Any]:
        if self._loaded is None:
            from gitops.sops import identities_if_any

            self._loaded = list(identities_if_any())
        return self._loaded

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]
