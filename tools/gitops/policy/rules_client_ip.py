"""RT-2: the client's address survives the way in (load balancer -> Envoy Gateway -> Rails)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any

from gitops.check.findings import Severity
from gitops.manifests import Manifest
from gitops.policy.context import Environment, PolicyContext, Workload
from gitops.policy.env import EnvVar
from gitops.policy.routing import backends, parent_gateways, services_for
from gitops.policy.rule import Hit, rule
from gitops.policy.rules_config import LOOPBACK, PRIVATE, covers, effective_trusted_proxies

ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
# Envoy Gateway's own default for the Service it creates (api/v1alpha1 DefaultKubernetesServiceExternalTrafficPolicy).
ENVOY_DEFAULT_TRAFFIC_POLICY = "Local"
# DigitalOcean's cloud controller: the load balancer prepends a PROXY protocol (v1) header to every connection.
DO_PROXY_PROTOCOL = "service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol"
SERVICE_POINTER = "/spec/provider/kubernetes/envoyService"


def _targets_gateway(policy: Manifest, gateway: Manifest) -> bool:
    """Does an Envoy Gateway policy attach to the Gateway (targetRef or targetRefs, same namespace)?"""
    spec = policy.body.get("spec") or {}
    refs = list(spec.get("targetRefs") or []) + ([spec["targetRef"]] if spec.get("targetRef") else [])
    same_namespace = policy.identity.namespace == gateway.identity.namespace
    return same_namespace and any(
        r.get("kind") == "Gateway" and str(r.get("name", "")) == gateway.identity.name for r in refs
    )


def _named(env: Environment, kind: str, namespace: str | None, name: str) -> Manifest | None:
    return next(
        (
            m
            for m in env.of_kind(kind)
            if m.identity.name == name and (namespace is None or m.identity.namespace == namespace)
        ),
        None,
    )


def _envoy_proxy(env: Environment, gateway: Manifest, gateway_class: Manifest) -> Manifest | None:
    """The EnvoyProxy configuring the Gateway's Envoy: the Gateway's own parametersRef wins over its class's."""
    own = ((gateway.body.get("spec") or {}).get("infrastructure") or {}).get("parametersRef") or {}
    if own.get("kind") == "EnvoyProxy":
        return _named(env, "EnvoyProxy", gateway.identity.namespace, str(own.get("name", "")))
    ref = (gateway_class.body.get("spec") or {}).get("parametersRef") or {}
    if ref.get("kind") == "EnvoyProxy":
        return _named(env, "EnvoyProxy", ref.get("namespace"), str(ref.get("name", "")))
    return None


def _accepts_proxy_protocol(policy: Manifest) -> bool:
    spec = policy.body.get("spec") or {}
    return isinstance(spec.get("proxyProtocol"), dict) or spec.get("enableProxyProtocol") is True


def _gateways_in_front_of(env: Environment, web: Workload) -> list[Manifest]:
    """The Gateways of the HTTPRoutes that reach web's Services."""
    services = {service.identity.name for service, _, _ in services_for(env, web)}
    parents: set[tuple[str, str]] = set()
    for backend in backends(env):
        if backend.route.identity.kind == "HTTPRoute" and backend.service in services:
            parents |= parent_gateways(backend.route)
    return [g for g in env.of_kind("Gateway") if (g.identity.namespace, g.identity.name) in parents]


@rule(
    "RT-2",
    Severity.ERROR,
    "Routing",
    "The client's address reaches Rails through the load balancer and Envoy Gateway",
    """Rate limits, IP blocks and the sign-in log use the client address Rails finds in X-Forwarded-For: the
    right-most entry that is not in TRUSTED_PROXY_IP. Envoy Gateway appends the address of whoever connected to
    Envoy (use_remote_address), so that must be the client: a load balancer that proxies (DigitalOcean's does)
    must pass it with PROXY protocol, which Envoy must then accept through a ClientTrafficPolicy on the Gateway
    (one side without the other refuses every connection), and `externalTrafficPolicy: Cluster` without PROXY
    protocol replaces it by a node's address. When Envoy trusts proxies in front of it (clientIPDetection
    xForwardedFor numTrustedHops or trustedCIDRs, e.g. a CDN), those proxies' addresses end up in
    X-Forwarded-For too, and TRUSTED_PROXY_IP (or Mastodon's default of loopback and private networks) must
    trust them; otherwise every client appears as the CDN.""",
)
def check_client_address(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        web = next(iter(env.role("web")), None)
        if web is None:
            continue
        for gateway in _gateways_in_front_of(env, web):
            klass = _named(env, "GatewayClass", None, str((gateway.body.get("spec") or {}).get("gatewayClassName", "")))
            if klass is None or (klass.body.get("spec") or {}).get("controllerName") != ENVOY_CONTROLLER:
                continue
            policies = [p for p in env.of_kind("ClientTrafficPolicy") if _targets_gateway(p, gateway)]
            proxy = _envoy_proxy(env, gateway, klass)
            yield from _load_balancer_hits(gateway, proxy, policies)
            yield from _front_proxy_hits(
                ctx, env, web.main.env.get("TRUSTED_PROXY_IP") if web.main else None, policies, web.manifest
            )


def _load_balancer_hits(gateway: Manifest, proxy: Manifest | None, policies: list[Manifest]) -> Iterator[Hit]:
    service: dict[str, Any] = {}
    if proxy is not None:
        service = (((proxy.body.get("spec") or {}).get("provider") or {}).get("kubernetes") or {}).get(
            "envoyService"
        ) or {}
    lb_sends = str((service.get("annotations") or {}).get(DO_PROXY_PROTOCOL, "")).lower()
    accepting = [p for p in policies if _accepts_proxy_protocol(p)]
    name = gateway.identity.name
    if lb_sends == "true" and not accepting and proxy is not None:
        yield Hit(
            f"the load balancer of Gateway {name} sends PROXY protocol ({DO_PROXY_PROTOCOL}) but no "
            "ClientTrafficPolicy on the Gateway accepts it: Envoy refuses every connection",
            proxy,
            f"{SERVICE_POINTER}/annotations",
        )
    elif lb_sends == "false" and accepting:
        yield Hit(
            f"a ClientTrafficPolicy makes Envoy require PROXY protocol on Gateway {name}, but {DO_PROXY_PROTOCOL} "
            "turns it off on the load balancer: Envoy refuses every connection",
            accepting[0],
            "/spec",
        )
    policy = service.get("externalTrafficPolicy") or ENVOY_DEFAULT_TRAFFIC_POLICY
    if policy == "Cluster" and not accepting and proxy is not None:
        yield Hit(
            f"Envoy's Service for Gateway {name} has externalTrafficPolicy: Cluster and no PROXY protocol: nodes "
            "SNAT the connections, so Rails sees a node's address for every client",
            proxy,
            f"{SERVICE_POINTER}/externalTrafficPolicy",
        )


def _front_proxy_hits(
    ctx: PolicyContext, env: Environment, var: EnvVar | None, policies: list[Manifest], workload: Manifest
) -> Iterator[Hit]:
    trusted = effective_trusted_proxies(var)
    where = var.defined_in or workload if var is not None else workload
    pointer = var.pointer if var is not None else ""
    shown = "TRUSTED_PROXY_IP" if var is not None and var.value is not None else "Mastodon's default trusted proxies"
    declared = (ctx.env_config(env.name).get("network") or {}).get("clusterCIDRs") or []
    internal = LOOPBACK + PRIVATE + [ipaddress.ip_network(str(c), strict=False) for c in declared]
    for policy in policies:
        xff = (((policy.body.get("spec") or {}).get("clientIPDetection") or {}).get("xForwardedFor")) or {}
        for cidr in xff.get("trustedCIDRs") or []:
            try:
                network = ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                continue  # not a CIDR: the CRD schema's finding, not this rule's
            if not covers(trusted, network):
                yield Hit(
                    f"Envoy trusts X-Forwarded-For from {cidr} (ClientTrafficPolicy {policy.identity.name}), but "
                    f"{shown} does not: Rails takes that proxy for the client",
                    where,
                    pointer,
                )
        hops = xff.get("numTrustedHops") or 0
        if hops and all(covers(internal, n) for n in trusted):
            yield Hit(
                f"Envoy trusts {hops} X-Forwarded-For hop(s) in front of it (ClientTrafficPolicy "
                f"{policy.identity.name}), but {shown} trusts only loopback and internal networks: Rails takes the "
                "front proxy's address for every client (list the front proxy's ranges)",
                where,
                pointer,
            )


RULES = (check_client_address,)
