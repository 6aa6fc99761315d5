"""IMG-*: one Mastodon release per environment, real release tags, the documented process commands."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from gitops.check.findings import Severity
from gitops.policy.context import (
    RAILS_REPOSITORY,
    STREAMING_REPOSITORY,
    Environment,
    PolicyContext,
    Workload,
    parse_release,
)
from gitops.policy.mastodon import sidekiq_concurrency, sidekiq_queues
from gitops.policy.rule import Hit, rule

AREA = "Images and versions"


def _mastodon_containers(env: Environment) -> Iterator[tuple[Workload, int]]:
    for workload in env.workloads:
        for index, container in enumerate(workload.containers):
            if container.image.is_mastodon:
                yield workload, index


def environment_version(env: Environment) -> str | None:
    """The environment's Mastodon version: web's, else the most common one."""
    for workload in env.role("web"):
        main = workload.main
        if main is not None and main.image.is_mastodon:
            return main.image.version
    versions = Counter(w.containers[i].image.version for w, i in _mastodon_containers(env))
    return versions.most_common(1)[0][0] if versions else None


@rule(
    "IMG-1",
    Severity.ERROR,
    AREA,
    "Web, streaming, every Sidekiq worker and every Job run one Mastodon version",
    """Mastodon's web, Sidekiq and streaming processes share one database schema and one job format; a
    Sidekiq on another release than web runs jobs the other side enqueued with different arguments, and
    migrations from one release run against code of another. Since 4.3 streaming ships as its own image
    (ghcr.io/mastodon/mastodon-streaming) while Rails workloads use ghcr.io/mastodon/mastodon, so the rule
    compares tags (or digests) after Kustomize's `images:` transforms and checks each process uses its own
    repository.""",
)
def check_one_version(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        expected = environment_version(env)
        for workload, index in _mastodon_containers(env):
            container = workload.containers[index]
            image = container.image
            where = f"{container.pointer}/image"
            if image.version != expected:
                yield Hit(
                    f"{workload.kind} {workload.name} runs {image.reference}, but the environment's Mastodon "
                    f"version is {expected}",
                    workload.manifest,
                    where,
                )
            if container is not workload.main:
                continue
            wanted = STREAMING_REPOSITORY if workload.role == "streaming" else RAILS_REPOSITORY
            if image.name != wanted:
                yield Hit(
                    f"{workload.role} must run the {wanted} image, not {image.repository}", workload.manifest, where
                )


@rule(
    "IMG-2",
    Severity.ERROR,
    AREA,
    "Mastodon images use release tags, and upgrades never skip a minor series",
    """`latest`, `edge` or a missing tag make the running version depend on when a node pulled the image,
    so two pods of one Deployment can run different releases and a restart can silently upgrade past
    migrations nobody ran. Mastodon's upgrade notes require deploying at least one release from every minor
    series, because post-deployment migrations of a skipped series never run. The rule accepts vX.Y.Z tags
    and digests; comparing against the base ref (--new-only/--base) it fails a tag change that skips a minor
    series, and across environments it warns when one is more than a minor series ahead of another (promoting
    it would skip one).""",
)
def check_release_tags(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload, index in _mastodon_containers(env):
            container = workload.containers[index]
            image = container.image
            if image.digest is None and parse_release(image.tag) is None:
                shown = f"tag {image.tag!r}" if image.tag else "no tag"
                yield Hit(
                    f"{image.reference} has {shown}; pin a release tag (vX.Y.Z) or a digest",
                    workload.manifest,
                    f"{container.pointer}/image",
                )
    releases = {name: parse_release(environment_version(env)) for name, env in ctx.environments.items()}
    for name, env in ctx.environments.items():
        head = releases[name]
        anchor = _anchor(env)
        if head is None or anchor is None:
            continue
        if ctx.previous is not None and name in ctx.previous:
            base = parse_release(environment_version(ctx.previous[name]))
            if base is not None and _skips_minor(base, head):
                yield Hit(
                    f"upgrade from {_show(base)} to {_show(head)} skips a minor series; deploy the latest "
                    f"release of each series in between first",
                    anchor.manifest,
                    f"{anchor.containers[0].pointer}/image",
                )
        for other, release in releases.items():
            if other != name and release is not None and _skips_minor(release, head):
                yield Hit(
                    f"{name} runs {_show(head)} while {other} runs {_show(release)}: promoting {name}'s version "
                    f"to {other} would skip a minor series",
                    anchor.manifest,
                    f"{anchor.containers[0].pointer}/image",
                    severity=Severity.WARNING,
                )


def _anchor(env: Environment) -> Workload | None:
    return next(iter(env.role("web")), None) or next(iter(env.mastodon_workloads()), None)


def _skips_minor(old: tuple[int, int, int], new: tuple[int, int, int]) -> bool:
    if new[0] == old[0]:
        return new[1] > old[1] + 1
    return new[0] > old[0] + 1 or (new[0] == old[0] + 1 and new[1] > 0)


def _show(release: tuple[int, int, int]) -> str:
    return "v" + ".".join(map(str, release))


@rule(
    "IMG-3",
    Severity.ERROR,
    AREA,
    "Each Mastodon process runs its documented command",
    """The policy rules recognise a process by what it runs: web is `bundle exec puma -C config/puma.rb`
    (config/puma.rb reads WEB_CONCURRENCY, MAX_THREADS and PORT), Sidekiq is `bundle exec sidekiq -c N` with
    at least one `-q queue[,weight]` (without -q Sidekiq only processes `default`, and the scheduler, mailers
    and federation queues never drain), streaming is `node ./streaming` or the image's own CMD. A Mastodon
    container running anything else cannot be checked for scheduler duplication or connection use.""",
)
def check_commands(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.mastodon_workloads():
            main = workload.main
            if main is None:
                continue
            tokens = main.tokens
            where = main.pointer
            shown = " ".join(tokens) or "(image default)"
            if workload.role == "web":
                if tokens[:3] != ["bundle", "exec", "puma"] or not _has_pair(tokens, "-C", "config/puma.rb"):
                    yield Hit(f"web runs {shown!r}, not 'bundle exec puma -C config/puma.rb'", workload.manifest, where)
            elif workload.role == "sidekiq":
                if tokens[:3] != ["bundle", "exec", "sidekiq"]:
                    yield Hit(f"sidekiq runs {shown!r}, not 'bundle exec sidekiq ...'", workload.manifest, where)
                elif sidekiq_concurrency(tokens) is None or not sidekiq_queues(tokens):
                    yield Hit(
                        f"sidekiq runs {shown!r}: it needs '-c <concurrency>' and at least one '-q <queue>'",
                        workload.manifest,
                        where,
                    )
            elif workload.role == "streaming":
                if tokens and tokens not in (["node", "./streaming"], ["node", "./streaming/index.js"]):
                    yield Hit(f"streaming runs {shown!r}, not 'node ./streaming'", workload.manifest, where)
            elif workload.role == "mastodon":
                yield Hit(
                    f"{workload.kind} {workload.name} runs a Mastodon image with {shown!r}: neither web (puma), "
                    "sidekiq nor streaming",
                    workload.manifest,
                    where,
                )


def _has_pair(tokens: list[str], flag: str, value: str) -> bool:
    return any(tokens[i] == flag and tokens[i + 1] == value for i in range(len(tokens) - 1))


RULES = (check_one_version, check_release_tags, check_commands)
