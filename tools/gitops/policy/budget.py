"""DB-1: the Postgres connection budget of an environment at peak autoscale, and its explanation table.

Mastodon's rule (scaling.md): connections = the threads of Puma, Sidekiq and streaming combined.
  web        pods × WEB_CONCURRENCY × (DB_POOL | MAX_THREADS | 5)
  sidekiq    pods × (DB_POOL | -c | 5)
  streaming  pods × (DB_POOL | 10)
  Jobs       parallelism × (DB_POOL | 5)
Pods are the HPA's maxReplicas when one targets the workload, plus the rolling update's maxSurge (none for
Recreate); a workload with REPLICA_DB_* also holds a pool to the replica (×2).

Connections through a pooler (DO's PgBouncer on 25061, a pgbouncer/pgcat host) are compared with the
declared `poolSize`; the server sees the pool's backends plus every direct connection, compared with
`maxConnections` minus `reservedConnections`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gitops.check.findings import Severity
from gitops.policy.context import Environment, PolicyContext, Workload
from gitops.policy.mastodon import db_endpoint, pool_per_process, processes_per_pod, uses_replica
from gitops.policy.rule import Hit, rule

CONFIG_HINT = "gitops.yaml environments.{env}.postgres"


@dataclass(frozen=True)
class BudgetLine:
    workload: Workload
    pods: int
    pods_source: str
    surge: int
    processes: int
    processes_source: str
    pool: int
    pool_source: str
    replica_factor: int
    pooled: bool

    @property
    def connections(self) -> int:
        return (self.pods + self.surge) * self.processes * self.pool * self.replica_factor


@dataclass(frozen=True)
class Budget:
    environment: str
    lines: list[BudgetLine]
    max_connections: int | None
    reserved: int
    pool_size: int | None

    @property
    def pooled(self) -> int:
        return sum(line.connections for line in self.lines if line.pooled)

    @property
    def direct(self) -> int:
        return sum(line.connections for line in self.lines if not line.pooled)

    @property
    def server(self) -> int:
        """Backend connections the server must accept: the pool's backends (at most its size) plus direct ones."""
        backends = min(self.pooled, self.pool_size) if self.pool_size is not None else self.pooled
        return backends + self.direct

    @property
    def server_limit(self) -> int | None:
        return None if self.max_connections is None else self.max_connections - self.reserved

    def problems(self) -> list[str]:
        out = []
        if self.pool_size is not None and self.pooled > self.pool_size:
            out.append(f"{self.pooled} connections through the pooler exceed poolSize {self.pool_size}")
        limit = self.server_limit
        if limit is not None and self.server > limit:
            what = "pool backends + direct connections" if self.pool_size is not None else "connections"
            out.append(f"{self.server} {what} exceed maxConnections {self.max_connections} - reserved {self.reserved}")
        return out


def compute_budget(ctx: PolicyContext, env: Environment) -> Budget:
    lines: list[BudgetLine] = []
    for workload in env.mastodon_workloads():
        main = workload.main
        if main is None:
            continue
        if workload.kind in ("Job", "CronJob"):
            spec = workload.manifest.body.get("spec") or {}
            if workload.kind == "CronJob":
                spec = (spec.get("jobTemplate") or {}).get("spec") or {}
            parallelism = spec.get("parallelism")
            pods, pods_source, surge = (parallelism if isinstance(parallelism, int) else 1), "parallelism", 0
        else:
            pods = workload.max_replicas
            pods_source = "HPA max" if workload.hpa is not None else "replicas"
            surge = workload.surge(pods)
        processes, processes_source = processes_per_pod(workload, main)
        pool, pool_source = pool_per_process(workload, main)
        lines.append(
            BudgetLine(
                workload,
                pods,
                pods_source,
                surge,
                processes,
                processes_source,
                pool,
                pool_source,
                2 if uses_replica(main) else 1,
                db_endpoint(main).is_pooler,
            )
        )
    postgres = ctx.env_config(env.name).get("postgres") or {}
    return Budget(
        env.name,
        lines,
        postgres.get("maxConnections"),
        int(postgres.get("reservedConnections") or 0),
        postgres.get("poolSize"),
    )


@rule(
    "DB-1",
    Severity.ERROR,
    "Connection budget and database",
    "Peak Postgres connections fit the environment's declared limit",
    """Every Puma thread, Sidekiq thread and streaming pool slot may hold a Postgres connection, and the
    numbers multiply: replicas × processes × pool. The total at peak autoscale (HPA maxReplicas), during a
    rollout (maxSurge extra pods) and with the migration Jobs running is what the server must accept; beyond
    it, new connections fail with "too many clients" and web returns 500s under exactly the load that made the
    HPA scale up. Each environment declares its limits in gitops.yaml (`environments.<env>.postgres`:
    maxConnections, reservedConnections, poolSize); `gitops check --explain DB-1` shows the arithmetic. An
    environment with Mastodon workloads and no declared limit is a warning.""",
)
def check_budget(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        budget = compute_budget(ctx, env)
        if not budget.lines:
            continue
        anchor = next((line.workload for line in budget.lines if line.workload.role == "web"), budget.lines[0].workload)
        if budget.max_connections is None and budget.pool_size is None:
            yield Hit(
                f"{budget.server} Postgres connections at peak, but no limit is declared in "
                f"{CONFIG_HINT.format(env=env.name)}",
                anchor.manifest,
                severity=Severity.WARNING,
            )
            continue
        for problem in budget.problems():
            yield Hit(f"{problem} (gitops check --explain DB-1)", anchor.manifest)


def explain_budget(budget: Budget) -> str:
    """The DB-1 arithmetic for one environment as a fixed-width table."""
    header = ("workload", "pods", "surge", "procs", "pool", "x", "conns", "endpoint")
    rows = [header]
    for line in budget.lines:
        rows.append(
            (
                f"{line.workload.kind}/{line.workload.name}",
                f"{line.pods} ({line.pods_source})",
                str(line.surge),
                f"{line.processes}" + (f" ({line.processes_source})" if line.processes_source else ""),
                f"{line.pool} ({line.pool_source})",
                str(line.replica_factor),
                str(line.connections),
                "pooler" if line.pooled else "direct",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    text = [f"DB-1 connection budget: {budget.environment}"]
    for index, row in enumerate(rows):
        text.append("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            text.append("  " + "  ".join("-" * w for w in widths))
    text.append(f"  through the pooler: {budget.pooled}" + _limit(budget.pool_size, "poolSize"))
    text.append(f"  direct:             {budget.direct}")
    server_limit = budget.server_limit
    limit_text = (
        f" (limit {budget.max_connections} maxConnections - {budget.reserved} reserved = {server_limit})"
        if server_limit is not None
        else " (no maxConnections declared)"
    )
    text.append(f"  server backends:    {budget.server}{limit_text}")
    problems = budget.problems()
    text.append("  result: " + ("; ".join(problems) if problems else "within budget"))
    return "\n".join(text)


def _limit(value: int | None, name: str) -> str:
    return f" (limit {value} {name})" if value is not None else ""


RULES = (check_budget,)
