"""`make schemas`: write self-contained strict Kubernetes JSON schemas under schemas/kubernetes/v<version>/.

Source: the strict schemas kubernetes-validate bundles per Kubernetes minor version (one file per kind that
`$ref`s a shared 1-2 MB `_definitions.json`). For each kind we commit, we write one bundle holding only the
`$defs` it reaches, with descriptions dropped: small in git, and fast to compile because nothing else is
parsed. `index.json` lists every built-in group/version/kind of that release, so `check` can tell a
wrong apiVersion (a kind the release serves under another version) from a kind we hold no schema for.

Run: python -m gitops.schemagen [--versions 1.32,1.33] [--out schemas/kubernetes]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from gitops.atomic import write_text_atomically
from gitops.errors import GitopsError
from gitops.paths import SCHEMAS_DIR

VERSIONS = ("1.32", "1.33", "1.34")

# (apiVersion, kind) pairs a Kubernetes application repository commonly uses.
KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ConfigMap"),
    ("v1", "LimitRange"),
    ("v1", "Namespace"),
    ("v1", "PersistentVolumeClaim"),
    ("v1", "Pod"),
    ("v1", "ResourceQuota"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("apps/v1", "DaemonSet"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("autoscaling/v1", "HorizontalPodAutoscaler"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("batch/v1", "CronJob"),
    ("batch/v1", "Job"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("scheduling.k8s.io/v1", "PriorityClass"),
    ("storage.k8s.io/v1", "StorageClass"),
)

_DEFS_PREFIX = "/api/_definitions.json#/$defs/"
# Kinds every API group lists for its own machinery; nobody commits them to a repository.
_META_KINDS = frozenset({"DeleteOptions", "WatchEvent", "Status", "APIGroup", "APIResourceList", "APIVersions"})
_DROPPED_KEYS = frozenset({"description", "x-kubernetes-group-version-kind"})


def bundle_file_name(api_version: str, kind: str) -> str:
    """kubernetes-validate's naming: group shortened to its first label, e.g. rolebinding-rbac-v1.json."""
    group, _, version = api_version.rpartition("/")
    short_group = group.split(".", 1)[0]
    return f"{kind.lower()}-{short_group}-{version}.json" if group else f"{kind.lower()}-{version}.json"


def _source_dir(version: str) -> Path:
    try:
        package = resources.files("kubernetes_validate")
    except ModuleNotFoundError:
        raise GitopsError(
            "kubernetes_validate: not installed; install the `schemas` extra (make schemas does)"
        ) from None
    directory = Path(str(package)) / "kubernetes-json-schema" / f"v{version}.0-local-strict"
    if not directory.is_dir():
        raise GitopsError(f"{directory}: kubernetes-validate has no strict schemas for Kubernetes {version}")
    return directory


def _clean(node: Any) -> Any:
    """Drop descriptions and rewrite references into the bundle's own $defs."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            # Only annotations are dropped: a property may itself be called "description".
            if key in _DROPPED_KEYS and not isinstance(value, dict):
                continue
            if key == "$ref" and isinstance(value, str):
                out[key] = "#/$defs/" + value.rsplit("/", 1)[-1]
            else:
                out[key] = _clean(value)
        return out
    if isinstance(node, list):
        return [_clean(item) for item in node]
    return node


def _references(node: Any) -> Iterable[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value.rsplit("/", 1)[-1]
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def bundle(kind_schema: dict[str, Any], definitions: dict[str, Any]) -> dict[str, Any]:
    """A kind schema plus the transitive closure of the definitions it references."""
    top = _clean(kind_schema)
    reached: dict[str, Any] = {}
    pending = list(_references(top))
    while pending:
        name = pending.pop()
        if name in reached:
            continue
        if name not in definitions:
            raise GitopsError(f"_definitions.json: missing definition {name}")
        reached[name] = _clean(definitions[name])
        pending.extend(_references(reached[name]))
    top.pop("$schema", None)
    top.pop("$id", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **top, "$defs": dict(sorted(reached.items()))}


def builtin_kinds(definitions: dict[str, Any]) -> dict[str, list[str]]:
    """apiVersion -> sorted kinds the release serves (List and meta kinds left out)."""
    served: dict[str, set[str]] = {}
    for schema in definitions.values():
        for gvk in schema.get("x-kubernetes-group-version-kind", []):
            kind = gvk.get("kind", "")
            if kind in _META_KINDS or kind.endswith("List"):
                continue
            api_version = f"{gvk['group']}/{gvk['version']}" if gvk.get("group") else gvk["version"]
            served.setdefault(api_version, set()).add(kind)
    return {api_version: sorted(kinds) for api_version, kinds in sorted(served.items())}


def _write_json(path: Path, data: Any) -> None:
    write_text_atomically(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


def generate(version: str, out_root: Path, kinds: Iterable[tuple[str, str]] = KINDS) -> int:
    """Write the bundles and index.json of one Kubernetes minor version; returns the number of bundles."""
    source = _source_dir(version)
    definitions = json.loads((source / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    served = builtin_kinds(definitions)
    target = out_root / f"v{version}"
    for stale in target.glob("*.json"):
        stale.unlink()
    bundled: dict[str, dict[str, str]] = {}
    for api_version, kind in kinds:
        name = bundle_file_name(api_version, kind)
        source_file = source / name
        if not source_file.is_file() or kind not in served.get(api_version, []):
            raise GitopsError(f"{source_file}: Kubernetes {version} has no {kind} in {api_version}")
        kind_schema = json.loads(source_file.read_text(encoding="utf-8"))
        _write_json(target / name, bundle(kind_schema, definitions))
        bundled.setdefault(api_version, {})[kind] = name
    index = {
        "kubernetesVersion": version,
        "source": "kubernetes-validate strict schemas (make schemas)",
        "schemas": bundled,
        "served": served,
    }
    _write_json(target / "index.json", index)
    return sum(len(v) for v in bundled.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitops.schemagen", description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default=",".join(VERSIONS), help="comma-separated minor versions")
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR / "kubernetes")
    args = parser.parse_args(argv)
    try:
        for version in [v.strip().removeprefix("v") for v in args.versions.split(",") if v.strip()]:
            count = generate(version, args.out)
            print(f"{args.out}/v{version}: {count} kind schemas + index.json")
    except GitopsError as exc:
        print(f"gitops.schemagen: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
