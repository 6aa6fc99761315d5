"""Resource bounds of one run: how big an input file may be and how long one kustomize build may take.

The defaults hold for any sane repository; gitops.yaml (`limits:`) or the environment
(GITOPS_MAX_FILE_BYTES, GITOPS_BUILD_TIMEOUT) raise or lower them. The environment wins, so CI can
tighten a bound without a commit.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops.errors import GitopsError

# Kubernetes refuses objects over 1.5 MiB (etcd's request limit); a source file several times that is a mistake.
DEFAULT_MAX_FILE_BYTES = 8 * 1024 * 1024
# A whole environment builds in about a second; minutes mean a hang.
DEFAULT_BUILD_TIMEOUT = 120.0
# Nodes that aliases may add when expanded. Hand-written YAML uses a handful of anchors; a "billion laughs"
# document adds millions from a few hundred bytes, and every consumer (kustomize, json.dumps, a tree walk)
# pays for the full expansion.
MAX_ALIAS_EXPANSION = 100_000
# kustomize's virtual address space (RLIMIT_AS). A real build runs in under 1 GiB; the garbage collector is
# deferred to GOMEMLIMIT=1GiB (kustomize.build_environment), so 4 GiB only stops runaway growth.
BUILD_ADDRESS_SPACE = 4 * 1024 * 1024 * 1024


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    build_timeout: float = DEFAULT_BUILD_TIMEOUT


DEFAULT_LIMITS = Limits()


def limits_from(raw_config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Limits:
    """Limits from gitops.yaml's `limits:` block (already schema-validated), overridden by the environment."""
    env = os.environ if environ is None else environ
    block = raw_config.get("limits") or {}
    max_bytes = int(block.get("maxFileBytes", DEFAULT_MAX_FILE_BYTES))
    timeout = float(block.get("buildTimeoutSeconds", DEFAULT_BUILD_TIMEOUT))
    if env.get("GITOPS_MAX_FILE_BYTES"):
        max_bytes = _positive(env["GITOPS_MAX_FILE_BYTES"], "GITOPS_MAX_FILE_BYTES", int)
    if env.get("GITOPS_BUILD_TIMEOUT"):
        timeout = _positive(env["GITOPS_BUILD_TIMEOUT"], "GITOPS_BUILD_TIMEOUT", float)
    return Limits(max_bytes, timeout)


def _positive(value: str, name: str, kind: type[int] | type[float]) -> Any:
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if number <= 0:
        raise GitopsError(f"{name}={value}: must be a positive number")
    return number
