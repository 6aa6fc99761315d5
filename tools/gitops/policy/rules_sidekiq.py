"""SQ-*: exactly one scheduler, never overlapping, all queues served, mail credentials where mail is sent."""

from __future__ import annotations

from collections.abc import Iterator

from gitops.check.findings import Severity
from gitops.k8s import scaled
from gitops.policy.context import PolicyContext, Workload
from gitops.policy.mastodon import is_scheduler, rails_version, sidekiq_queues
from gitops.policy.rule import Hit, rule

AREA = "Sidekiq topology"
REQUIRED_QUEUES = ("default", "push", "ingress", "mailers", "pull", "scheduler")
FASP_SINCE = (4, 4, 0)


def _sidekiq_queues(workload: Workload) -> list[str]:
    main = workload.main
    return sidekiq_queues(main.tokens) if main is not None else []


@rule(
    "SQ-1",
    Severity.ERROR,
    AREA,
    "Exactly one Sidekiq process serves the scheduler queue",
    """The scheduler queue runs Mastodon's periodic jobs (cleanup, scheduled statuses, email digests). Two
    processes on it run every periodic job twice (mastodon#14764); none means they never run. The official
    chart only guards the exact string `scheduler`, so a weighted `-q scheduler,1` slips past it; this rule
    parses every `-q`/`--queue` argument, drops weights, and sums the replicas (an HPA's maxReplicas when one
    targets the Deployment) of every worker that lists it.""",
)
def check_single_scheduler(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        workers = env.role("sidekiq")
        if not workers:
            continue
        schedulers = [w for w in workers if is_scheduler(w)]
        total = sum(w.max_replicas for w in schedulers)
        if total == 1:
            continue
        if not schedulers:
            yield Hit("no Sidekiq worker serves the scheduler queue: periodic jobs never run", workers[0].manifest)
            continue
        names = ", ".join(f"{w.name}×{w.max_replicas}" for w in schedulers)
        for workload in schedulers:
            yield Hit(
                f"{total} Sidekiq processes serve the scheduler queue ({names}); exactly 1 may",
                workload.manifest,
                "/spec/replicas",
            )


@rule(
    "SQ-2",
    Severity.ERROR,
    AREA,
    "The scheduler worker never overlaps with its replacement",
    """A RollingUpdate starts the new scheduler pod before the old one stops, so for the length of a rollout
    two schedulers run (the duplicate-cron problem of SQ-1, at every deploy). The scheduler Deployment must use
    `strategy: Recreate` or RollingUpdate with maxSurge 0, and no HorizontalPodAutoscaler may target it (an HPA
    would scale it past one).""",
)
def check_scheduler_rollout(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.role("sidekiq"):
            if not is_scheduler(workload):
                continue
            if workload.hpa is not None:
                yield Hit(
                    f"HorizontalPodAutoscaler {workload.hpa.identity.name} scales the scheduler worker {workload.name}",
                    workload.hpa,
                    "/spec/scaleTargetRef",
                )
            if workload.kind != "Deployment":
                continue
            strategy = (workload.manifest.body.get("spec") or {}).get("strategy") or {}
            if strategy.get("type") == "Recreate":
                continue
            surge = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
            if scaled(surge, max(workload.max_replicas, 1), round_up=True) > 0:
                yield Hit(
                    f"scheduler worker {workload.name} rolls with maxSurge {surge}: old and new scheduler overlap; "
                    "use strategy Recreate",
                    workload.manifest,
                    "/spec/strategy",
                )


@rule(
    "SQ-3",
    Severity.ERROR,
    AREA,
    "The Sidekiq workers together serve every Mastodon queue",
    """Mastodon enqueues into default, push, ingress, mailers, pull and scheduler (and fasp since 4.4). A queue
    no worker listens on fills Redis forever: unserved `push` stops federation delivery, `ingress` stops
    incoming federation, `mailers` stops sign-up confirmations. The rule takes the union of every worker's
    `-q` arguments in the environment.""",
)
def check_queue_coverage(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        workers = env.role("sidekiq")
        if not workers:
            continue
        served = {q for w in workers for q in _sidekiq_queues(w)}
        required = list(REQUIRED_QUEUES)
        version = rails_version(workers[0])
        if version is None or version >= FASP_SINCE:
            required.append("fasp")
        missing = [q for q in required if q not in served]
        if missing:
            yield Hit(
                f"no Sidekiq worker serves {', '.join(missing)} (served: {', '.join(sorted(served)) or 'none'})",
                workers[0].manifest,
            )


@rule(
    "SQ-4",
    Severity.ERROR,
    AREA,
    "Every worker serving `mailers` has SMTP credentials",
    """Mail leaves Mastodon from the Sidekiq `mailers` queue; a worker without SMTP_LOGIN and SMTP_PASSWORD
    fails every delivery and retries it for days. The rule accepts credentials it can see (env entries, a
    ConfigMap or Secret key) and gives the benefit of the doubt to a Secret that is referenced through envFrom
    but not rendered (its keys are unknown). SMTP_AUTH_METHOD=none needs no credentials.""",
)
def check_smtp_credentials(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.role("sidekiq"):
            main = workload.main
            if main is None or "mailers" not in _sidekiq_queues(workload):
                continue
            if main.env.value("SMTP_AUTH_METHOD") == "none":
                continue
            missing = [k for k in ("SMTP_LOGIN", "SMTP_PASSWORD") if not main.env.may_have(k)]
            if missing:
                yield Hit(
                    f"{workload.name} serves mailers but has no {' or '.join(missing)}",
                    workload.manifest,
                    main.pointer,
                )


RULES = (check_single_scheduler, check_scheduler_rollout, check_queue_coverage, check_smtp_credentials)
