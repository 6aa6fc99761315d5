"""POD-*: probes, memory, the image's UID and hardening, disruption budgets for Mastodon workloads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from gitops.check.findings import Severity
from gitops.k8s import pod_template_labels, scaled, selects
from gitops.policy.context import Container, PolicyContext, Workload
from gitops.policy.rule import Hit, rule

AREA = "Probes, resources and security"
MASTODON_UID = 991
TMP_DIR = "/opt/mastodon/tmp"
SIDEKIQ_READY_FILE = "sidekiq_process_has_started_and_will_begin_processing_jobs"


def _port_number(container: Container, port: Any) -> int | None:
    if isinstance(port, int):
        return port
    for entry in container.body.get("ports") or []:
        if entry.get("name") == port:
            return int(entry.get("containerPort", 0))
    return int(port) if isinstance(port, str) and port.isdigit() else None


def _listen_port(container: Container, default: int) -> int:
    value = container.env.value("PORT")
    return int(value) if value is not None and value.isdigit() else default


def _http_ok(container: Container, probe: dict[str, Any] | None, path: str, port: int) -> bool:
    get = (probe or {}).get("httpGet") or {}
    return get.get("path") == path and _port_number(container, get.get("port")) == port


@rule(
    "POD-1",
    Severity.ERROR,
    AREA,
    "Web, streaming and Sidekiq have the probes their processes support",
    """Web is ready when GET /health on its port answers (readiness and a startup probe, because boot takes
    tens of seconds and a liveness probe alone kills slow starters); liveness is a TCP check or /health.
    Streaming answers /api/v1/streaming/health on its port for all three probes. Sidekiq serves no HTTP: an
    httpGet probe always fails and restarts it in a loop; its optional readiness probe is an exec of `cat` on
    the file Sidekiq writes into /opt/mastodon/tmp once it processes jobs.""",
)
def check_probes(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.role("web", "streaming", "sidekiq"):
            main = workload.main
            if main is None:
                continue
            body = main.body
            if workload.role == "web":
                port = _listen_port(main, 3000)
                for kind in ("readinessProbe", "startupProbe"):
                    if not _http_ok(main, body.get(kind), "/health", port):
                        yield Hit(
                            f"web needs {kind} httpGet /health on port {port}",
                            workload.manifest,
                            f"{main.pointer}/{kind}",
                        )
                liveness = body.get("livenessProbe") or {}
                tcp = _port_number(main, (liveness.get("tcpSocket") or {}).get("port")) == port
                if not tcp and not _http_ok(main, liveness, "/health", port):
                    yield Hit(
                        f"web needs livenessProbe tcpSocket or httpGet /health on port {port}",
                        workload.manifest,
                        f"{main.pointer}/livenessProbe",
                    )
            elif workload.role == "streaming":
                port = _listen_port(main, 4000)
                for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                    if not _http_ok(main, body.get(kind), "/api/v1/streaming/health", port):
                        yield Hit(
                            f"streaming needs {kind} httpGet /api/v1/streaming/health on port {port}",
                            workload.manifest,
                            f"{main.pointer}/{kind}",
                        )
            else:
                for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
                    probe = body.get(kind)
                    if not probe:
                        continue
                    if "httpGet" in probe or "tcpSocket" in probe or "grpc" in probe:
                        yield Hit(
                            f"sidekiq serves no network port; its {kind} always fails",
                            workload.manifest,
                            f"{main.pointer}/{kind}",
                        )
                    elif kind == "readinessProbe":
                        command = " ".join(map(str, (probe.get("exec") or {}).get("command") or []))
                        if SIDEKIQ_READY_FILE not in command:
                            yield Hit(
                                f"sidekiq readinessProbe should `cat {TMP_DIR}/{SIDEKIQ_READY_FILE}`",
                                workload.manifest,
                                f"{main.pointer}/{kind}",
                            )


@rule(
    "POD-2",
    Severity.ERROR,
    AREA,
    "Web and Sidekiq set memory requests and limits; streaming sets memory requests",
    """Ruby processes grow: a known leak in the ingress queue and Puma's forked workers push memory up until
    the node evicts neighbours. A memory limit restarts the leaking pod instead (maintainers prefer it, PR #14),
    and a memory request lets the scheduler place pods where they fit. Streaming's memory is steadier, but
    without a request it is the first thing evicted under pressure, dropping every client.""",
)
def check_memory(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.role("web", "sidekiq", "streaming"):
            main = workload.main
            if main is None:
                continue
            resources = main.body.get("resources") or {}
            needed = ["requests", "limits"] if workload.role != "streaming" else ["requests"]
            for section in needed:
                if not (resources.get(section) or {}).get("memory"):
                    yield Hit(
                        f"{workload.role} container {main.name} sets no memory {section}",
                        workload.manifest,
                        f"{main.pointer}/resources",
                    )


def _effective(workload: Workload, container: Container, key: str) -> Any:
    own = (container.body.get("securityContext") or {}).get(key)
    return own if own is not None else (workload.pod.get("securityContext") or {}).get(key)


@rule(
    "POD-3",
    Severity.ERROR,
    AREA,
    "Mastodon runs as UID/GID 991, drops all capabilities, and writes to /opt/mastodon/tmp",
    """Both Mastodon images run as user mastodon (UID and GID 991) and own their files as 991; any other UID
    breaks Bundler ("Could not locate Gemfile", jordanopensource/charts#95), and fsGroup 991 makes mounted
    volumes readable to it. The processes need no Linux capabilities, so `capabilities.drop: [ALL]`. With
    readOnlyRootFilesystem, Rails and Sidekiq still need a writable /opt/mastodon/tmp (pids, cache, the Sidekiq
    readiness file), so an emptyDir must be mounted there. runAsNonRoot and privilege escalation are checked for
    every workload by GEN-3 and GEN-5.""",
)
def check_security_context(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.mastodon_workloads():
            pod_sc = workload.pod.get("securityContext") or {}
            mounts = False
            for container in workload.containers:
                if not container.image.is_mastodon:
                    continue
                where = f"{container.pointer}/securityContext"
                for key in ("runAsUser", "runAsGroup"):
                    value = _effective(workload, container, key)
                    if value != MASTODON_UID:
                        yield Hit(
                            f"{container.name}: {key} is {value}, the image needs {MASTODON_UID}",
                            workload.manifest,
                            where,
                        )
                drop = ((container.body.get("securityContext") or {}).get("capabilities") or {}).get("drop") or []
                if "ALL" not in drop:
                    yield Hit(f"{container.name} does not drop ALL capabilities", workload.manifest, where)
                mounts = mounts or bool(container.body.get("volumeMounts"))
                if _effective(workload, container, "readOnlyRootFilesystem") is True and not _tmp_is_empty_dir(
                    workload, container
                ):
                    yield Hit(
                        f"{container.name} has a read-only root filesystem but no emptyDir at {TMP_DIR}",
                        workload.manifest,
                        f"{container.pointer}/volumeMounts",
                    )
            if mounts and pod_sc.get("fsGroup") != MASTODON_UID:
                yield Hit(
                    f"{workload.name} mounts volumes but fsGroup is {pod_sc.get('fsGroup')}, not {MASTODON_UID}",
                    workload.manifest,
                    f"{workload.pod_pointer}/securityContext",
                )


def _tmp_is_empty_dir(workload: Workload, container: Container) -> bool:
    volumes = {v.get("name"): v for v in workload.pod.get("volumes") or []}
    return any(
        str(m.get("mountPath", "")).rstrip("/") == TMP_DIR and "emptyDir" in volumes.get(m.get("name"), {})
        for m in container.body.get("volumeMounts") or []
    )


@rule(
    "POD-4",
    Severity.ERROR,
    AREA,
    "Web and streaming with two or more replicas have a PodDisruptionBudget that allows evictions",
    """A node drain (cluster upgrades on managed Kubernetes drain every node) may evict all replicas of a
    Deployment at once unless a PodDisruptionBudget limits it; web then serves 502s and every streaming client
    disconnects together. The budget must still allow one eviction (maxUnavailable ≥ 1, or minAvailable below
    the replica count), or the drain blocks and the provider forces it after its timeout anyway. Replicas are
    the HPA's bounds when one targets the Deployment.""",
)
def check_disruption_budget(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        budgets = env.of_kind("PodDisruptionBudget")
        for workload in env.role("web", "streaming"):
            if workload.max_replicas < 2:
                continue
            labels = pod_template_labels(workload.manifest.body)
            matching = [
                b
                for b in budgets
                if b.identity.namespace == workload.manifest.identity.namespace
                and selects((b.body.get("spec") or {}).get("selector"), labels)
            ]
            if not matching:
                yield Hit(
                    f"{workload.name} runs up to {workload.max_replicas} replicas without a PodDisruptionBudget",
                    workload.manifest,
                )
                continue
            replicas = workload.replicas
            for budget in matching:
                spec = budget.body.get("spec") or {}
                if "maxUnavailable" in spec:
                    allowed = scaled(spec["maxUnavailable"], replicas, round_up=True)
                elif "minAvailable" in spec:
                    allowed = replicas - scaled(spec["minAvailable"], replicas, round_up=True)
                else:
                    allowed = 1
                if allowed < 1:
                    yield Hit(
                        f"PodDisruptionBudget {budget.identity.name} allows no eviction of {workload.name} "
                        f"at {replicas} replicas; node drains block",
                        budget,
                        "/spec",
                    )


RULES = (check_probes, check_memory, check_security_context, check_disruption_budget)
