"""GEN-*: the checks every Kubernetes linter has, for every workload (Mastodon or not)."""

from __future__ import annotations

from collections.abc import Iterator

from gitops.check.findings import Severity
from gitops.policy.context import PolicyContext
from gitops.policy.rule import Hit, rule

AREA = "Generic workload hygiene"
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


@rule(
    "GEN-1",
    Severity.WARNING,
    AREA,
    "Containers set CPU and memory requests and a memory limit",
    """Without requests the scheduler packs pods onto nodes that cannot run them and the HPA's utilisation
    targets have no denominator; without a memory limit one leaking container takes the node's memory from
    its neighbours. CPU limits are deliberately not required: they throttle latency-sensitive processes
    without protecting anyone.""",
)
def check_resources(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.workloads:
            for container in workload.containers:
                resources = container.body.get("resources") or {}
                missing = [
                    f"{section}.{resource}"
                    for section, resource in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory"))
                    if not (resources.get(section) or {}).get(resource)
                ]
                if missing:
                    yield Hit(
                        f"{container.name} sets no {', '.join(missing)}",
                        workload.manifest,
                        f"{container.pointer}/resources",
                    )


@rule(
    "GEN-2",
    Severity.WARNING,
    AREA,
    "Long-running containers that serve a port have readiness and liveness probes",
    """A container without a readiness probe receives traffic the moment it starts, before it can answer;
    one without a liveness probe keeps a hung process in rotation forever. (The Mastodon-specific shapes of
    these probes are POD-1.)""",
)
def check_probes_present(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.workloads:
            if workload.kind not in LONG_RUNNING:
                continue
            for container in workload.containers:
                if container.init or not container.body.get("ports"):
                    continue
                for kind in ("readinessProbe", "livenessProbe"):
                    if not container.body.get(kind):
                        yield Hit(
                            f"{container.name} serves a port but has no {kind}", workload.manifest, container.pointer
                        )


@rule(
    "GEN-3",
    Severity.ERROR,
    AREA,
    "Containers run as non-root",
    """runAsNonRoot makes the kubelet refuse to start a container whose user is root, so an image change
    (or a debug override) cannot silently run as UID 0, where a container escape owns the node. It can be set on
    the pod or the container; runAsUser 0 is refused outright.""",
)
def check_non_root(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.workloads:
            pod_sc = workload.pod.get("securityContext") or {}
            for container in workload.containers:
                own = container.body.get("securityContext") or {}
                non_root = own.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
                user = own.get("runAsUser", pod_sc.get("runAsUser"))
                if non_root is not True:
                    yield Hit(
                        f"{container.name} does not set runAsNonRoot: true",
                        workload.manifest,
                        f"{container.pointer}/securityContext",
                    )
                elif user == 0:
                    yield Hit(
                        f"{container.name} runs as UID 0", workload.manifest, f"{container.pointer}/securityContext"
                    )


@rule(
    "GEN-4",
    Severity.ERROR,
    AREA,
    "Images are pinned: a tag other than latest, or a digest",
    """An image without a tag is `latest`; `latest` means whatever the registry holds when a node pulls,
    so two replicas can run different code and a rollback restores nothing. (Mastodon images are held to
    release tags by IMG-2 and are not reported twice.)""",
)
def check_pinned(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.workloads:
            for container in workload.containers:
                image = container.image
                if image.is_mastodon or image.digest is not None:
                    continue
                if image.tag in (None, "latest"):
                    yield Hit(
                        f"{container.name} image {image.reference or '(none)'} is not pinned",
                        workload.manifest,
                        f"{container.pointer}/image",
                    )


@rule(
    "GEN-5",
    Severity.ERROR,
    AREA,
    "No privileged containers, host namespaces or privilege escalation",
    """privileged, hostNetwork, hostPID and hostIPC hand the container the node's devices, network or
    processes. allowPrivilegeEscalation defaults to true, letting setuid binaries gain privileges the
    container was not given, so it must be set to false explicitly (the Pod Security "restricted" profile
    requires the same).""",
)
def check_privileges(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.workloads:
            for key in ("hostNetwork", "hostPID", "hostIPC"):
                if workload.pod.get(key) is True:
                    yield Hit(f"{workload.name} sets {key}: true", workload.manifest, f"{workload.pod_pointer}/{key}")
            for container in workload.containers:
                own = container.body.get("securityContext") or {}
                where = f"{container.pointer}/securityContext"
                if own.get("privileged") is True:
                    yield Hit(f"{container.name} is privileged", workload.manifest, f"{where}/privileged")
                if own.get("allowPrivilegeEscalation") is not False:
                    yield Hit(
                        f"{container.name} does not set allowPrivilegeEscalation: false",
                        workload.manifest,
                        f"{where}/allowPrivilegeEscalation",
                    )


RULES = (check_resources, check_probes_present, check_non_root, check_pinned, check_privileges)
