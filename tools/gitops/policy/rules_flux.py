"""GO-*: the Flux chain pre-deploy migration -> apps -> post-deploy migration, Job hygiene, rollout triggers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gitops.check.findings import Severity
from gitops.k8s import generated_base
from gitops.manifests import Manifest
from gitops.policy.context import Environment, FluxKustomization, PolicyContext, Workload
from gitops.policy.routing import backends, parent_gateways, services_for
from gitops.policy.rule import Hit, rule

AREA = "Flux and GitOps"
FORCE_ANNOTATION = "kustomize.toolkit.fluxcd.io/force"
MIN_MIGRATION_TIMEOUT = 10 * 60


def duration_seconds(value: str) -> float | None:
    """A Go duration as Flux accepts it ("30m", "1h30m", "90s")."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", value or "")
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    scale = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(float(n) * scale[u] for n, u in parts)


def _depends(ctx: PolicyContext, start: FluxKustomization, wanted: str) -> bool:
    """Does `start` depend on the Kustomization named `wanted`, directly or through others?"""
    seen: set[str] = set()
    stack = list(start.depends_on)
    while stack:
        name = stack.pop()
        if name == wanted:
            return True
        if name in seen:
            continue
        seen.add(name)
        found = ctx.flux_named(name, start.cluster)
        if found is not None:
            stack.extend(found.depends_on)
    return False


def _force_annotation(job: Manifest) -> bool:
    annotations = (job.body.get("metadata") or {}).get("annotations") or {}
    return annotations.get(FORCE_ANNOTATION) == "enabled"


def _migration_layer(ctx: PolicyContext, job: Workload, label: str) -> Iterator[Hit]:
    kustomization = ctx.flux_for_target(job.manifest.target)
    if kustomization is None:
        yield Hit(f"no Flux Kustomization applies {job.manifest.target} ({label} migration)", job.manifest)
        return
    spec = kustomization.spec
    if not _force_annotation(job.manifest):
        yield Hit(
            f"migration Job {job.name} needs the annotation {FORCE_ANNOTATION}: enabled: a Job's template is "
            "immutable, so without it a new image tag would not re-run the migration",
            job.manifest,
            "/metadata/annotations",
        )
    if spec.get("force") is True:
        yield Hit(
            f"Flux Kustomization {kustomization.name} sets force: true for every object it applies, on every "
            f"reconcile; put the {FORCE_ANNOTATION}: enabled annotation on the Jobs instead",
            kustomization.manifest,
            "/spec/force",
        )
    if spec.get("wait") is not True:
        yield Hit(
            f"Flux Kustomization {kustomization.name} needs wait: true, or the next layer starts before the "
            "migration finished",
            kustomization.manifest,
            "/spec/wait",
        )
    timeout = duration_seconds(str(spec.get("timeout") or ""))
    if timeout is None or timeout < MIN_MIGRATION_TIMEOUT:
        yield Hit(
            f"Flux Kustomization {kustomization.name} has timeout {spec.get('timeout') or 'unset'}; migrations "
            "need at least 10m",
            kustomization.manifest,
            "/spec/timeout",
        )


@rule(
    "GO-1",
    Severity.ERROR,
    AREA,
    "Migrations run in a pre-deploy -> apps -> post-deploy Flux chain",
    """Flux has no Helm hooks; the running-jobs guide maps them to Kustomizations chained with dependsOn.
    Mastodon needs a pre-deploy `db:migrate` with SKIP_POST_DEPLOYMENT_MIGRATIONS=true before new pods start
    (they expect the new columns), and a plain `db:migrate` after the rollout (post-deployment migrations
    drop what old pods still use). So the Kustomization applying web must dependOn the pre-deploy one and the
    post-deploy one must dependOn it; the Jobs need Flux's per-object `kustomize.toolkit.fluxcd.io/force:
    enabled` annotation (a Job's template is immutable; force recreates it so the new tag migrates), and not a
    Kustomization-wide `force: true`, which silently recreates any object of the layer whose update hits an
    immutable field, on every reconcile; both Job layers need wait: true (dependants wait for the Job to
    complete) and a timeout sized for migrations (at least 10m).""",
)
def check_migration_chain(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        web = next(iter(env.role("web")), None)
        if web is None:
            continue
        migrations = [w for w in env.role("job") if w.is_migration]
        pre = [w for w in migrations if w.is_pre_deploy_migration]
        post = [w for w in migrations if not w.is_pre_deploy_migration]
        if not pre:
            yield Hit(
                "no pre-deploy migration Job (db:migrate with SKIP_POST_DEPLOYMENT_MIGRATIONS=true)", web.manifest
            )
        if not post:
            yield Hit("no post-deploy migration Job (plain db:migrate)", web.manifest)
        app = ctx.flux_for_target(web.manifest.target)
        if app is None:
            yield Hit(f"no Flux Kustomization applies {web.manifest.target}", web.manifest)
        for job in pre:
            yield from _migration_layer(ctx, job, "pre-deploy")
            layer = ctx.flux_for_target(job.manifest.target)
            if app is not None and layer is not None and not _depends(ctx, app, layer.name):
                yield Hit(
                    f"Flux Kustomization {app.name} (apps) does not dependOn {layer.name} (pre-deploy migration)",
                    app.manifest,
                    "/spec/dependsOn",
                )
        for job in post:
            yield from _migration_layer(ctx, job, "post-deploy")
            layer = ctx.flux_for_target(job.manifest.target)
            if app is not None and layer is not None and not _depends(ctx, layer, app.name):
                yield Hit(
                    f"Flux Kustomization {layer.name} (post-deploy migration) does not dependOn {app.name} (apps)",
                    layer.manifest,
                    "/spec/dependsOn",
                )


@rule(
    "GO-2",
    Severity.ERROR,
    AREA,
    "Migration Jobs never restart in place and are never garbage-collected",
    """A migration Job must run once per release: restartPolicy Never (a failed migration is investigated,
    not retried inside a half-migrated pod; backoffLimit governs retries), and no ttlSecondsAfterFinished: once
    the TTL controller deletes the finished Job, the next Flux reconcile re-creates it from Git and the
    migration runs again. Its retries and run time are bounded explicitly (backoffLimit, whose default of 6
    hammers a database that fails the same way each time, and activeDeadlineSeconds): a hung migration then
    fails the Job and the Flux chain visibly, instead of blocking it. Flux does not retry a failed Job whose
    spec did not change; the README's runbook says how to. The image tag is checked against web by IMG-1.""",
)
def check_migration_jobs(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for job in env.role("job"):
            if not job.is_migration:
                continue
            restart = job.pod.get("restartPolicy")
            if restart != "Never":
                yield Hit(
                    f"migration Job {job.name} has restartPolicy {restart or 'unset'}; use Never",
                    job.manifest,
                    f"{job.pod_pointer}/restartPolicy",
                )
            spec_pointer = job.pod_pointer.rsplit("/template/spec", 1)[0]
            spec = (job.manifest.body.get("spec") or {}) if job.kind == "Job" else None
            for field in ("backoffLimit", "activeDeadlineSeconds"):
                if spec is not None and field not in spec:
                    yield Hit(
                        f"migration Job {job.name} has no {field}: a failing or hung migration is not bounded",
                        job.manifest,
                        f"{spec_pointer}/{field}",
                    )
            if spec is not None and "ttlSecondsAfterFinished" in spec:
                yield Hit(
                    f"migration Job {job.name} sets ttlSecondsAfterFinished; Flux re-creates the deleted Job and "
                    "the migration runs again",
                    job.manifest,
                    f"{spec_pointer}/ttlSecondsAfterFinished",
                )


def _referenced(workload: Workload) -> set[tuple[str, str]]:
    refs: set[tuple[str, str]] = set()
    for container in workload.containers:
        refs.update(container.env.env_from)
        for entry in container.body.get("env") or []:
            value_from = (entry or {}).get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if isinstance(value_from.get(key), dict):
                    refs.add((kind, str(value_from[key].get("name", ""))))
    for volume in workload.pod.get("volumes") or []:
        if isinstance(volume.get("configMap"), dict):
            refs.add(("ConfigMap", str(volume["configMap"].get("name", ""))))
        if isinstance(volume.get("secret"), dict):
            refs.add(("Secret", str(volume["secret"].get("secretName", ""))))
    return refs


def _has_checksum(workload: Workload) -> bool:
    template = workload.pod_pointer.rsplit("/spec", 1)[0]
    node: object = workload.manifest.body
    for part in template.strip("/").split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    annotations = ((node.get("metadata") if isinstance(node, dict) else None) or {}).get("annotations") or {}
    return any(str(key).startswith("checksum/") for key in annotations)


@rule(
    "GO-3",
    Severity.WARNING,
    AREA,
    "Configuration changes roll the pods",
    """Pods read environment variables once, at start. A ConfigMap with a fixed name can change in Git, be
    applied by Flux, and leave every running pod on the old values until something else restarts them,
    possibly weeks later and by surprise. A configMapGenerator (the name carries a hash of the content, so the
    pod template changes with it) or a `checksum/...` annotation on the pod template rolls them. Only
    ConfigMaps the render contains are judged. SOPS-encrypted Secrets are not: Flux decrypts them in the
    cluster, so no hash of their plaintext can be computed before it does (a secretGenerator over ciphertext
    would roll the pods on every re-encryption and never match the cluster); rotating one is a deliberate
    operation that ends with a restart of the workloads (README, "Secrets").""",
)
def check_rollout_triggers(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        for workload in env.mastodon_workloads():
            if workload.kind in ("Job", "CronJob") or _has_checksum(workload):
                continue
            for kind, name in sorted(_referenced(workload)):
                if kind != "ConfigMap" or generated_base(name) is not None or not _rendered(env, kind, name):
                    continue
                yield Hit(
                    f"{workload.name} reads {kind} {name}, whose name has no content hash: changing it does not "
                    "roll the pods (use a generator or a checksum/ annotation)",
                    workload.manifest,
                    f"{workload.pod_pointer}",
                )


def _rendered(env: Environment, kind: str, name: str) -> bool:
    return any(m.identity.name == name for m in env.of_kind(kind))


@rule(
    "GO-5",
    Severity.ERROR,
    AREA,
    "Flux Kustomizations applying Mastodon prune, wait and time out",
    """Without prune, objects removed from Git (an old Sidekiq worker still serving the scheduler queue)
    keep running; without wait, dependants (the post-deploy migration) start before the rollout is healthy;
    without timeout, a stuck rollout holds the chain for the interval. The Kustomization applying Mastodon's
    routes must dependOn (directly or through others) the one applying what serves them: for an HTTPRoute,
    the Kustomization that applies its parent Gateway; for an Ingress, one that applies a HelmRelease (the
    ingress controller). Otherwise, on a new cluster, the routes are applied before anything serves them and
    nothing orders the two.""",
)
def check_app_kustomizations(ctx: PolicyContext) -> Iterator[Hit]:
    for env in ctx.environments.values():
        targets = sorted({w.manifest.target for w in env.mastodon_workloads()})
        for target in targets:
            kustomization = ctx.flux_for_target(target)
            if kustomization is None:
                continue
            spec = kustomization.spec
            for key in ("prune", "wait"):
                if spec.get(key) is not True:
                    yield Hit(
                        f"Flux Kustomization {kustomization.name} needs {key}: true",
                        kustomization.manifest,
                        f"/spec/{key}",
                    )
            if duration_seconds(str(spec.get("timeout") or "")) is None:
                yield Hit(
                    f"Flux Kustomization {kustomization.name} needs a timeout", kustomization.manifest, "/spec/timeout"
                )
        yield from check_route_infrastructure(ctx, env)


def _applied_by(ctx: PolicyContext, manifests: list[Manifest]) -> set[str]:
    """Names of the Flux Kustomizations applying any of `manifests`."""
    names = set()
    for manifest in manifests:
        kustomization = ctx.flux_for_target(manifest.target)
        if kustomization is not None:
            names.add(kustomization.name)
    return names


def check_route_infrastructure(ctx: PolicyContext, env: Environment) -> Iterator[Hit]:
    """GO-5's second half: Mastodon's routes depend on the layer that serves them."""
    mastodon_routes = _mastodon_routes(env)
    for route in env.of_kind("HTTPRoute", "Ingress"):
        if route.identity not in mastodon_routes:
            continue
        app = ctx.flux_for_target(route.target)
        if app is None:
            continue
        if route.identity.kind == "HTTPRoute":
            parents = parent_gateways(route)
            serving = [g for g in env.of_kind("Gateway") if (g.identity.namespace, g.identity.name) in parents]
            what = "its Gateway"
        else:
            serving = env.of_kind("HelmRelease")
            what = "an ingress controller (HelmRelease)"
        applying = _applied_by(ctx, serving)
        if app.name in applying:
            continue  # one layer applies both, as the gateway's own redirect route
        providers = applying
        if not any(_depends(ctx, app, name) for name in providers):
            yield Hit(
                f"Flux Kustomization {app.name} applies {route.identity.kind} {route.identity.name} but does not "
                f"dependOn a Kustomization that applies {what}"
                + ("" if providers else " (none in this repository does)"),
                app.manifest,
                "/spec/dependsOn",
            )


def _mastodon_routes(env: Environment) -> set[Any]:
    """Identities of the routes with a backend Service that selects a Mastodon workload's pods."""
    services = {
        (service.identity.namespace, service.identity.name)
        for workload in env.mastodon_workloads()
        for service, _, _ in services_for(env, workload)
    }
    return {b.route.identity for b in backends(env) if (b.route.identity.namespace, b.service) in services}


RULES = (check_migration_chain, check_migration_jobs, check_rollout_triggers, check_app_kustomizations)
