"""SEC-3/4 and CFG-1..4: where secrets live, who gets them, and settings that must agree across processes."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from gitops.check.findings import Severity
from gitops.manifests import Manifest
from gitops.policy.context import Container, Environment, PolicyContext, Workload
from gitops.policy.env import EnvVar, secret_values
from gitops.policy.routing import services_for
from gitops.policy.rule import Hit, rule

AREA = "Secrets and configuration"
APP_SECRET_KEYS = (
    "SECRET_KEY_BASE",
    "VAPID_PRIVATE_KEY",
    "VAPID_PUBLIC_KEY",
    "ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY",
    "ACTIVE_RECORD_ENCRYPTION_DETERMINISTIC_KEY",
    "ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT",
)
AR_SINCE = (4, 3, 0)


def app_secret_names(env: Environment) -> set[str]:
    """Secrets holding Rails application secrets: those web reads through envFrom, or with such keys."""
    names = {
        name
        for workload in env.role("web")
        for container in workload.containers
        for kind, name in container.env.env_from
        if kind == "Secret"
    }
    for secret in env.of_kind("Secret"):
        if any(key in APP_SECRET_KEYS or key == "OTP_SECRET" for key in secret_values(secret)):
            names.add(secret.identity.name)
    return names


def _rails(env: Environment) -> list[Workload]:
    return [w for w in env.role("web", "sidekiq", "job") if w.main is not None and w.main.image.name == "mastodon"]


@rule(
    "SEC-3",
    Severity.ERROR,
    AREA,
    "Rails processes get the app secrets; streaming does not",
    """Web, Sidekiq and Rails Jobs all need LOCAL_DOMAIN, SECRET_KEY_BASE, both VAPID keys and (since 4.3)
    the three ACTIVE_RECORD_ENCRYPTION keys: a Sidekiq without them cannot decrypt what web encrypted, or signs
    push messages with nothing. Streaming never reads them, so it must not envFrom the app-secrets Secret:
    it gets the database and Redis credentials only, which keeps a compromise of the internet-facing Node
    process from yielding the keys that sign sessions. Keys of a Secret that is referenced but not rendered
    are unknown and given the benefit of the doubt.""",
)
def check_app_secrets(ctx: PolicyContext) -> Iterator[Hit]:
    from gitops.policy.mastodon import rails_version

    for env in ctx.environments.values():
        for workload in _rails(env):
            main = workload.main
            assert main is not None
            version = rails_version(workload)
            wanted = ["LOCAL_DOMAIN", *(k for k in APP_SECRET_KEYS if not k.startswith("ACTIVE_"))]
            if version is None or version >= AR_SINCE:
                wanted += [k for k in APP_SECRET_KEYS if k.startswith("ACTIVE_")]
            missing = [k for k in wanted if not main.env.may_have(k)]
            if missing:
                yield Hit(f"{workload.name} does not receive {', '.join(missing)}", workload.manifest, main.pointer)
        app_secrets = app_secret_names(env)
        for workload in env.role("streaming"):
            for container in workload.containers:
                for index, source in enumerate(container.body.get("envFrom") or []):
                    ref = (source or {}).get("secretRef") or {}
                    if ref.get("name") in app_secrets:
                        yield Hit(
                            f"streaming reads the app-secrets Secret {ref['name']} through envFrom; give it DB and "
                            "Redis credentials with secretKeyRef instead",
                            workload.manifest,
                            f"{container.pointer}/envFrom/{index}",
                        )
                for index, entry in enumerate(container.body.get("env") or []):
                    name = str((entry or {}).get("name", ""))
                    if name in ("SECRET_KEY_BASE", "OTP_SECRET", "VAPID_PRIVATE_KEY") or name.startswith(
                        "ACTIVE_RECORD_ENCRYPTION_"
                    ):
                        yield Hit(
                            f"streaming receives {name}, which it never uses",
                            workload.manifest,
                            f"{container.pointer}/env/{index}",
                        )


def _domain(container: Container, name: str) -> str | None:
    value = container.env.value(name)
    if name == "WEB_DOMAIN" and value is None and not container.env.has("WEB_DOMAIN"):
        return container.env.value("LOCAL_DOMAIN")
    return value


@rule(
    "SEC-4",
    Severity.ERROR,
    AREA,
    "LOCAL_DOMAIN and WEB_DOMAIN agree across workloads and never change",
    """LOCAL_DOMAIN (and WEB_DOMAIN, which defaults to it) is part of every account's identity in the
    fediverse: remote servers cache `user@domain` and the keys behind it. Two values in one environment mean
    Sidekiq signs federation requests as a different domain than web serves, and changing the value of a live
    instance orphans every existing account. The rule compares all workloads of an environment and, when run
    against a base ref, fails any change of an environment that already existed.""",
)
def check_domains(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for name in ("LOCAL_DOMAIN", "WEB_DOMAIN"):
            reference = _reference_domain(env, name)
            if reference is None:
                continue
            for workload in env.mastodon_workloads():
                main = workload.main
                if main is None:
                    continue
                value = _domain(main, name)
                if value is not None and value != reference:
                    var = main.env.get(name)
                    yield Hit(
                        f"{workload.name} has {name}={value}, the environment's web has {reference}",
                        var.defined_in if var is not None and var.defined_in else workload.manifest,
                        var.pointer if var is not None else main.pointer,
                    )
            if ctx.previous is not None and env.name in ctx.previous:
                before = _reference_domain(ctx.previous[env.name], name)
                anchor = next(iter(env.role("web")), None)
                if before is not None and before != reference and anchor is not None and anchor.main is not None:
                    var = anchor.main.env.get(name)
                    yield Hit(
                        f"{name} changes from {before} to {reference} in the existing environment {env.name}",
                        var.defined_in if var is not None and var.defined_in else anchor.manifest,
                        var.pointer if var is not None else anchor.main.pointer,
                    )


def _reference_domain(env: Environment, name: str) -> str | None:
    for workload in [*env.role("web"), *env.mastodon_workloads()]:
        if workload.main is not None:
            value = _domain(workload.main, name)
            if value is not None:
                return value
    return None


@rule(
    "CFG-1",
    Severity.ERROR,
    AREA,
    "PORT is set per container and matches the containerPort and the Service",
    """Web listens on PORT (3000) and streaming on PORT (4000): a PORT in a ConfigMap shared by both puts
    one of them on the wrong port, where its probes fail and its Service sends traffic nowhere. The rule
    checks that PORT comes from the container itself, equals a containerPort, and that every Service selecting
    the pods targets it (named targetPorts are resolved through the container's ports). BIND must not be a
    loopback address, or nothing outside the pod can connect.""",
)
def check_ports(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        shared: dict[int, tuple[Manifest, str, set[str]]] = {}
        for workload in env.mastodon_workloads():
            for container in workload.containers:
                var = container.env.get("PORT")
                if var is not None and var.source == "configmap" and var.defined_in is not None:
                    entry = shared.setdefault(id(var.defined_in), (var.defined_in, var.pointer, set()))
                    entry[2].add(workload.name)
        for configmap, pointer, users in shared.values():
            if len(users) > 1:
                yield Hit(f"PORT is set in a ConfigMap shared by {', '.join(sorted(users))}", configmap, pointer)
        for workload, default in [(w, 3000) for w in env.role("web")] + [(w, 4000) for w in env.role("streaming")]:
            yield from _check_workload_port(env, workload, default)


def _check_workload_port(env: Environment, workload: Workload, default: int) -> Iterator[Hit]:
    main = workload.main
    if main is None:
        return
    bind = main.env.get("BIND")
    if bind is not None and bind.value in ("127.0.0.1", "localhost", "::1"):
        yield Hit(
            f"{workload.name} binds to {bind.value}; nothing outside the pod can connect",
            workload.manifest,
            bind.pointer,
        )
    var = main.env.get("PORT")
    raw = var.value if var is not None else None
    if raw is not None and not raw.isdigit():
        yield Hit(f"{workload.name}: PORT {raw!r} is not a number", workload.manifest, var.pointer if var else "")
        return
    port = int(raw) if raw is not None else default
    ports = {p.get("name"): p.get("containerPort") for p in main.body.get("ports") or [] if isinstance(p, dict)}
    if port not in ports.values():
        yield Hit(
            f"{workload.name} listens on {port}, but its container ports are "
            f"{', '.join(sorted(map(str, ports.values()))) or 'none'}",
            workload.manifest,
            f"{main.pointer}/ports",
        )
    for service, index, target in services_for(env, workload):
        resolved = ports.get(target) if isinstance(target, str) and not target.isdigit() else int(target)
        if resolved != port:
            yield Hit(
                f"Service {service.identity.name} targets {target!r} "
                f"({'unresolved' if resolved is None else resolved}), but {workload.name} listens on {port}",
                service,
                f"/spec/ports/{index}/targetPort",
            )


FLAGS = ("AUTHORIZED_FETCH", "LIMITED_FEDERATION_MODE")
COORDINATES = {
    "DB_HOST": None,
    "DB_PORT": "5432",
    "DB_NAME": None,
    "DB_USER": None,
    "REDIS_HOST": None,
    "REDIS_PORT": "6379",
}


def _setting(container: Container, name: str, default: str | None) -> tuple[str | None, EnvVar | None]:
    """(comparable value, defining var); value None when it cannot be known."""
    var = container.env.get(name)
    if var is None:
        return (default or "(unset)", None) if not container.env.open_sources else (None, None)
    if var.value is None:
        return (f"{var.source}:{var.source_name}/{var.key}" if var.source == "secret" else None), var
    return (var.value.strip().lower() if name in FLAGS else var.value), var


@rule(
    "CFG-2",
    Severity.ERROR,
    AREA,
    "Federation flags and database/Redis coordinates agree across web, Sidekiq and streaming",
    """Streaming reads AUTHORIZED_FETCH and LIMITED_FEDERATION_MODE to decide whether every request needs
    authentication; if it disagrees with web, timelines leak or break. Web, Sidekiq and streaming must also talk
    to the same Postgres and Redis (DB_HOST/PORT/NAME/USER, REDIS_HOST/PORT): a worker on another database
    processes jobs against the wrong data, and streaming on another Redis never sees the events web publishes.
    The migration Jobs' direct database endpoint is the intended exception and is not compared. Values from
    Secrets are compared by the Secret key they come from.""",
)
def check_agreement(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        web = next((w for w in env.role("web") if w.main is not None), None)
        if web is None or web.main is None:
            continue
        peers = [w for w in env.role("streaming", "sidekiq") if w.main is not None]
        checks: list[tuple[str, str | None, list[Workload]]] = [
            (name, "false", env.role("streaming")) for name in FLAGS
        ]
        checks += [(name, default, peers) for name, default in COORDINATES.items()]
        for name, default, others in checks:
            expected, _ = _setting(web.main, name, default)
            if expected is None:
                continue
            for workload in others:
                if workload.main is None:
                    continue
                value, var = _setting(workload.main, name, default)
                if value is not None and value != expected:
                    yield Hit(
                        f"{workload.name} has {name}={value}, web has {expected}",
                        var.defined_in if var is not None and var.defined_in else workload.manifest,
                        var.pointer if var is not None else workload.main.pointer,
                    )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PRIVATE: list[Network] = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
]
LOOPBACK: list[Network] = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128")]


def trusted_networks(value: str) -> tuple[list[Network], list[str]]:
    """TRUSTED_PROXY_IP as Mastodon splits it (commas or spaces): the networks, and the entries that are none."""
    networks: list[Network] = []
    bad: list[str] = []
    for entry in re.split(r"[\s,]+", value.strip()):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            bad.append(entry)
    return networks, bad


def effective_trusted_proxies(var: EnvVar | None) -> list[Network]:
    """The proxies Rails trusts: TRUSTED_PROXY_IP when set, otherwise Mastodon's default (loopback, private)."""
    if var is None or var.value is None:
        return LOOPBACK + PRIVATE
    return trusted_networks(var.value)[0]


def covers(networks: list[Network], wanted: Network) -> bool:
    return any(within(wanted, have) for have in networks)


@rule(
    "CFG-3",
    Severity.ERROR,
    AREA,
    "TRUSTED_PROXY_IP, when set, covers the cluster's pod and ingress networks",
    """TRUSTED_PROXY_IP replaces Mastodon's default list (loopback, RFC 1918, fc00::/7) instead of adding to
    it. If it no longer covers the ingress controller's pod network, Rails takes the ingress pod for the client:
    every request appears to come from one IP, so rate limits lock everyone out and IP blocks hit all users.
    Declare the networks in gitops.yaml (`environments.<env>.network.clusterCIDRs`); without a declaration
    the rule requires at least one private range in the list.""",
)
def check_trusted_proxies(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        declared = (ctx.env_config(env.name).get("network") or {}).get("clusterCIDRs") or []
        required = [ipaddress.ip_network(str(c), strict=False) for c in declared]
        for workload in env.role("web", "streaming"):
            main = workload.main
            var = main.env.get("TRUSTED_PROXY_IP") if main is not None else None
            if var is None or var.value is None:
                continue
            where = var.defined_in or workload.manifest
            networks, bad = trusted_networks(var.value)
            for entry in bad:
                yield Hit(f"TRUSTED_PROXY_IP entry {entry!r} is not an IP address or network", where, var.pointer)
            wanted = required or PRIVATE
            covered = [n for n in wanted if covers(networks, n)]
            if required and len(covered) < len(required):
                missing = ", ".join(str(n) for n in required if n not in covered)
                yield Hit(f"TRUSTED_PROXY_IP of {workload.name} does not cover {missing}", where, var.pointer)
            elif not required and not any(
                any(within(have, p) or within(p, have) for p in PRIVATE) for have in networks
            ):
                yield Hit(
                    f"TRUSTED_PROXY_IP of {workload.name} replaces the defaults and trusts no private network: the "
                    "ingress controller's pods are no longer trusted",
                    where,
                    var.pointer,
                )


def within(inner: Network, outer: Network) -> bool:
    return inner.version == outer.version and inner.subnet_of(outer)  # type: ignore[arg-type]


RULES = (check_app_secrets, check_domains, check_ports, check_agreement, check_trusted_proxies)
