"""Services and routes (Ingress, Gateway API HTTPRoute) in front of web and streaming; RT-1 and CFG-4."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gitops.check.findings import Severity
from gitops.k8s import pod_template_labels, selects
from gitops.manifests import Manifest
from gitops.policy.context import Environment, PolicyContext, Workload
from gitops.policy.rule import Hit, rule

STREAMING_PATH = "/api/v1/streaming"
BODY_SIZE_ANNOTATION = "nginx.ingress.kubernetes.io/proxy-body-size"
# Mastodon's largest upload: video and audio up to 99 MB (MediaAttachment::VIDEO_LIMIT = 99.megabytes; images
# 16 MB). Its nginx example allows client_max_body_size 99m.
MIN_BODY_BYTES = 99 * 1024 * 1024
ENVOY_POLICY_GROUP = "gateway.envoyproxy.io"


def services_for(env: Environment, workload: Workload) -> list[tuple[Manifest, int, Any]]:
    """(Service, port index, targetPort) for every Service port whose selector picks the workload's pods."""
    labels = pod_template_labels(workload.manifest.body)
    out = []
    for service in env.of_kind("Service"):
        if service.identity.namespace != workload.manifest.identity.namespace:
            continue
        spec = service.body.get("spec") or {}
        if not selects(spec.get("selector"), labels):
            continue
        for index, port in enumerate(spec.get("ports") or []):
            out.append((service, index, port.get("targetPort", port.get("port"))))
    return out


@dataclass(frozen=True)
class Backend:
    route: Manifest
    host: str
    path: str
    prefix: bool
    service: str
    port: Any
    pointer: str


def backends(env: Environment) -> list[Backend]:
    out: list[Backend] = []
    for ingress in env.of_kind("Ingress"):
        for r, item in enumerate((ingress.body.get("spec") or {}).get("rules") or []):
            host = str(item.get("host") or "*")
            for p, path in enumerate((item.get("http") or {}).get("paths") or []):
                service = (path.get("backend") or {}).get("service") or {}
                port = service.get("port") or {}
                out.append(
                    Backend(
                        ingress,
                        host,
                        str(path.get("path") or "/"),
                        path.get("pathType") == "Prefix",
                        str(service.get("name", "")),
                        port.get("number", port.get("name")),
                        f"/spec/rules/{r}/http/paths/{p}",
                    )
                )
    for route in env.of_kind("HTTPRoute"):
        spec = route.body.get("spec") or {}
        hosts = [str(h) for h in spec.get("hostnames") or []] or ["*"]
        for r, item in enumerate(spec.get("rules") or []):
            matches = item.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]
            for m, match in enumerate(matches):
                path = match.get("path") or {"type": "PathPrefix", "value": "/"}
                for b, ref in enumerate(item.get("backendRefs") or []):
                    for host in hosts:
                        out.append(
                            Backend(
                                route,
                                host,
                                str(path.get("value") or "/"),
                                path.get("type", "PathPrefix") == "PathPrefix",
                                str(ref.get("name", "")),
                                ref.get("port"),
                                f"/spec/rules/{r}/backendRefs/{b}" if m == 0 else f"/spec/rules/{r}/matches/{m}",
                            )
                        )
    return out


def _service_ports(env: Environment, workload: Workload) -> dict[str, list[tuple[Any, Any]]]:
    """Service name -> (port number, port name) of the Service ports that reach `workload`."""
    out: dict[str, list[tuple[Any, Any]]] = {}
    for service, index, _ in services_for(env, workload):
        port = ((service.body.get("spec") or {}).get("ports") or [])[index]
        out.setdefault(service.identity.name, []).append((port.get("port"), port.get("name")))
    return out


def _reaches(backend: Backend, ports: dict[str, list[tuple[Any, Any]]], number: int) -> bool:
    """Does the backend name a port of a Service in `ports` whose number is `number`?"""
    return any(backend.port in (port, name) and port == number for port, name in ports.get(backend.service, []))


def _size_bytes(value: str) -> int | None:
    match = re.fullmatch(r"\s*(\d+)\s*([kKmMgG]?)\s*", value)
    if match is None:
        return None
    return int(match[1]) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[match[2].lower()]


def quantity_bytes(value: object) -> int | None:
    """A Kubernetes resource quantity ("100Mi", "99M", "104857600") in bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*(Ki|Mi|Gi|Ti|k|M|G|T)?\s*", str(value))
    if match is None:
        return None
    scale = {"": 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6}
    scale |= {"G": 10**9, "T": 10**12}
    return int(match[1]) * scale[match[2] or ""]


def parent_gateways(route: Manifest) -> set[tuple[str, str]]:
    """(namespace, name) of the Gateways an HTTPRoute attaches to."""
    namespace = route.identity.namespace or ""
    return {
        (str(ref.get("namespace") or namespace), str(ref.get("name", "")))
        for ref in (route.body.get("spec") or {}).get("parentRefs") or []
        if ref.get("kind", "Gateway") == "Gateway"
    }


def _body_limits(env: Environment, route: Manifest) -> list[tuple[Manifest, object]]:
    """(BackendTrafficPolicy, requestBuffer.limit) of Envoy Gateway policies that apply to the HTTPRoute
    (targeting the route itself, or its Gateway)."""
    out = []
    for policy in env.of_kind("BackendTrafficPolicy"):
        if not policy.identity.api_version.startswith(ENVOY_POLICY_GROUP + "/"):
            continue
        spec = policy.body.get("spec") or {}
        limit = (spec.get("requestBuffer") or {}).get("limit")
        if limit is None:
            continue
        refs = list(spec.get("targetRefs") or []) + ([spec["targetRef"]] if spec.get("targetRef") else [])
        namespace = policy.identity.namespace or ""
        for ref in refs:
            kind, name = ref.get("kind"), str(ref.get("name", ""))
            same_route = kind == "HTTPRoute" and name == route.identity.name and namespace == route.identity.namespace
            if same_route or (kind == "Gateway" and (namespace, name) in parent_gateways(route)):
                out.append((policy, limit))
    return out


def _is_nginx(ingress: Manifest) -> bool:
    annotations = (ingress.body.get("metadata") or {}).get("annotations") or {}
    klass = (ingress.body.get("spec") or {}).get("ingressClassName") or annotations.get("kubernetes.io/ingress.class")
    return "nginx" in str(klass or "")


@rule(
    "RT-1",
    Severity.ERROR,
    "Routing",
    "Routes send / to web on 3000 and /api/v1/streaming to streaming on 4000, over TLS",
    """Mastodon's clients open the streaming API on the instance's own host under /api/v1/streaming; routed
    to web (the catch-all /), websockets fail and timelines stop updating live. Each host that routes to
    Mastodon must send Prefix / to the web Service on port 3000 and Prefix /api/v1/streaming to the streaming
    Service on 4000 (unless STREAMING_API_BASE_URL moves streaming to its own host, see CFG-4), list the host
    under the Ingress's `tls`, and allow request bodies of Mastodon's largest upload (video and audio up to
    99 MB): on ingress-nginx the proxy-body-size annotation (nginx's 1m default rejects media uploads), on
    Envoy Gateway the requestBuffer limit of a BackendTrafficPolicy targeting the web HTTPRoute or its Gateway
    (without one, Envoy streams bodies unbuffered and imposes no limit). TLS of an HTTPRoute lives on its
    Gateway and is not checked.""",
)
def check_routes(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        web = next(iter(env.role("web")), None)
        if web is None:
            continue
        streaming = next(iter(env.role("streaming")), None)
        web_ports = _service_ports(env, web)
        streaming_ports = _service_ports(env, streaming) if streaming is not None else {}
        own_host = web.main is not None and web.main.env.value("STREAMING_API_BASE_URL")
        all_backends = backends(env)
        # An Ingress is judged on its own (its tls and annotations are per object); HTTPRoutes of one host
        # together, as the Gateway merges them.
        hosts: dict[tuple[int, str], list[Backend]] = {}
        for backend in all_backends:
            if backend.service in web_ports or backend.service in streaming_ports:
                owner = id(backend.route) if backend.route.identity.kind == "Ingress" else 0
                hosts.setdefault((owner, backend.host), []).append(backend)
        if not hosts:
            yield Hit("no Ingress or HTTPRoute routes to the web Service", web.manifest)
            continue
        for (_, host), group in hosts.items():
            by_path = {b.path.rstrip("/") or "/": b for b in group}
            root = by_path.get("/")
            route = root.route if root is not None else group[0].route
            if root is None or not root.prefix or not _reaches(root, web_ports, 3000):
                yield Hit(f"host {host}: Prefix / must go to the web Service on port 3000", route, group[0].pointer)
            elif route.identity.kind == "HTTPRoute":
                yield from _route_body_limit(env, route)
            if streaming is not None and not own_host and any(b.service in web_ports for b in group):
                stream = by_path.get(STREAMING_PATH)
                if stream is None or not stream.prefix or not _reaches(stream, streaming_ports, 4000):
                    yield Hit(
                        f"host {host}: Prefix {STREAMING_PATH} must go to the streaming Service on port 4000",
                        stream.route if stream is not None else route,
                        stream.pointer if stream is not None else "/spec/rules",
                    )
            if route.identity.kind != "Ingress":
                continue
            tls_hosts = {str(h) for t in (route.body.get("spec") or {}).get("tls") or [] for h in t.get("hosts") or []}
            if host not in tls_hosts:
                yield Hit(f"host {host} is not listed under the Ingress's tls", route, "/spec/tls")
        ingresses = {id(g[0].route): g[0].route for g in hosts.values() if g[0].route.identity.kind == "Ingress"}
        for ingress in ingresses.values():
            if not _is_nginx(ingress):
                continue
            annotations = (ingress.body.get("metadata") or {}).get("annotations") or {}
            raw = annotations.get(BODY_SIZE_ANNOTATION)
            size = _size_bytes(str(raw)) if raw is not None else None
            if size is None or (size != 0 and size < MIN_BODY_BYTES):
                shown = raw if raw is not None else "unset (nginx default 1m)"
                yield Hit(
                    f"{BODY_SIZE_ANNOTATION} is {shown}; media uploads need at least 99m",
                    ingress,
                    "/metadata/annotations",
                )


def _route_body_limit(env: Environment, route: Manifest) -> Iterator[Hit]:
    for policy, limit in _body_limits(env, route):
        size = quantity_bytes(limit)
        if size is None or size < MIN_BODY_BYTES:
            yield Hit(
                f"requestBuffer limit {limit} applies to HTTPRoute {route.identity.name}; Mastodon accepts "
                "uploads up to 99 MB (use at least 99Mi, 100Mi for the multipart overhead)",
                policy,
                "/spec/requestBuffer/limit",
            )


@rule(
    "CFG-4",
    Severity.ERROR,
    "Secrets and configuration",
    "STREAMING_API_BASE_URL points at a host routed to streaming",
    """Web advertises STREAMING_API_BASE_URL to clients through the instance API; clients then open their
    websockets there and nowhere else. If no Ingress or HTTPRoute serves that host with a path to the
    streaming Service, every client loses live updates while the rest of the site works, which makes the
    fault easy to miss.""",
)
def check_streaming_url(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        streaming = next(iter(env.role("streaming")), None)
        streaming_ports = _service_ports(env, streaming) if streaming is not None else {}
        for workload in env.role("web", "sidekiq"):
            main = workload.main
            var = main.env.get("STREAMING_API_BASE_URL") if main is not None else None
            if var is None or not var.value:
                continue
            host = urlsplit(var.value).hostname
            served = any(b.host == host and b.service in streaming_ports for b in backends(env))
            if not served:
                yield Hit(
                    f"STREAMING_API_BASE_URL={var.value}, but no route sends {host} to the streaming Service",
                    var.defined_in or workload.manifest,
                    var.pointer,
                )


RULES = (check_routes, check_streaming_url)
