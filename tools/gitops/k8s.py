"""Kubernetes facts the checks, the policy pack and the diff share: where a pod spec and its containers sit
in each workload kind, how label selectors match, how an IntOrString scales, what kustomize's generated
names look like, and what a Flux Kustomization is. One home each, so a fact is fixed in one place."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

POD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")
CONTAINER_LISTS = ("initContainers", "containers")
GENERATED_KINDS = ("ConfigMap", "Secret")
"""Kinds configMapGenerator/secretGenerator emit with a content-hash suffix."""

# kustomize (api/hasher) appends "-" and the first 10 hex digits of a SHA-256 with 0,1,3,a,e replaced by
# g,h,k,m,t, so the suffix never holds a vowel or a 0/1/3.
_HASH = "[2456789bcdfghkmt]{10}"
GENERATED_NAME = re.compile(rf"^(?P<base>.+)-(?P<hash>{_HASH})$")
_HASH_IN_TEXT = re.compile(rf"-{_HASH}\b")

FLUX_KUSTOMIZATION_GROUP = "kustomize.toolkit.fluxcd.io"


def generated_base(name: str) -> str | None:
    """The generator's name without kustomize's content-hash suffix; None when `name` carries none."""
    match = GENERATED_NAME.match(name)
    return match["base"] if match else None


def without_generated_hashes(text: str) -> str:
    """`text` with every generated-name hash suffix removed (messages that name generated objects)."""
    return _HASH_IN_TEXT.sub("", text)


def is_flux_kustomization(body: dict[str, Any]) -> bool:
    """A kustomize.toolkit.fluxcd.io Kustomization (not kustomize's own kustomize.config.k8s.io one)."""
    api_version = str(body.get("apiVersion", ""))
    return body.get("kind") == "Kustomization" and api_version.startswith(FLUX_KUSTOMIZATION_GROUP + "/")


def pod_spec_pointer(kind: str) -> str:
    """JSON pointer of the pod spec in an object of `kind` (one of POD_KINDS)."""
    if kind == "Pod":
        return "/spec"
    if kind == "CronJob":
        return "/spec/jobTemplate/spec/template/spec"
    return "/spec/template/spec"


def pod_spec(body: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of any pod-bearing object (a kind outside POD_KINDS counts when its pod template sits
    where a Deployment's does), or None when it has none."""
    node: Any = body
    for part in pod_spec_pointer(str(body.get("kind"))).strip("/").split("/"):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None


def pod_template_labels(body: dict[str, Any]) -> dict[str, Any]:
    """The labels the pods of a pod-bearing object get (a Pod's own labels); {} when there are none."""
    node: Any = body
    if body.get("kind") != "Pod":
        for part in pod_spec_pointer(str(body.get("kind"))).strip("/").split("/")[:-1]:  # up to the template
            node = node.get(part) if isinstance(node, dict) else None
    metadata = node.get("metadata") if isinstance(node, dict) else None
    labels = metadata.get("labels") if isinstance(metadata, dict) else None
    return labels if isinstance(labels, dict) else {}


def pointer(parts: Iterable[str | int]) -> str:
    """RFC 6901 JSON pointer from path components."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def iter_containers(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(JSON pointer, container) for the init containers and containers of any pod-bearing object."""
    spec = pod_spec(body)
    if spec is None:
        return
    base = pod_spec_pointer(str(body.get("kind")))
    for key in CONTAINER_LISTS:
        for index, container in enumerate(spec.get(key) or []):
            if isinstance(container, dict):
                yield f"{base}/{key}/{index}", container


def selects(selector: dict[str, Any] | None, labels: dict[str, Any] | None) -> bool:
    """Does a label selector (matchLabels/matchExpressions, or a Service's plain map) select `labels`?"""
    if not selector:
        return False
    labels = labels or {}
    structured = "matchLabels" in selector or "matchExpressions" in selector
    match_labels = selector.get("matchLabels") if structured else selector
    for key, value in (match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or [] if structured else []:
        key, operator, values = expression.get("key"), expression.get("operator"), expression.get("values") or []
        present = key in labels
        if (
            (operator == "In" and labels.get(key) not in values)
            or (operator == "NotIn" and labels.get(key) in values)
            or (operator == "Exists" and not present)
            or (operator == "DoesNotExist" and present)
        ):
            return False
    return True


def scaled(value: Any, total: int, *, round_up: bool) -> int:
    """An IntOrString (3 or "10%") against `total`, rounded the way the Deployment controller does."""
    if isinstance(value, str) and value.endswith("%"):
        try:
            share = float(value[:-1]) * total / 100
        except ValueError:
            return 0
        return math.ceil(share) if round_up else math.floor(share)
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
