"""What the policy rules look at: rendered manifests grouped per environment, Mastodon workloads classified
by role with their resolved environments, Flux Kustomizations from clusters/, and the repo configuration.

An *environment* is the directory name under overlays/ (overlays/<env>/...) or clusters/ (clusters/<env>).
All targets of an environment are one namespace world: a workload's ConfigMap and Secret references are
resolved in its own target first, then in the environment's other targets (the kubelet looks them up by
namespace, not by Flux Kustomization).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from gitops.k8s import POD_KINDS, is_flux_kustomization, iter_containers, pod_spec, pod_spec_pointer, scaled
from gitops.manifests import Manifest
from gitops.policy.env import ContainerEnv, resolve_env

RAILS_REPOSITORY = "mastodon"
STREAMING_REPOSITORY = "mastodon-streaming"


@dataclass(frozen=True)
class Image:
    reference: str
    repository: str
    tag: str | None
    digest: str | None

    @property
    def name(self) -> str:
        """Last path segment of the repository, e.g. mastodon-streaming."""
        return self.repository.rsplit("/", 1)[-1]

    @property
    def is_mastodon(self) -> bool:
        return self.name in (RAILS_REPOSITORY, STREAMING_REPOSITORY)

    @property
    def version(self) -> str:
        """What identifies the release: the tag, else the digest."""
        return self.tag or self.digest or ""


def parse_image(reference: str) -> Image:
    rest, _, digest = reference.partition("@")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > slash:
        return Image(reference, rest[:colon], rest[colon + 1 :], digest or None)
    return Image(reference, rest, None, digest or None)


def parse_release(tag: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a release tag such as v4.6.2 or 4.6.2-beta.1; None for anything else."""
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)(?:[-+.][0-9A-Za-z.-]+)?", tag or "")
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def command_tokens(container: dict[str, Any]) -> list[str]:
    """command + args as tokens; single strings holding a shell line are split."""
    tokens: list[str] = []
    for part in [*(container.get("command") or []), *(container.get("args") or [])]:
        text = str(part)
        try:
            tokens.extend(shlex.split(text) if " " in text else [text])
        except ValueError:
            tokens.extend(text.split())
    return tokens


@dataclass
class Container:
    body: dict[str, Any]
    pointer: str
    env: ContainerEnv
    image: Image
    init: bool = False

    @property
    def name(self) -> str:
        return str(self.body.get("name", ""))

    @property
    def tokens(self) -> list[str]:
        return command_tokens(self.body)


class Role(StrEnum):
    """What a pod-bearing object is in a Mastodon deployment (compares equal to its string value)."""

    WEB = "web"
    STREAMING = "streaming"
    SIDEKIQ = "sidekiq"
    JOB = "job"
    MASTODON = "mastodon"
    """Runs the Mastodon image, but neither its labels nor its command say as what."""
    OTHER = "other"


@dataclass
class Workload:
    """A pod-bearing object with its Mastodon role: web, streaming, sidekiq, job, mastodon (unclear) or other."""

    manifest: Manifest
    role: Role
    containers: list[Container]
    pod_pointer: str
    hpa: Manifest | None = None

    @property
    def kind(self) -> str:
        return self.manifest.identity.kind

    @property
    def name(self) -> str:
        return self.manifest.identity.name

    @property
    def pod(self) -> dict[str, Any]:
        return pod_spec(self.manifest.body) or {}

    @property
    def main(self) -> Container | None:
        """The Mastodon container (the first one running a Mastodon image), else the first container."""
        regular = [c for c in self.containers if not c.init]
        return next((c for c in regular if c.image.is_mastodon), regular[0] if regular else None)

    @property
    def is_rails(self) -> bool:
        return self.role in ("web", "sidekiq", "job", "mastodon")

    @property
    def is_migration(self) -> bool:
        main = self.main
        return self.role == "job" and main is not None and any(t in ("db:migrate", "db:prepare") for t in main.tokens)

    @property
    def is_pre_deploy_migration(self) -> bool:
        main = self.main
        return self.is_migration and main is not None and main.env.value("SKIP_POST_DEPLOYMENT_MIGRATIONS") == "true"

    @property
    def replicas(self) -> int:
        """Pods at steady state: HPA minReplicas when one targets it, else spec.replicas (default 1)."""
        if self.hpa is not None:
            return int((self.hpa.body.get("spec") or {}).get("minReplicas") or 1)
        value = (self.manifest.body.get("spec") or {}).get("replicas")
        return int(value) if isinstance(value, int) else 1

    @property
    def max_replicas(self) -> int:
        """Pods at peak: HPA maxReplicas when one targets it, else the steady-state count."""
        if self.hpa is not None:
            return int((self.hpa.body.get("spec") or {}).get("maxReplicas") or self.replicas)
        return self.replicas

    def surge(self, replicas: int) -> int:
        """Extra pods a rolling update may add on top of `replicas` (none for Recreate)."""
        if self.kind != "Deployment":
            return 0
        strategy = (self.manifest.body.get("spec") or {}).get("strategy") or {}
        if strategy.get("type") == "Recreate":
            return 0
        value = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
        return scaled(value, replicas, round_up=True)


def _role(manifest: Manifest, containers: list[Container]) -> Role:
    kind = manifest.identity.kind
    mastodon = [c for c in containers if c.image.is_mastodon and not c.init]
    if not mastodon:
        return Role.OTHER
    if kind in ("Job", "CronJob"):
        return Role.JOB
    labels = ((manifest.body.get("metadata") or {}).get("labels")) or {}
    component = str(labels.get("app.kubernetes.io/component", ""))
    if component in (Role.WEB, Role.STREAMING):
        return Role(component)
    if component.startswith(Role.SIDEKIQ):
        return Role.SIDEKIQ
    main = mastodon[0]
    tokens = main.tokens
    if main.image.name == STREAMING_REPOSITORY or (tokens and tokens[0] == "node"):
        return Role.STREAMING
    if "sidekiq" in tokens:
        return Role.SIDEKIQ
    if "puma" in tokens:
        return Role.WEB
    return Role.MASTODON


@dataclass
class FluxKustomization:
    manifest: Manifest
    cluster: str
    target: str | None = None
    """In Flux mode, the target this Kustomization renders (`<cluster path>/<namespace>/<name>`)."""

    @property
    def name(self) -> str:
        return self.manifest.identity.name

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.manifest.body.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def path(self) -> str:
        """spec.path as a repo-relative POSIX path ("./overlays/x/apps" -> "overlays/x/apps")."""
        raw = str(self.spec.get("path") or ".")
        parts = [p for p in raw.split("/") if p not in ("", ".")]
        return "/".join(parts)

    @property
    def depends_on(self) -> list[str]:
        return [str(d.get("name")) for d in self.spec.get("dependsOn") or [] if isinstance(d, dict)]


@dataclass
class Environment:
    name: str
    targets: dict[str, list[Manifest]] = field(default_factory=dict)
    workloads: list[Workload] = field(default_factory=list)

    @property
    def manifests(self) -> Iterator[Manifest]:
        for manifests in self.targets.values():
            yield from manifests

    def of_kind(self, *kinds: str) -> list[Manifest]:
        return [m for m in self.manifests if m.identity.kind in kinds]

    def role(self, *roles: str) -> list[Workload]:
        return [w for w in self.workloads if w.role in roles]

    def mastodon_workloads(self) -> list[Workload]:
        return [w for w in self.workloads if w.role != "other"]


@dataclass
class PolicyContext:
    environments: dict[str, Environment]
    flux: list[FluxKustomization]
    config: dict[str, Any]
    repo_root: Path | None = None
    previous: dict[str, Environment] | None = None
    """The same repository at the base ref, for rules about changes (IMG-2 minor skips, SEC-4 domains)."""
    known_rules: frozenset[str] = frozenset()
    """Every rule id check can report (a gitops/ignore of any other id suppresses nothing: IGNORE-2)."""

    def env_config(self, environment: str) -> dict[str, Any]:
        envs = self.config.get("environments") or {}
        value = envs.get(environment) if isinstance(envs, dict) else None
        return value if isinstance(value, dict) else {}

    def flux_for_target(self, target: str) -> FluxKustomization | None:
        """The Flux Kustomization applying `target`: the target itself in Flux mode, else the one whose
        spec.path is the target directory."""
        return next((k for k in self.flux if k.target == target), None) or next(
            (k for k in self.flux if k.path == target), None
        )

    def flux_named(self, name: str, cluster: str) -> FluxKustomization | None:
        return next((k for k in self.flux if k.name == name and k.cluster == cluster), None)


def environment_of(target: str, *, flux: bool = False) -> str:
    """The environment a target belongs to. Flux targets (`<cluster path>/<namespace>/<name>`): their
    cluster, clusters/<name> being <name>. Directory targets: the directory under overlays/ or clusters/."""
    if flux:
        return cluster_environment(flux_cluster(target))
    parts = target.split("/")
    return parts[1] if len(parts) > 1 and parts[0] in ("overlays", "clusters") else target


def flux_cluster(target: str) -> str:
    """The cluster entry path of a Flux target name (`<cluster path>/<namespace>/<name>`)."""
    return target.rsplit("/", 2)[0]


def cluster_environment(cluster: str) -> str:
    """clusters/<name> (the `flux bootstrap` layout) is environment <name>; any other entry path is itself."""
    parts = cluster.split("/")
    return parts[1] if len(parts) == 2 and parts[0] == "clusters" else cluster


def build_environments(targets: dict[str, list[Manifest]], *, flux: bool = False) -> dict[str, Environment]:
    """Targets grouped by environment. Directory targets under clusters/ hold Flux objects, not workloads;
    in Flux mode every target is a Kustomization's output and belongs to its cluster's environment."""
    environments: dict[str, Environment] = {}
    for target, manifests in targets.items():
        if not flux and target.startswith("clusters/"):
            continue
        name = environment_of(target, flux=flux)
        env = environments.setdefault(name, Environment(name))
        env.targets[target] = manifests
    for env in environments.values():
        _classify(env)
    return environments


def build_flux(targets: dict[str, list[Manifest]], *, flux: bool = False) -> list[FluxKustomization]:
    out = []
    for target, manifests in targets.items():
        for manifest in manifests:
            if is_flux_kustomization(manifest.body):
                own = None
                if flux:
                    namespace = manifest.identity.namespace or "default"
                    own = f"{flux_cluster(target)}/{namespace}/{manifest.identity.name}"
                out.append(FluxKustomization(manifest, environment_of(target, flux=flux), own))
    return out


def _config_index(env: Environment) -> dict[tuple[str, str], list[Manifest]]:
    index: dict[tuple[str, str], list[Manifest]] = {}
    for manifest in env.manifests:
        if manifest.identity.kind in ("ConfigMap", "Secret"):
            index.setdefault((manifest.identity.kind, manifest.identity.name), []).append(manifest)
    return index


def _lookup_for(
    index: dict[tuple[str, str], list[Manifest]], target: str, namespace: str | None
) -> Callable[[str, str], Manifest | None]:
    def lookup(kind: str, name: str) -> Manifest | None:
        found = index.get((kind, name), [])
        # The workload's own target first: that is the copy its Flux Kustomization applies with it.
        candidates = [m for m in found if m.target == target] + [m for m in found if m.target != target]
        for manifest in candidates:
            if namespace is None or manifest.identity.namespace in (None, namespace):
                return manifest
        return None

    return lookup


def _classify(env: Environment) -> None:
    hpas = env.of_kind("HorizontalPodAutoscaler")
    config_objects = _config_index(env)
    for target, manifests in env.targets.items():
        for manifest in manifests:
            if manifest.identity.kind not in POD_KINDS:
                continue
            pod_pointer = pod_spec_pointer(manifest.identity.kind)
            workload = Workload(manifest, Role.OTHER, [], pod_pointer)
            lookup = _lookup_for(config_objects, target, manifest.identity.namespace)
            for pointer, body in iter_containers(manifest.body):
                env_vars = resolve_env(body, manifest, pointer, lookup)
                image = parse_image(str(body.get("image") or ""))
                init = pointer.startswith(f"{pod_pointer}/initContainers/")
                workload.containers.append(Container(body, pointer, env_vars, image, init))
            workload.role = _role(manifest, workload.containers)
            workload.hpa = next((h for h in hpas if _targets(h, manifest)), None)
            env.workloads.append(workload)


def _targets(hpa: Manifest, workload: Manifest) -> bool:
    ref = (hpa.body.get("spec") or {}).get("scaleTargetRef") or {}
    return (
        ref.get("kind") == workload.identity.kind
        and ref.get("name") == workload.identity.name
        and hpa.identity.namespace == workload.identity.namespace
    )
