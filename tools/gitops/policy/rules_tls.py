"""TLS-*: Redis over TLS needs the Ruby driver, DB_SSLMODE semantics differ between Ruby and Node, CA files
must be mounted, no verification bypasses, and Jobs carry web's TLS setup."""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from typing import Any

from gitops.check.findings import Severity
from gitops.policy.context import Container, Environment, PolicyContext, Workload
from gitops.policy.env import secret_values
from gitops.policy.rule import Hit, rule

AREA = "TLS"
REDIS_URLS = ("REDIS_URL", "SIDEKIQ_REDIS_URL", "CACHE_REDIS_URL")
LIBPQ_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
CA_PATH_VARS = ("NODE_EXTRA_CA_CERTS", "PGSSLROOTCERT", "SSL_CERT_FILE")
TLS_ENV = ("DB_SSLMODE", "PGSSLROOTCERT", "SSL_CERT_FILE", "REDIS_DRIVER")


def rails_workloads(env: Environment) -> list[Workload]:
    return [
        w
        for w in env.role("web", "sidekiq", "job", "mastodon")
        if w.main is not None and w.main.image.name == "mastodon"
    ]


def _redis_tls_evidence(env: Environment) -> str | None:
    """Why Redis is (or may be) TLS: a rediss:// URL, or a Redis URL whose value is in an encrypted Secret."""
    for workload in env.mastodon_workloads():
        for container in workload.containers:
            for name in REDIS_URLS:
                var = container.env.get(name)
                if var is None:
                    continue
                if var.value is not None and var.value.startswith("rediss://"):
                    return f"{name} is rediss:// in {workload.name}"
                if var.value is None and var.source == "secret":
                    return f"{name} of {workload.name} comes from Secret {var.source_name} (value unknown, may be rediss://)"
    return None


@rule(
    "TLS-1",
    Severity.ERROR,
    AREA,
    "Redis over TLS (rediss://) comes with REDIS_DRIVER=ruby on every Rails workload",
    """hiredis, Mastodon's default Redis driver, has no TLS: with a `rediss://` REDIS_URL (or its SIDEKIQ_ or
    CACHE_ variants) web, Sidekiq and Jobs fail to connect unless REDIS_DRIVER=ruby (Mastodon 4.3+). Managed
    Redis on DigitalOcean is TLS-only. REDIS_URL carries the password, so its value usually sits in an
    encrypted Secret the check cannot read: whenever a Redis URL comes from a Secret whose value is unknown, the
    rule assumes it may be rediss:// and requires REDIS_DRIVER=ruby to be visibly set (it is not secret and
    belongs in the ConfigMap).""",
)
def check_redis_driver(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        evidence = _redis_tls_evidence(env)
        if evidence is None:
            continue
        for workload in rails_workloads(env):
            main = workload.main
            assert main is not None
            var = main.env.get("REDIS_DRIVER")
            if var is not None and var.value == "ruby":
                continue
            shown = "unset" if var is None else (var.value or "unknown")
            yield Hit(
                f"{workload.name} has REDIS_DRIVER={shown}, but {evidence}; set REDIS_DRIVER=ruby",
                var.defined_in if var is not None and var.defined_in else workload.manifest,
                var.pointer if var is not None else main.pointer,
            )


def _db_requires_tls(env: Environment) -> bool:
    for workload in rails_workloads(env):
        main = workload.main
        assert main is not None
        if main.env.value("DB_SSLMODE") in ("require", "verify-ca", "verify-full"):
            return True
        host = main.env.value("DB_HOST") or ""
        if host.endswith(".ondigitalocean.com"):
            return True
    return False


@rule(
    "TLS-2",
    Severity.ERROR,
    AREA,
    "DB_SSLMODE is valid for each runtime and explicit on streaming",
    """Ruby hands DB_SSLMODE to libpq, which accepts only disable, allow, prefer, require, verify-ca and
    verify-full: `no-verify` (a node-postgres value) stops web and Sidekiq from connecting at all (#26034).
    Streaming (Node) has no default: without DB_SSLMODE it connects without TLS and a TLS-only database such as
    DigitalOcean's refuses it (#31774). So `no-verify` is allowed on streaming only, and when the database
    requires TLS (a Rails workload uses require/verify-*, or the host is a DigitalOcean managed database)
    streaming must set DB_SSLMODE itself.""",
)
def check_sslmode(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in rails_workloads(env):
            main = workload.main
            assert main is not None
            var = main.env.get("DB_SSLMODE")
            if var is not None and var.value is not None and var.value not in LIBPQ_MODES:
                yield Hit(
                    f"{workload.name} has DB_SSLMODE={var.value}, which libpq rejects "
                    f"(valid: {', '.join(LIBPQ_MODES)})",
                    var.defined_in or workload.manifest,
                    var.pointer,
                )
        if not _db_requires_tls(env):
            continue
        for workload in env.role("streaming"):
            main = workload.main
            if main is None or main.env.has("DATABASE_URL"):
                continue
            var = main.env.get("DB_SSLMODE")
            if var is None or var.value in ("", "disable"):
                yield Hit(
                    f"the database requires TLS but streaming has DB_SSLMODE="
                    f"{'unset' if var is None else repr(var.value)}: "
                    "Node then connects without TLS",
                    workload.manifest,
                    var.pointer if var is not None else main.pointer,
                )


def _volume(workload: Workload, name: str) -> dict[str, Any] | None:
    return next((v for v in workload.pod.get("volumes") or [] if v.get("name") == name), None)


def volume_source(volume: dict[str, Any]) -> tuple[str, str] | None:
    if "secret" in volume:
        return ("Secret", str((volume["secret"] or {}).get("secretName", "")))
    if "configMap" in volume:
        return ("ConfigMap", str((volume["configMap"] or {}).get("name", "")))
    if "projected" in volume:
        return ("projected", volume["name"])
    return None


def built_at_start(workload: Workload, container: Container, path: str) -> str | None:
    """The init container that writes `path` for `container`: both mount the same emptyDir over it.

    A bundle built at pod start (system roots + private CA) lives in an emptyDir, not in a Secret; the init
    container is what provides it."""
    path = posixpath.normpath(path)
    for mount in container.body.get("volumeMounts") or []:
        mount_path = posixpath.normpath(str(mount.get("mountPath", "")))
        volume = _volume(workload, str(mount.get("name", "")))
        if volume is None or "emptyDir" not in volume or not path.startswith(mount_path.rstrip("/") + "/"):
            continue
        for init in (c for c in workload.containers if c.init):
            for init_mount in init.body.get("volumeMounts") or []:
                if init_mount.get("name") == volume["name"] and not init_mount.get("readOnly"):
                    return init.name
    return None


def mounted_file(workload: Workload, container: Container, path: str) -> tuple[dict[str, Any], str] | None:
    """The (volume, key or file inside it) that provides `path` in `container`, when a Secret/ConfigMap does."""
    path = posixpath.normpath(path)
    for mount in container.body.get("volumeMounts") or []:
        mount_path = posixpath.normpath(str(mount.get("mountPath", "")))
        volume = _volume(workload, str(mount.get("name", "")))
        if volume is None or volume_source(volume) is None:
            continue
        sub_path = mount.get("subPath")
        if sub_path:
            if path == mount_path:
                return volume, str(sub_path)
            continue
        if not path.startswith(mount_path.rstrip("/") + "/"):
            continue
        inner = path[len(mount_path.rstrip("/")) + 1 :]
        source = volume.get("secret") or volume.get("configMap") or {}
        items = source.get("items") if isinstance(source, dict) else None
        if items:
            for item in items:
                if posixpath.normpath(str(item.get("path", ""))) == inner:
                    return volume, str(item.get("key", ""))
            continue
        return volume, inner
    return None


@rule(
    "TLS-3",
    Severity.ERROR,
    AREA,
    "CA file settings point at a file mounted from a Secret or ConfigMap",
    """NODE_EXTRA_CA_CERTS (streaming), PGSSLROOTCERT (libpq) and SSL_CERT_FILE (Ruby's OpenSSL) name a file;
    if no volumeMount of a Secret or ConfigMap provides it (or, for a bundle built at pod start, an emptyDir
    that an init container of the pod writes), Node silently starts without the extra CA (and
    rejects the managed database's certificate with SELF_SIGNED_CERT_IN_CHAIN) and libpq falls back to
    encrypt-only. The path must fall under a mount of the same container, and when the volume lists `items`,
    be one of them. SSL_CERT_FILE replaces OpenSSL's whole trust store: a Secret key holding a single
    certificate (rather than a bundle with the public roots) breaks federation and S3; that case is a
    warning, because it is a heuristic over readable Secret values.""",
)
def check_ca_files(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.mastodon_workloads():
            for container in workload.containers:
                for name in CA_PATH_VARS:
                    var = container.env.get(name)
                    if var is None or not var.value:
                        continue
                    found = mounted_file(workload, container, var.value)
                    if found is None and built_at_start(workload, container, var.value):
                        continue
                    if found is None:
                        yield Hit(
                            f"{name}={var.value} in {container.name}, but no Secret or ConfigMap volume is "
                            "mounted there",
                            workload.manifest,
                            var.pointer if var.defined_in is workload.manifest else f"{container.pointer}/volumeMounts",
                        )
                    elif name == "SSL_CERT_FILE":
                        yield from _single_certificate(env, workload, container, found, var.pointer)


def _single_certificate(
    env: Environment, workload: Workload, container: Container, found: tuple[dict[str, Any], str], pointer: str
) -> Iterator[Hit]:
    volume, key = found
    source = volume_source(volume)
    if source is None or source[0] != "Secret":
        return
    secret = next((s for s in env.of_kind("Secret") if s.identity.name == source[1]), None)
    value = secret_values(secret).get(key) if secret is not None else None
    if value is not None and value.count("BEGIN CERTIFICATE") == 1:
        yield Hit(
            f"SSL_CERT_FILE in {container.name} is a single certificate from Secret {source[1]}; it replaces the "
            "system trust store, so mount a bundle (system roots + private CA)",
            workload.manifest,
            pointer,
            severity=Severity.WARNING,
        )


@rule(
    "TLS-4",
    Severity.ERROR,
    AREA,
    "No TLS verification bypasses or dead TLS settings",
    """NODE_TLS_REJECT_UNAUTHORIZED=0 turns off certificate verification for every connection streaming makes,
    not only the database. PGSSLMODE=disable forces libpq to plain text, which a TLS-only managed database
    refuses and any other exposes. DB_SSLROOTCERT is read by nothing in Mastodon (database.yml does not pass
    it): a repo that sets it believes it verifies the database and does not. Use PGSSLROOTCERT or
    NODE_EXTRA_CA_CERTS.""",
)
def check_bypasses(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.workloads:
            for container in workload.containers:
                checks = (
                    ("NODE_TLS_REJECT_UNAUTHORIZED", lambda v: v == "0", "disables TLS verification process-wide"),
                    ("PGSSLMODE", lambda v: v == "disable", "turns TLS to the database off"),
                    ("DB_SSLROOTCERT", lambda v: True, "is not read by Mastodon; use PGSSLROOTCERT"),
                )
                for name, bad, why in checks:
                    var = container.env.get(name)
                    if var is not None and var.value is not None and bad(var.value):
                        yield Hit(f"{name}={var.value} {why}", var.defined_in or workload.manifest, var.pointer)


@rule(
    "TLS-5",
    Severity.ERROR,
    AREA,
    "Migration and tootctl Jobs carry web's TLS settings and CA mounts",
    """Jobs run the same Rails code against the same database and Redis as web, so they need the same
    DB_SSLMODE, PGSSLROOTCERT, SSL_CERT_FILE and REDIS_DRIVER, and the CA files mounted from the same Secret or
    ConfigMap. The old chart's migration Jobs did not receive the ConfigMap at all, so a TLS-only database
    rejected exactly the pre-deploy migration that gates every upgrade.""",
)
def check_job_tls(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        web = next((w for w in env.role("web") if w.main is not None), None)
        if web is None or web.main is None:
            continue
        for job in [w for w in rails_workloads(env) if w.role == "job"]:
            main = job.main
            assert main is not None
            for name in TLS_ENV:
                expected = web.main.env.get(name)
                if expected is None or expected.value is None:
                    continue
                actual = main.env.get(name)
                if actual is None or (actual.value is not None and actual.value != expected.value):
                    shown = "unset" if actual is None else actual.value
                    yield Hit(
                        f"Job {job.name} has {name}={shown}, web has {expected.value}",
                        job.manifest,
                        actual.pointer if actual is not None and actual.defined_in is job.manifest else main.pointer,
                    )
                    continue
                if name in CA_PATH_VARS:
                    web_file = mounted_file(web, web.main, expected.value)
                    job_file = mounted_file(job, main, expected.value)
                    if web_file is None or job_file is None:
                        continue  # TLS-3 reports missing mounts
                    if (volume_source(web_file[0]), web_file[1]) != (volume_source(job_file[0]), job_file[1]):
                        yield Hit(
                            f"Job {job.name} mounts {expected.value} from {volume_source(job_file[0])}, web from "
                            f"{volume_source(web_file[0])}",
                            job.manifest,
                            f"{main.pointer}/volumeMounts",
                        )


def _private_ca(env: Environment) -> str | None:
    """Evidence that the databases' certificates chain to a private CA: a CA file some workload mounts for them."""
    for workload in env.mastodon_workloads():
        for container in workload.containers:
            for name in ("PGSSLROOTCERT", "NODE_EXTRA_CA_CERTS"):
                value = container.env.value(name)
                if value and mounted_file(workload, container, value) is not None:
                    return f"{workload.name} trusts a private CA ({name}={value})"
    return None


@rule(
    "TLS-6",
    Severity.ERROR,
    AREA,
    "Rails trusts the private CA for rediss:// through an SSL_CERT_FILE bundle",
    """For a Redis URL Mastodon passes no CA option: the Ruby driver verifies `rediss://` against OpenSSL's
    default trust only. PGSSLROOTCERT is libpq's and NODE_EXTRA_CA_CERTS is Node's; neither reaches Ruby's
    OpenSSL. So when Redis is (or may be) reached over TLS and the environment trusts a private CA for its
    managed databases, every Rails process (web, Sidekiq, Jobs and CronJobs) needs SSL_CERT_FILE naming a
    bundle of the system roots plus that CA, or Sidekiq never connects and the apps never get Ready. The
    bundle must keep the system roots (federation, S3 and SMTP use the same store); TLS-3 checks the file is
    provided, e.g. built by an init container into an emptyDir.""",
)
def check_redis_trust(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        redis = _redis_tls_evidence(env)
        private = _private_ca(env)
        if redis is None or private is None:
            continue
        for workload in rails_workloads(env):
            main = workload.main
            assert main is not None
            if main.env.value("SSL_CERT_FILE"):
                continue
            yield Hit(
                f"{workload.name} has no SSL_CERT_FILE, but {redis} and {private}: Ruby verifies rediss:// "
                "against the system roots only; set SSL_CERT_FILE to a bundle of the system roots plus the CA",
                workload.manifest,
                main.pointer,
            )


@rule(
    "TLS-7",
    Severity.ERROR,
    AREA,
    "DB_SSLMODE is verify-full wherever a root certificate is configured",
    """With a root certificate file, libpq's `require` and `verify-ca` check the chain only, not that the
    certificate was issued for DB_HOST: any certificate the CA ever signed (for another customer of the same
    managed database provider) is accepted. `verify-full` adds the host name check. Node (streaming) already
    checks the host for any mode but disable/no-verify; the rule asks for verify-full there too so that one
    value means the same thing in every runtime.""",
)
def check_verify_full(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.mastodon_workloads():
            main = workload.main
            if main is None:
                continue
            root = next((n for n in ("PGSSLROOTCERT", "NODE_EXTRA_CA_CERTS") if main.env.value(n)), None)
            var = main.env.get("DB_SSLMODE")
            if root is None or var is None or var.value not in ("require", "verify-ca"):
                continue
            yield Hit(
                f"{workload.name} has DB_SSLMODE={var.value} with {root} set: the chain is checked but not the "
                "host name; use verify-full",
                var.defined_in or workload.manifest,
                var.pointer,
            )


RULES = (
    check_redis_driver,
    check_sslmode,
    check_ca_files,
    check_bypasses,
    check_job_tls,
    check_redis_trust,
    check_verify_full,
)
