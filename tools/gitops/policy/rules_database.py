"""DB-2..4: pool sizing, pooler compatibility, removed settings. (DB-1 lives in budget.py.)"""

from __future__ import annotations

from collections.abc import Iterator

from gitops.check.findings import Severity
from gitops.manifests import Manifest
from gitops.policy.context import PolicyContext
from gitops.policy.mastodon import db_endpoint, int_env, sidekiq_concurrency
from gitops.policy.rule import Hit, rule

AREA = "Connection budget and database"


@rule(
    "DB-2",
    Severity.ERROR,
    AREA,
    "DB_POOL is per workload and at least its thread count",
    """Rails sizes its ActiveRecord pool from MAX_THREADS (web) or Sidekiq's `-c`, which is exactly what
    each process needs. A DB_POOL in a ConfigMap shared by several workloads overrides that with one number
    that is too large for some (wasting the connection budget, chart#160) and too small for others: a Sidekiq
    with `-c 25` and DB_POOL=5 has twenty threads waiting for a connection and fails jobs with
    ActiveRecord::ConnectionTimeoutError. Where DB_POOL is set it must be at least MAX_THREADS (web) or `-c`
    (Sidekiq).""",
)
def check_db_pool(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        users: dict[int, tuple[Manifest, str, set[str]]] = {}
        for workload in env.mastodon_workloads():
            for container in workload.containers:
                var = container.env.get("DB_POOL")
                if var is not None and var.source == "configmap" and var.defined_in is not None:
                    entry = users.setdefault(id(var.defined_in), (var.defined_in, var.pointer, set()))
                    entry[2].add(workload.name)
        for configmap, pointer, names in users.values():
            if len(names) > 1:
                yield Hit(f"DB_POOL is set in a ConfigMap shared by {', '.join(sorted(names))}", configmap, pointer)
        for workload in env.role("web", "sidekiq"):
            main = workload.main
            if main is None:
                continue
            pool = int_env(main, "DB_POOL")
            if pool is None:
                continue
            if workload.role == "web":
                needed, what = int_env(main, "MAX_THREADS") or 5, "MAX_THREADS"
            else:
                needed, what = sidekiq_concurrency(main.tokens) or 5, "-c"
            if pool < needed:
                var = main.env.get("DB_POOL")
                yield Hit(
                    f"{workload.name}: DB_POOL {pool} is below {what} {needed}; threads will wait for connections",
                    workload.manifest,
                    var.pointer if var is not None and var.defined_in is workload.manifest else main.pointer,
                )


@rule(
    "DB-3",
    Severity.ERROR,
    AREA,
    "Behind a pooler: no prepared statements, and migrations go direct",
    """A transaction-mode PgBouncer (DigitalOcean's pool on port 25061, or a pgbouncer/pgcat service) hands
    each transaction to any backend, so server-side prepared statements break ("prepared statement does not
    exist"): Rails workloads need PREPARED_STATEMENTS=false. Migrations take session-level advisory locks and
    cannot run through it ("You cannot use PgBouncer to perform db:migrate", scaling.md), so migration Jobs must
    use a direct endpoint. On DigitalOcean the pool and the direct endpoint share a host and differ in port
    (25061/25060) and database name (pool name vs database), so endpoints are compared as (host, port,
    database).""",
)
def check_pooler(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        pooled = set()
        for workload in env.role("web", "sidekiq", "streaming"):
            main = workload.main
            if main is None:
                continue
            endpoint = db_endpoint(main)
            if not endpoint.is_pooler:
                continue
            pooled.add(endpoint)
            if workload.role == "streaming":
                continue
            prepared = main.env.get("PREPARED_STATEMENTS")
            if prepared is None or (prepared.known and prepared.value != "false"):
                where = prepared.pointer if prepared is not None else main.pointer
                target = prepared.defined_in if prepared is not None and prepared.defined_in else workload.manifest
                shown = prepared.value if prepared is not None else "unset (true)"
                yield Hit(
                    f"{workload.name} connects through a pooler ({endpoint}) with PREPARED_STATEMENTS={shown}; "
                    "set it to false",
                    target,
                    where,
                )
        for workload in env.role("job"):
            main = workload.main
            if main is None or not workload.is_migration:
                continue
            endpoint = db_endpoint(main)
            if endpoint.is_pooler or endpoint in pooled:
                yield Hit(
                    f"migration Job {workload.name} connects to {endpoint}, a pooler endpoint; point DB_HOST, "
                    "DB_PORT and DB_NAME at the direct database",
                    workload.manifest,
                    main.pointer,
                )


@rule(
    "DB-4",
    Severity.WARNING,
    AREA,
    "No STREAMING_CLUSTER_NUM or REDIS_NAMESPACE",
    """STREAMING_CLUSTER_NUM was removed: the streaming server is a single process and scales with replicas,
    and the old setting multiplied its pool (STREAMING_CLUSTER_NUM × DB_POOL) in every budget that still
    counts it. REDIS_NAMESPACE support was dropped in 4.4: an instance that relied on it would read an empty
    keyspace after upgrading, so its presence means a migration was missed.""",
)
def check_removed_settings(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.mastodon_workloads():
            for container in workload.containers:
                for name in ("STREAMING_CLUSTER_NUM", "REDIS_NAMESPACE"):
                    var = container.env.get(name)
                    if var is not None:
                        yield Hit(
                            f"{name} is set; it is no longer supported and should be removed",
                            var.defined_in or workload.manifest,
                            var.pointer,
                        )


RULES = (check_db_pool, check_pooler, check_removed_settings)
