"""The Flux build step (postBuild substitution, commonMetadata, owner labels) remembered in the render cache.

A warm render of a large Flux repository spent most of its time re-doing this step and writing each target's
documents as YAML again: the step's result depends only on kustomize's output, the Kustomization object, the
variables and strictness, so it is kept by a digest of those, with the YAML text render writes.

Never kept: the result of a Kustomization whose substituteFrom names a Secret (its values may have been
decrypted: plaintext never enters the cache), and documents JSON does not keep exactly (dates, non-string
keys, NaN), whose digest could also mistake one value for another.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gitops.cache import RunCache
from gitops.flux.objects import FluxKustomization

FORMAT = "gitops-flux-step-1"


@dataclass(frozen=True)
class StepResult:
    documents: list[dict[str, Any]]
    text: str
    """The documents as render writes them (manifests.dump_documents)."""


def step_key(
    ks: FluxKustomization, raw: list[dict[str, Any]], variables: dict[str, str] | None, strict: bool
) -> str | None:
    """The digest naming the step's result, or None when it must not be kept (see the module docstring).

    `variables`: what load_variables gave (None without postBuild); a mapping that keeps unknown references
    as written is told apart from a plain one with the same values."""
    if any(reference.kind == "Secret" for reference in ks.substitute_from):
        return None
    try:
        parts = [
            FORMAT,
            json.dumps(dataclasses.asdict(ks), sort_keys=True),
            json.dumps(raw, sort_keys=True),
            "none" if variables is None else type(variables).__name__,
            json.dumps(dict(variables or {}), sort_keys=True),
            str(strict),
        ]
    except (TypeError, ValueError):
        return None
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8")
        digest.update(b"%d:" % len(data) + data)
    return digest.hexdigest()


def load(cache: RunCache, key: str) -> StepResult | None:
    stored = cache.store.get(key)
    if stored is None:
        return None
    with contextlib.suppress(ValueError, KeyError, TypeError):
        data = json.loads(stored)
        documents, text = data["documents"], data["text"]
        if isinstance(text, str) and isinstance(documents, list) and all(isinstance(d, dict) for d in documents):
            return StepResult(documents, text)
    return None


def keeper(cache: RunCache, key: str, documents: list[dict[str, Any]]) -> Callable[[list[dict[str, Any]], str], None]:
    """What keeps the step's result once render has its text. The documents are encoded now, as the step left
    them; they are kept only if, when the text comes, they still decode to the documents that text shows
    (nothing changed them since, and JSON gives them back exactly)."""
    try:
        encoded: str | None = json.dumps(documents, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError):
        encoded = None

    def keep(shown: list[dict[str, Any]], text: str) -> None:
        if encoded is None:
            return
        with contextlib.suppress(TypeError, ValueError):
            if json.loads(encoded) == shown:
                payload = json.dumps({"documents": json.loads(encoded), "text": text}, ensure_ascii=False)
                cache.store.put(key, payload.encode("utf-8"))

    return keep
