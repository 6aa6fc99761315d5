"""Facts about Mastodon processes the rules share: Sidekiq arguments, database endpoints, connection pools."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitops.policy.context import Container, Workload

DO_POOLER_PORT = "25061"
POOLER_HOST = re.compile(r"(pgbouncer|pgcat|pooler|odyssey|supavisor)", re.IGNORECASE)
# Defaults from config/puma.rb, config/database.yml and streaming/database.js.
DEFAULT_WEB_CONCURRENCY = 2
DEFAULT_RAILS_POOL = 5
DEFAULT_SIDEKIQ_CONCURRENCY = 5
DEFAULT_STREAMING_POOL = 10
DEFAULT_POSTGRES_PORT = "5432"


def int_env(container: Container, name: str) -> int | None:
    value = container.env.value(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def sidekiq_concurrency(tokens: list[str]) -> int | None:
    for index, token in enumerate(tokens):
        value: str | None = None
        if token in ("-c", "--concurrency") and index + 1 < len(tokens):
            value = tokens[index + 1]
        elif token.startswith("--concurrency="):
            value = token.partition("=")[2]
        elif token.startswith("-c") and token[2:].isdigit():
            value = token[2:]
        if value is not None and value.isdigit():
            return int(value)
    return None


def sidekiq_queues(tokens: list[str]) -> list[str]:
    """Queue names of `-q name[,weight]` / `--queue` arguments (weights dropped)."""
    queues: list[str] = []
    for index, token in enumerate(tokens):
        value: str | None = None
        if token in ("-q", "--queue") and index + 1 < len(tokens):
            value = tokens[index + 1]
        elif token.startswith("--queue="):
            value = token.partition("=")[2]
        elif token.startswith("-q") and len(token) > 2:
            value = token[2:]
        if value:
            queues.append(value.split(",", 1)[0].strip())
    return queues


@dataclass(frozen=True)
class Endpoint:
    host: str | None
    port: str
    database: str | None

    @property
    def is_pooler(self) -> bool:
        return self.port == DO_POOLER_PORT or bool(self.host and POOLER_HOST.search(self.host.split(".", 1)[0]))

    def __str__(self) -> str:
        return f"{self.host or '?'}:{self.port}/{self.database or '?'}"


def db_endpoint(container: Container) -> Endpoint:
    env = container.env
    return Endpoint(env.value("DB_HOST"), env.value("DB_PORT") or DEFAULT_POSTGRES_PORT, env.value("DB_NAME"))


def uses_replica(container: Container) -> bool:
    return any(container.env.has(name) for name in ("REPLICA_DB_HOST", "REPLICA_DATABASE_URL"))


def pool_per_process(workload: Workload, container: Container) -> tuple[int, str]:
    """Connections one process keeps (its ActiveRecord or pg pool), and where the number comes from."""
    db_pool = int_env(container, "DB_POOL")
    if db_pool is not None:
        return db_pool, "DB_POOL"
    if workload.role == "streaming":
        return DEFAULT_STREAMING_POOL, "streaming default"
    if workload.role == "sidekiq":
        concurrency = sidekiq_concurrency(container.tokens)
        if concurrency is not None:
            return concurrency, "-c"
        return DEFAULT_SIDEKIQ_CONCURRENCY, "sidekiq default"
    max_threads = int_env(container, "MAX_THREADS")
    if workload.role == "web" and max_threads is not None:
        return max_threads, "MAX_THREADS"
    return DEFAULT_RAILS_POOL, "default"


def processes_per_pod(workload: Workload, container: Container) -> tuple[int, str]:
    if workload.role == "web":
        concurrency = int_env(container, "WEB_CONCURRENCY")
        return (concurrency, "WEB_CONCURRENCY") if concurrency is not None else (DEFAULT_WEB_CONCURRENCY, "default")
    return 1, ""


def is_scheduler(workload: Workload) -> bool:
    main = workload.main
    return workload.role == "sidekiq" and main is not None and "scheduler" in sidekiq_queues(main.tokens)


def rails_version(workload: Workload) -> tuple[int, int, int] | None:
    from gitops.policy.context import parse_release

    main = workload.main
    return parse_release(main.image.tag) if main is not None else None
