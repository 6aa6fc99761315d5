# ruff: noqa: E501  (the CASES table keeps one case per line pair; wrapping it hides the mutations)
"""Every policy rule: the good fixture passes it, and one mutation per case makes it fail with the expected finding.

The fixture (tests/fixtures/policy/production) is the shipped repository's rendered production environment, loaded
into in-memory manifests; each case deep-copies it and breaks one thing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.check.findings import Finding, Severity
from gitops.manifests import Manifest, manifests_from_build
from gitops.policy.api import rules, run_policy
from gitops.policy.routing import quantity_bytes

FIXTURE = Path(__file__).parents[1] / "fixtures" / "policy" / "production"
TARGETS = {
    "overlays/production/shared": "shared.yaml",
    "overlays/production/pre-deploy": "pre-deploy.yaml",
    "overlays/production/apps": "apps.yaml",
    "overlays/production/post-deploy": "post-deploy.yaml",
    "overlays/production/infra-controllers": "infra-controllers.yaml",
    "overlays/production/infra-configs": "infra-configs.yaml",
    "clusters/production": "cluster.yaml",
}
CONFIG: dict[str, Any] = {
    "environments": {"production": {"postgres": {"maxConnections": 397, "reservedConnections": 20, "poolSize": 280}}}
}
Targets = dict[str, list[Manifest]]


def load(env: str = "production") -> Targets:
    """The fixture as {target: manifests}; each manifest's origin is '<target>/source.yaml'."""
    out: Targets = {}
    for target, file in TARGETS.items():
        target = target.replace("production", env)
        manifests = manifests_from_build((FIXTURE / file).read_text(encoding="utf-8"), target)
        for manifest in manifests:
            manifest.origin = f"{target}/source.yaml"
        out[target] = manifests
    return out


GOOD = load()


def fresh() -> Targets:
    return copy.deepcopy(GOOD)


def obj(targets: Targets, kind: str, name: str, target: str = "apps") -> dict[str, Any]:
    """The body of kind/name (a generated name matches without its hash suffix) in overlays/production/<target>."""
    key = target if target.startswith("clusters/") else f"overlays/production/{target}"
    for manifest in targets[key]:
        ident = manifest.identity
        if ident.kind == kind and (ident.name == name or ident.name.rsplit("-", 1)[0] == name):
            return manifest.body
    raise KeyError((kind, name, target))


def container(targets: Targets, name: str, target: str = "apps", kind: str = "Deployment") -> dict[str, Any]:
    return obj(targets, kind, name, target)["spec"]["template"]["spec"]["containers"][0]


def set_env(c: dict[str, Any], name: str, value: str) -> None:
    entries = c.setdefault("env", [])
    for entry in entries:
        if entry["name"] == name:
            entry.clear()
            entry.update(name=name, value=value)
            return
    entries.append({"name": name, "value": value})


def del_env(c: dict[str, Any], name: str) -> None:
    c["env"] = [e for e in c.get("env", []) if e["name"] != name]


def env_map(targets: Targets, target: str = "apps") -> dict[str, str]:
    return obj(targets, "ConfigMap", "mastodon-env", target)["data"]


def check(targets: Targets, rule_id: str, config: dict[str, Any] | None = None, **kwargs: Any) -> list[Finding]:
    return run_policy(None, targets, CONFIG if config is None else config, rule_ids=[rule_id], **kwargs)


# ---- mutations: each returns the broken targets -------------------------------------------------------------


def mutate(*steps: Callable[[Targets], None]) -> Callable[[], Targets]:
    def build() -> Targets:
        targets = fresh()
        for step in steps:
            step(targets)
        return targets

    return build


def _image(name: str, image: str) -> Callable[[Targets], None]:
    return lambda t: container(t, name).update(image=image)


def _remove_queue(queue: str) -> Callable[[Targets], None]:
    def step(t: Targets) -> None:
        c = container(t, "mastodon-sidekiq-default")
        args = c["args"]
        index = args.index(queue)
        del args[index - 1 : index + 1]

    return step


def _secret_keys_drop(*keys: str) -> Callable[[Targets], None]:
    def step(t: Targets) -> None:
        data = obj(t, "Secret", "mastodon-secrets", "shared")["stringData"]
        for key in keys:
            del data[key]

    return step


def _hpa_on_scheduler(t: Targets) -> None:
    hpa = copy.deepcopy(obj(t, "HorizontalPodAutoscaler", "mastodon-web"))
    hpa["metadata"]["name"] = "mastodon-sidekiq-scheduler"
    hpa["spec"]["scaleTargetRef"]["name"] = "mastodon-sidekiq-scheduler"
    hpa["spec"].update(minReplicas=1, maxReplicas=1)
    added = manifests_from_build(yaml.safe_dump(hpa), "overlays/production/apps")[0]
    added.origin = "overlays/production/apps/source.yaml"
    t["overlays/production/apps"].append(added)


def _drop_pdb(name: str) -> Callable[[Targets], None]:
    def step(t: Targets) -> None:
        key = "overlays/production/apps"
        t[key] = [m for m in t[key] if not (m.identity.kind == "PodDisruptionBudget" and m.identity.name == name)]

    return step


def _infra(t: Targets, kind: str, name: str = "public") -> dict[str, Any]:
    return obj(t, kind, name, "infra-configs")


def _envoy_service(t: Targets) -> dict[str, Any]:
    return _infra(t, "EnvoyProxy")["spec"]["provider"]["kubernetes"]["envoyService"]


def _drop_client_policy(t: Targets) -> None:
    key = "overlays/production/infra-configs"
    t[key] = [m for m in t[key] if m.identity.kind != "ClientTrafficPolicy"]


def _trusted_hops(**xff: Any) -> Callable[[Targets], None]:
    return lambda t: _infra(t, "ClientTrafficPolicy", "client-ip")["spec"].update(
        clientIPDetection={"xForwardedFor": xff}
    )


def _ingress(t: Targets) -> None:
    """Replace the HTTPRoutes by the equivalent ingress-nginx Ingress (the Ingress branch of RT-1)."""
    key = "overlays/production/apps"
    t[key] = [m for m in t[key] if m.identity.kind != "HTTPRoute"]
    paths = [
        {"path": path, "pathType": "Prefix", "backend": {"service": {"name": name, "port": {"number": port}}}}
        for path, name, port in (("/api/v1/streaming", "mastodon-streaming", 4000), ("/", "mastodon-web", 3000))
    ]
    ingress = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "mastodon",
            "namespace": "mastodon",
            "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "99m"},
        },
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["social.example.org"], "secretName": "mastodon-tls"}],
            "rules": [{"host": "social.example.org", "http": {"paths": paths}}],
        },
    }
    added = manifests_from_build(yaml.safe_dump(ingress), key)[0]
    added.origin = f"{key}/source.yaml"
    t[key].append(added)


def _ingress_paths(t: Targets) -> list[dict[str, Any]]:
    return obj(t, "Ingress", "mastodon")["spec"]["rules"][0]["http"]["paths"]


def _drop_infra_configs_dependency(t: Targets) -> None:
    _flux(t, "mastodon-apps")["dependsOn"] = [{"name": "mastodon-pre-deploy"}]


def _web_route(t: Targets) -> dict[str, Any]:
    return obj(t, "HTTPRoute", "mastodon-web")


def _drop_trust_bundle(name: str, kind: str = "Deployment", target: str = "apps") -> Callable[[Targets], None]:
    return lambda t: del_env(container(t, name, target, kind), "SSL_CERT_FILE")


def _bundle_mount_read_only(t: Targets) -> None:
    pod = obj(t, "Deployment", "mastodon-web")["spec"]["template"]["spec"]
    for mount in pod["initContainers"][0]["volumeMounts"]:
        if mount["name"] == "trust-bundle":
            mount["readOnly"] = True


def _flux(t: Targets, name: str) -> dict[str, Any]:
    return obj(t, "Kustomization", name, "clusters/production")["spec"]


def _rename_env_configmap(t: Targets) -> None:
    for m in t["overlays/production/apps"]:
        if m.identity.kind == "ConfigMap" and m.identity.name.startswith("mastodon-env-"):
            m.body["metadata"]["name"] = "mastodon-env"
            m.identity = type(m.identity)(m.identity.api_version, "ConfigMap", m.identity.namespace, "mastodon-env")
        for c in m.body.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            for source in c.get("envFrom", []):
                if source.get("configMapRef", {}).get("name", "").startswith("mastodon-env-"):
                    source["configMapRef"]["name"] = "mastodon-env"


def _add_sidecar(t: Targets) -> None:
    pod = obj(t, "Deployment", "mastodon-web")["spec"]["template"]["spec"]
    sidecar = copy.deepcopy(pod["containers"][0])
    sidecar.update(name="exporter", image="quay.io/prometheus/statsd-exporter", command=["/bin/exporter"])
    sidecar.pop("ports")
    pod["containers"].append(sidecar)


def _annotate(kind: str, name: str, value: str, target: str = "apps") -> Callable[[Targets], None]:
    return lambda t: (
        obj(t, kind, name, target)["metadata"].setdefault("annotations", {}).update({"gitops/ignore": value})
    )


def _scheduler_replicas(n: int) -> Callable[[Targets], None]:
    return lambda t: obj(t, "Deployment", "mastodon-sidekiq-scheduler")["spec"].update(replicas=n)


PRE = "pre-deploy"
# (rule, case id, mutation, substring of a finding message, (kind, name) the finding is about)
CASES: list[tuple[str, str, Callable[[], Targets], str, tuple[str, str]]] = [
    ("IMG-1", "sidekiq-behind", mutate(_image("mastodon-sidekiq-default", "ghcr.io/mastodon/mastodon:v4.6.1")),
     "version is v4.6.6", ("Deployment", "mastodon-sidekiq-default")),
    ("IMG-1", "streaming-rails-image", mutate(_image("mastodon-streaming", "ghcr.io/mastodon/mastodon:v4.6.6")),
     "must run the mastodon-streaming image", ("Deployment", "mastodon-streaming")),
    ("IMG-2", "latest", mutate(_image("mastodon-sidekiq-default", "ghcr.io/mastodon/mastodon:latest")),
     "tag 'latest'", ("Deployment", "mastodon-sidekiq-default")),
    ("IMG-2", "no-tag", mutate(_image("mastodon-streaming", "ghcr.io/mastodon/mastodon-streaming")),
     "has no tag", ("Deployment", "mastodon-streaming")),
    ("IMG-3", "web-command", mutate(lambda t: container(t, "mastodon-web").update(command=["bundle", "exec", "rails", "s"])),
     "not 'bundle exec puma", ("Deployment", "mastodon-web")),
    ("IMG-3", "sidekiq-without-queues", mutate(lambda t: container(t, "mastodon-sidekiq-scheduler").update(args=["-c", "5"])),
     "at least one '-q", ("Deployment", "mastodon-sidekiq-scheduler")),
    ("SQ-1", "two-schedulers", mutate(_scheduler_replicas(2)),
     "2 Sidekiq processes serve the scheduler queue", ("Deployment", "mastodon-sidekiq-scheduler")),
    ("SQ-1", "weighted-scheduler", mutate(lambda t: container(t, "mastodon-sidekiq-default")["args"].extend(["-q", "scheduler,1"])),
     "3 Sidekiq processes", ("Deployment", "mastodon-sidekiq-default")),
    ("SQ-1", "no-scheduler", mutate(lambda t: container(t, "mastodon-sidekiq-scheduler").update(args=["-c", "5", "-q", "default"])),
     "no Sidekiq worker serves the scheduler", ("Deployment", "mastodon-sidekiq-default")),
    ("SQ-2", "rolling-scheduler", mutate(lambda t: obj(t, "Deployment", "mastodon-sidekiq-scheduler")["spec"].update(
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})),
     "maxSurge 1", ("Deployment", "mastodon-sidekiq-scheduler")),
    ("SQ-2", "hpa-on-scheduler", mutate(_hpa_on_scheduler),
     "scales the scheduler worker", ("HorizontalPodAutoscaler", "mastodon-sidekiq-scheduler")),
    ("SQ-3", "no-fasp", mutate(_remove_queue("fasp")), "serves fasp", ("Deployment", "mastodon-sidekiq-default")),
    ("SQ-4", "no-smtp-login", mutate(_secret_keys_drop("SMTP_LOGIN")),
     "serves mailers but has no SMTP_LOGIN", ("Deployment", "mastodon-sidekiq-default")),
    ("DB-2", "shared-db-pool", mutate(lambda t: env_map(t).update(DB_POOL="25")),
     "DB_POOL is set in a ConfigMap shared by", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("DB-2", "pool-below-concurrency", mutate(lambda t: set_env(container(t, "mastodon-sidekiq-default"), "DB_POOL", "10")),
     "DB_POOL 10 is below -c 25", ("Deployment", "mastodon-sidekiq-default")),
    ("DB-3", "prepared-statements", mutate(lambda t: env_map(t).update(PREPARED_STATEMENTS="true")),
     "PREPARED_STATEMENTS=true", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("DB-3", "migration-through-pooler", mutate(lambda t: obj(t, "ConfigMap", "mastodon-db-direct-pre-deploy", PRE)["data"].update(DB_PORT="25061", DB_NAME="mastodon-pool")),
     "a pooler endpoint", ("Job", "mastodon-db-migrate-pre-deploy")),
    ("DB-4", "streaming-cluster-num", mutate(lambda t: env_map(t).update(STREAMING_CLUSTER_NUM="2")),
     "STREAMING_CLUSTER_NUM is set", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("SEC-3", "sidekiq-without-secrets", mutate(lambda t: container(t, "mastodon-sidekiq-default").update(
        envFrom=[s for s in container(t, "mastodon-sidekiq-default")["envFrom"] if "secretRef" not in s])),
     "does not receive SECRET_KEY_BASE", ("Deployment", "mastodon-sidekiq-default")),
    ("SEC-3", "streaming-reads-app-secrets", mutate(lambda t: container(t, "mastodon-streaming")["envFrom"].append(
        {"secretRef": {"name": "mastodon-secrets-8t5h2gkc7b"}})),
     "streaming reads the app-secrets Secret", ("Deployment", "mastodon-streaming")),
    ("SEC-4", "domain-differs", mutate(lambda t: set_env(container(t, "mastodon-sidekiq-default"), "LOCAL_DOMAIN", "other.example")),
     "LOCAL_DOMAIN=other.example", ("Deployment", "mastodon-sidekiq-default")),
    ("CFG-1", "port-in-shared-configmap", mutate(lambda t: env_map(t).update(PORT="3000")),
     "PORT is set in a ConfigMap shared by", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("CFG-1", "port-not-container-port", mutate(lambda t: set_env(container(t, "mastodon-web"), "PORT", "3001")),
     "listens on 3001", ("Deployment", "mastodon-web")),
    ("CFG-1", "service-named-port-mismatch", mutate(lambda t: obj(t, "Service", "mastodon-web")["spec"]["ports"][0].update(targetPort="metrics")),
     "targets 'metrics' (unresolved)", ("Service", "mastodon-web")),
    ("CFG-1", "loopback-bind", mutate(lambda t: set_env(container(t, "mastodon-streaming"), "BIND", "127.0.0.1")),
     "binds to 127.0.0.1", ("Deployment", "mastodon-streaming")),
    ("CFG-2", "authorized-fetch-differs", mutate(lambda t: set_env(container(t, "mastodon-streaming"), "AUTHORIZED_FETCH", "true")),
     "AUTHORIZED_FETCH=true, web has false", ("Deployment", "mastodon-streaming")),
    ("CFG-2", "sidekiq-other-database", mutate(lambda t: set_env(container(t, "mastodon-sidekiq-default"), "DB_HOST", "db.other")),
     "DB_HOST=db.other", ("Deployment", "mastodon-sidekiq-default")),
    ("CFG-3", "public-only-proxy", mutate(lambda t: env_map(t).update(TRUSTED_PROXY_IP="203.0.113.5")),
     "trusts no private network", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("CFG-4", "streaming-host-unrouted", mutate(lambda t: env_map(t).update(STREAMING_API_BASE_URL="wss://streaming.social.example.org")),
     "no route sends streaming.social.example.org", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("TLS-1", "no-ruby-driver", mutate(lambda t: env_map(t).pop("REDIS_DRIVER")),
     "REDIS_DRIVER=unset", ("Deployment", "mastodon-web")),
    ("TLS-2", "no-verify-for-ruby", mutate(lambda t: env_map(t).update(DB_SSLMODE="no-verify")),
     "which libpq rejects", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("TLS-2", "streaming-without-sslmode", mutate(lambda t: env_map(t).pop("DB_SSLMODE"), lambda t: del_env(container(t, "mastodon-streaming"), "DB_SSLMODE")),
     "streaming has DB_SSLMODE=unset", ("Deployment", "mastodon-streaming")),
    ("TLS-3", "ca-not-mounted", mutate(lambda t: set_env(container(t, "mastodon-streaming"), "NODE_EXTRA_CA_CERTS", "/etc/ssl/do.crt")),
     "no Secret or ConfigMap volume is mounted there", ("Deployment", "mastodon-streaming")),
    ("TLS-3", "ca-not-in-items", mutate(lambda t: set_env(container(t, "mastodon-web"), "PGSSLROOTCERT", "/etc/mastodon/ca/root.crt")),
     "PGSSLROOTCERT=/etc/mastodon/ca/root.crt", ("Deployment", "mastodon-web")),
    ("TLS-3", "bundle-not-written-by-init", mutate(_bundle_mount_read_only),
     "SSL_CERT_FILE=/etc/mastodon/trust/bundle.crt in web, but no Secret or ConfigMap volume", ("Deployment", "mastodon-web")),
    ("TLS-4", "reject-unauthorized", mutate(lambda t: set_env(container(t, "mastodon-streaming"), "NODE_TLS_REJECT_UNAUTHORIZED", "0")),
     "disables TLS verification", ("Deployment", "mastodon-streaming")),
    ("TLS-4", "db-sslrootcert", mutate(lambda t: env_map(t).update(DB_SSLROOTCERT="/etc/mastodon/ca/ca.crt")),
     "is not read by Mastodon", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("TLS-5", "job-without-root-cert", mutate(lambda t: del_env(container(t, "mastodon-db-migrate-pre-deploy", PRE, "Job"), "PGSSLROOTCERT")),
     "PGSSLROOTCERT=unset", ("Job", "mastodon-db-migrate-pre-deploy")),
    ("TLS-5", "job-mounts-other-secret", mutate(lambda t: obj(t, "Job", "mastodon-db-migrate-post-deploy", "post-deploy")["spec"]["template"]["spec"]["volumes"][0]["secret"].update(secretName="other-ca")),
     "from ('Secret', 'other-ca')", ("Job", "mastodon-db-migrate-post-deploy")),
    ("TLS-6", "sidekiq-without-bundle", mutate(_drop_trust_bundle("mastodon-sidekiq-default")),
     "mastodon-sidekiq-default has no SSL_CERT_FILE", ("Deployment", "mastodon-sidekiq-default")),
    ("TLS-6", "cronjob-without-bundle", mutate(lambda t: del_env(obj(t, "CronJob", "mastodon-media-remove")["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0], "SSL_CERT_FILE")),
     "mastodon-media-remove has no SSL_CERT_FILE", ("CronJob", "mastodon-media-remove")),
    ("TLS-7", "require-with-root-cert", mutate(lambda t: env_map(t).update(DB_SSLMODE="require")),
     "DB_SSLMODE=require with PGSSLROOTCERT set", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("TLS-7", "streaming-verify-ca", mutate(lambda t: set_env(container(t, "mastodon-streaming"), "DB_SSLMODE", "verify-ca")),
     "DB_SSLMODE=verify-ca with NODE_EXTRA_CA_CERTS set", ("Deployment", "mastodon-streaming")),
    ("POD-1", "web-readiness-path", mutate(lambda t: container(t, "mastodon-web")["readinessProbe"]["httpGet"].update(path="/")),
     "readinessProbe httpGet /health", ("Deployment", "mastodon-web")),
    ("POD-1", "sidekiq-http-probe", mutate(lambda t: container(t, "mastodon-sidekiq-default").update(livenessProbe={"httpGet": {"path": "/", "port": 7433}})),
     "serves no network port", ("Deployment", "mastodon-sidekiq-default")),
    ("POD-1", "streaming-no-startup", mutate(lambda t: container(t, "mastodon-streaming").pop("startupProbe")),
     "startupProbe", ("Deployment", "mastodon-streaming")),
    ("POD-2", "sidekiq-no-memory-limit", mutate(lambda t: container(t, "mastodon-sidekiq-default")["resources"]["limits"].pop("memory")),
     "no memory limits", ("Deployment", "mastodon-sidekiq-default")),
    ("POD-3", "other-uid", mutate(lambda t: obj(t, "Deployment", "mastodon-web")["spec"]["template"]["spec"]["securityContext"].update(runAsUser=1000)),
     "runAsUser is 1000", ("Deployment", "mastodon-web")),
    ("POD-3", "capabilities-kept", mutate(lambda t: container(t, "mastodon-streaming")["securityContext"].pop("capabilities")),
     "does not drop ALL", ("Deployment", "mastodon-streaming")),
    ("POD-3", "read-only-without-tmp", mutate(lambda t: container(t, "mastodon-web")["securityContext"].update(readOnlyRootFilesystem=True)),
     "no emptyDir at /opt/mastodon/tmp", ("Deployment", "mastodon-web")),
    ("POD-4", "no-pdb", mutate(_drop_pdb("mastodon-web")), "without a PodDisruptionBudget", ("Deployment", "mastodon-web")),
    ("POD-4", "pdb-blocks", mutate(lambda t: obj(t, "PodDisruptionBudget", "mastodon-streaming")["spec"].update(maxUnavailable=0)),
     "allows no eviction", ("PodDisruptionBudget", "mastodon-streaming")),
    ("RT-1", "streaming-path-to-web", mutate(lambda t: obj(t, "HTTPRoute", "mastodon-streaming")["spec"]["rules"][0]["backendRefs"][0].update(name="mastodon-web", port=3000)),
     "Prefix /api/v1/streaming must go to the streaming Service", ("HTTPRoute", "mastodon-streaming")),
    ("RT-1", "no-root-route", mutate(lambda t: _web_route(t)["spec"]["rules"][0]["matches"][0]["path"].update(value="/web")),
     "Prefix / must go to the web Service", ("HTTPRoute", "mastodon-streaming")),
    ("RT-1", "gateway-upload-limit-40m", mutate(lambda t: obj(t, "BackendTrafficPolicy", "mastodon-web-uploads")["spec"]["requestBuffer"].update(limit="40Mi")),
     "requestBuffer limit 40Mi applies to HTTPRoute mastodon-web", ("BackendTrafficPolicy", "mastodon-web-uploads")),
    ("RT-1", "ingress-streaming-path-to-web", mutate(_ingress, lambda t: _ingress_paths(t)[0]["backend"]["service"].update(name="mastodon-web", port={"number": 3000})),
     "Prefix /api/v1/streaming must go to the streaming Service", ("Ingress", "mastodon")),
    ("RT-1", "ingress-no-tls", mutate(_ingress, lambda t: obj(t, "Ingress", "mastodon")["spec"].pop("tls")),
     "not listed under the Ingress's tls", ("Ingress", "mastodon")),
    ("RT-1", "ingress-40m-bodies", mutate(_ingress, lambda t: obj(t, "Ingress", "mastodon")["metadata"]["annotations"].update(
        {"nginx.ingress.kubernetes.io/proxy-body-size": "40m"})),
     "proxy-body-size is 40m; media uploads need at least 99m", ("Ingress", "mastodon")),
    ("RT-2", "lb-proxy-protocol-not-accepted", mutate(_drop_client_policy),
     "sends PROXY protocol", ("EnvoyProxy", "public")),
    ("RT-2", "lb-proxy-protocol-off", mutate(lambda t: _envoy_service(t)["annotations"].update({"service.beta.kubernetes.io/do-loadbalancer-enable-proxy-protocol": "false"})),
     "turns it off on the load balancer", ("ClientTrafficPolicy", "client-ip")),
    ("RT-2", "cluster-traffic-policy-snat", mutate(_drop_client_policy, lambda t: _envoy_service(t).update(annotations={}, externalTrafficPolicy="Cluster")),
     "nodes SNAT the connections", ("EnvoyProxy", "public")),
    ("RT-2", "cdn-hops-not-trusted", mutate(_trusted_hops(numTrustedHops=1)),
     "trusts only loopback and internal networks", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("RT-2", "cdn-cidrs-not-trusted", mutate(_trusted_hops(trustedCIDRs=["203.0.113.0/24"])),
     "trusts X-Forwarded-For from 203.0.113.0/24", ("ConfigMap", "mastodon-env-425m7h8278")),
    ("GO-1", "apps-before-migration", mutate(lambda t: _flux(t, "mastodon-apps").update(dependsOn=[{"name": "mastodon-shared"}])),
     "does not dependOn mastodon-pre-deploy", ("Kustomization", "mastodon-apps")),
    ("GO-1", "job-without-force-annotation", mutate(lambda t: obj(t, "Job", "mastodon-db-migrate-pre-deploy", PRE)["metadata"].pop("annotations")),
     "needs the annotation kustomize.toolkit.fluxcd.io/force", ("Job", "mastodon-db-migrate-pre-deploy")),
    ("GO-1", "kustomization-wide-force", mutate(lambda t: _flux(t, "mastodon-post-deploy").update(force=True)),
     "sets force: true for every object", ("Kustomization", "mastodon-post-deploy")),
    ("GO-1", "short-timeout", mutate(lambda t: _flux(t, "mastodon-post-deploy").update(timeout="5m")),
     "timeout 5m", ("Kustomization", "mastodon-post-deploy")),
    ("GO-1", "no-pre-deploy-job", mutate(lambda t: del_env(container(t, "mastodon-db-migrate-pre-deploy", PRE, "Job"), "SKIP_POST_DEPLOYMENT_MIGRATIONS")),
     "no pre-deploy migration Job", ("Deployment", "mastodon-web")),
    ("GO-2", "restart-on-failure", mutate(lambda t: obj(t, "Job", "mastodon-db-migrate-pre-deploy", PRE)["spec"]["template"]["spec"].update(restartPolicy="OnFailure")),
     "restartPolicy OnFailure", ("Job", "mastodon-db-migrate-pre-deploy")),
    ("GO-2", "ttl", mutate(lambda t: obj(t, "Job", "mastodon-db-migrate-post-deploy", "post-deploy")["spec"].update(ttlSecondsAfterFinished=600)),
     "ttlSecondsAfterFinished", ("Job", "mastodon-db-migrate-post-deploy")),
    ("GO-2", "no-deadline", mutate(lambda t: obj(t, "Job", "mastodon-db-migrate-post-deploy", "post-deploy")["spec"].pop("activeDeadlineSeconds")),
     "has no activeDeadlineSeconds", ("Job", "mastodon-db-migrate-post-deploy")),
    ("GO-2", "default-backoff", mutate(lambda t: obj(t, "Job", "mastodon-db-migrate-pre-deploy", PRE)["spec"].pop("backoffLimit")),
     "has no backoffLimit", ("Job", "mastodon-db-migrate-pre-deploy")),
    ("GO-3", "static-configmap", mutate(_rename_env_configmap), "ConfigMap mastodon-env, whose name has no content hash", ("Deployment", "mastodon-web")),
    ("GO-5", "routes-without-infrastructure", mutate(_drop_infra_configs_dependency),
     "applies HTTPRoute mastodon-web but does not dependOn a Kustomization that applies its Gateway", ("Kustomization", "mastodon-apps")),
    ("GO-5", "ingress-without-controller-dependency", mutate(_ingress, _drop_infra_configs_dependency),
     "applies Ingress mastodon but does not dependOn a Kustomization that applies an ingress controller", ("Kustomization", "mastodon-apps")),
    ("GO-5", "gateway-not-in-repository", mutate(lambda t: t.update({"overlays/production/infra-configs": []})),
     "(none in this repository does)", ("Kustomization", "mastodon-apps")),
    ("GO-5", "no-prune", mutate(lambda t: _flux(t, "mastodon-apps").update(prune=False)), "needs prune: true", ("Kustomization", "mastodon-apps")),
    ("GEN-1", "no-cpu-request", mutate(lambda t: container(t, "mastodon-web")["resources"]["requests"].pop("cpu")),
     "sets no requests.cpu", ("Deployment", "mastodon-web")),
    ("GEN-2", "no-readiness", mutate(lambda t: container(t, "mastodon-streaming").pop("readinessProbe")),
     "has no readinessProbe", ("Deployment", "mastodon-streaming")),
    ("GEN-3", "root-allowed", mutate(lambda t: obj(t, "Deployment", "mastodon-web")["spec"]["template"]["spec"]["securityContext"].pop("runAsNonRoot")),
     "does not set runAsNonRoot", ("Deployment", "mastodon-web")),
    ("GEN-4", "unpinned-sidecar", mutate(_add_sidecar), "statsd-exporter is not pinned", ("Deployment", "mastodon-web")),
    ("GEN-5", "host-network", mutate(lambda t: obj(t, "Deployment", "mastodon-streaming")["spec"]["template"]["spec"].update(hostNetwork=True)),
     "hostNetwork: true", ("Deployment", "mastodon-streaming")),
    ("GEN-5", "privileged", mutate(lambda t: container(t, "mastodon-web")["securityContext"].update(privileged=True)),
     "is privileged", ("Deployment", "mastodon-web")),
    ("GEN-5", "escalation-unset", mutate(lambda t: container(t, "mastodon-web")["securityContext"].pop("allowPrivilegeEscalation")),
     "allowPrivilegeEscalation: false", ("Deployment", "mastodon-web")),
    ("IGNORE-1", "no-reason", mutate(_annotate("Deployment", "mastodon-sidekiq-scheduler", "SQ-1")),
     "gives no reason", ("Deployment", "mastodon-sidekiq-scheduler")),
    ("IGNORE-1", "malformed", mutate(_annotate("Deployment", "mastodon-web", "please ignore")),
     "not of the form", ("Deployment", "mastodon-web")),
    ("IGNORE-2", "unknown-rule", mutate(_annotate("Deployment", "mastodon-web", "XYZ-9: typo")),
     "unknown rule XYZ-9", ("Deployment", "mastodon-web")),
]  # fmt: skip


def test_every_rule_has_a_failing_case() -> None:
    # DB-1 has dedicated tests in tests/policy/test_api.py; ENV-* (two environments) in test_rules_environments.py
    covered = {case[0] for case in CASES} | {"DB-1", "ENV-1", "ENV-2", "ENV-3"}
    assert {r.id for r in rules()} <= covered


@pytest.mark.parametrize("rule_id", [r.id for r in rules()])
def test_good_fixture_passes(rule_id: str) -> None:
    assert check(fresh(), rule_id) == []


@pytest.mark.parametrize(
    ("rule_id", "build", "needle", "about"), [pytest.param(r, b, n, a, id=f"{r}:{c}") for r, c, b, n, a in CASES]
)
def test_rule_fails_on_its_fixture(
    rule_id: str, build: Callable[[], Targets], needle: str, about: tuple[str, str]
) -> None:
    findings = check(build(), rule_id)
    assert findings, f"{rule_id} found nothing"
    matching = [f for f in findings if needle in f.message and f.identity is not None]
    assert matching, [f.message for f in findings]
    about_it = [f for f in matching if (f.identity.kind, f.identity.name) == about]  # type: ignore[union-attr]
    assert about_it, [(f.identity, f.message) for f in matching]
    finding = about_it[0]
    assert finding.rule == rule_id
    assert finding.target is not None and finding.file == f"{finding.target}/source.yaml"
    expected = {r.id: r.severity for r in rules()}[rule_id]
    assert finding.severity is expected


def test_unknown_secret_keys_get_the_benefit_of_the_doubt() -> None:
    """A Secret referenced but not rendered may hold SMTP credentials and app secrets: no SQ-4/SEC-3 finding."""
    targets = fresh()
    targets["overlays/production/shared"] = [
        m for m in targets["overlays/production/shared"] if m.identity.kind != "Secret"
    ]
    assert check(targets, "SQ-4") == []
    assert check(targets, "SEC-3") == []
    # ... but TLS-1 still sees streaming's REDIS_URL from a Secret of unknown value and wants the Ruby driver.
    env_map(targets).pop("REDIS_DRIVER")
    messages = [f.message for f in check(targets, "TLS-1")]
    assert messages and all("may be rediss://" in m for m in messages)


def test_known_plain_redis_url_needs_no_ruby_driver() -> None:
    targets = fresh()
    env_map(targets).pop("REDIS_DRIVER")
    for name in ("mastodon-streaming",):
        c = container(targets, name)
        c["env"] = [e for e in c["env"] if e["name"] != "REDIS_URL"]
    secret = obj(targets, "Secret", "mastodon-secrets", "shared")
    del secret["sops"]  # a plain (unencrypted) Secret: its values are readable
    secret["stringData"]["REDIS_URL"] = "redis://redis:6379"
    assert check(targets, "TLS-1") == []


def test_suppression_with_reason_silences_only_that_rule_on_that_resource() -> None:
    targets = mutate(_scheduler_replicas(2))()
    reason = "SQ-1: migrating to a new scheduler worker, see ticket 42"
    obj(targets, "Deployment", "mastodon-sidekiq-scheduler")["metadata"]["annotations"] = {"gitops/ignore": reason}
    assert check(targets, "SQ-1") == []
    assert check(targets, "IGNORE-1") == []
    # Without a reason the finding stays, and the suppression is reported.
    obj(targets, "Deployment", "mastodon-sidekiq-scheduler")["metadata"]["annotations"] = {"gitops/ignore": "SQ-1"}
    assert [f.rule for f in check(targets, "SQ-1")] == ["SQ-1"]
    assert [f.path for f in check(targets, "IGNORE-1")] == ["/metadata/annotations/gitops~1ignore"]


def test_suppression_accepts_several_entries() -> None:
    targets = mutate(lambda t: container(t, "mastodon-web")["securityContext"].update(privileged=True))()
    obj(targets, "Deployment", "mastodon-web")["metadata"]["annotations"] = {
        "gitops/ignore": "GEN-1: not ours\nGEN-5: the profiler needs it; remove after #17"
    }
    assert check(targets, "GEN-5") == []
    assert check(targets, "IGNORE-1") == []


def test_image_minor_skip_against_base_and_between_environments() -> None:
    head = fresh()
    base = mutate(*(_image(n, "ghcr.io/mastodon/mastodon:v4.4.5") for n in ("mastodon-web",)))()
    findings = check(head, "IMG-2", previous=base)
    assert [f.message for f in findings] == [
        "upgrade from v4.4.5 to v4.6.6 skips a minor series; deploy the latest release of each series in between first"
    ]
    assert check(head, "IMG-2", previous=mutate(_image("mastodon-web", "ghcr.io/mastodon/mastodon:v4.5.1"))()) == []
    # staging two minors ahead of production: promoting it would skip 4.5 (a warning, on staging).
    staging = load("staging")
    for manifest in staging["overlays/staging/apps"]:
        for c in manifest.body.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            c["image"] = c["image"].replace("v4.6.6", "v4.8.0")
    both = {**fresh(), **staging}
    config = {"environments": {**CONFIG["environments"], "staging": CONFIG["environments"]["production"]}}
    warnings = [f for f in check(both, "IMG-2", config) if f.severity is Severity.WARNING]
    assert [(f.target, "would skip" in f.message) for f in warnings] == [("overlays/staging/apps", True)]


def test_domain_change_against_base_fails() -> None:
    base = mutate(lambda t: [env_map(t, x).update(LOCAL_DOMAIN="old.example.org") for x in ("apps",)])()
    findings = check(fresh(), "SEC-4", previous=base)
    assert [f.message for f in findings] == [
        "LOCAL_DOMAIN changes from old.example.org to social.example.org in the existing environment production"
    ]


def test_trusted_proxy_must_cover_declared_cluster_networks() -> None:
    config = copy.deepcopy(CONFIG)
    config["environments"]["production"]["network"] = {"clusterCIDRs": ["10.244.0.0/16", "10.245.0.0/16"]}
    targets = fresh()
    env_map(targets)["TRUSTED_PROXY_IP"] = "10.244.0.0/16, 127.0.0.1"
    findings = check(targets, "CFG-3", config)
    assert findings and all("does not cover 10.245.0.0/16" in f.message for f in findings)
    env_map(targets)["TRUSTED_PROXY_IP"] = "10.0.0.0/8,127.0.0.1"
    assert check(targets, "CFG-3", config) == []


def test_checksum_annotation_is_a_rollout_trigger() -> None:
    targets = mutate(_rename_env_configmap)()
    for name in ("mastodon-web", "mastodon-streaming", "mastodon-sidekiq-default", "mastodon-sidekiq-scheduler"):
        obj(targets, "Deployment", name)["spec"]["template"]["metadata"]["annotations"] = {"checksum/config": "abc"}
    assert check(targets, "GO-3") == []


def test_upload_limit_on_the_gateway_applies_to_its_routes() -> None:
    def retarget(limit: str) -> Callable[[Targets], None]:
        def step(t: Targets) -> None:
            spec = obj(t, "BackendTrafficPolicy", "mastodon-web-uploads")["spec"]
            spec["targetRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "public"}]
            spec["requestBuffer"]["limit"] = limit
            # A policy attaches to a Gateway of its own namespace.
            for m in t["overlays/production/apps"]:
                if m.identity.kind == "BackendTrafficPolicy":
                    m.body["metadata"]["namespace"] = "envoy-gateway-system"
                    m.identity = type(m.identity)(
                        m.identity.api_version, m.identity.kind, "envoy-gateway-system", m.identity.name
                    )

        return step

    messages = [f.message for f in check(mutate(retarget("32M"))(), "RT-1")]
    assert messages == [
        "requestBuffer limit 32M applies to HTTPRoute mastodon-web; Mastodon accepts uploads up to 99 MB "
        "(use at least 99Mi, 100Mi for the multipart overhead)"
    ]
    assert check(mutate(retarget("1Gi"))(), "RT-1") == []


def test_no_buffer_policy_means_no_envoy_body_limit() -> None:
    # Without a requestBuffer, Envoy streams request bodies to the backend and rejects none for size.
    targets = fresh()
    key = "overlays/production/apps"
    targets[key] = [m for m in targets[key] if m.identity.kind != "BackendTrafficPolicy"]
    assert check(targets, "RT-1") == []


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [("100Mi", 100 << 20), ("99M", 99_000_000), ("104857600", 104857600), ("1Gi", 1 << 30), ("ten", None)],
)
def test_quantity_bytes(quantity: str, expected: int | None) -> None:
    assert quantity_bytes(quantity) == expected


def _surge(value: Any) -> Callable[[Targets], None]:
    return lambda t: obj(t, "Deployment", "mastodon-sidekiq-scheduler")["spec"].update(
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": value, "maxUnavailable": 1}}
    )


def test_scheduler_rolling_update_without_surge_passes() -> None:
    assert check(mutate(_surge(0))(), "SQ-2") == []
    assert check(mutate(_surge("0%"))(), "SQ-2") == []
    assert check(mutate(_surge("10%"))(), "SQ-2") != []


def test_routes_to_services_other_than_mastodons_are_not_go5s_business() -> None:
    # A repository's other apps (no Mastodon behind the route) are not held to the Mastodon ordering rule.
    def _route_elsewhere(t: Targets) -> None:
        for rule in _web_route(t)["spec"]["rules"]:
            for ref in rule.get("backendRefs") or []:
                ref["name"] = "some-other-app"

    assert [f.message for f in check(mutate(_drop_infra_configs_dependency)(), "GO-5")] != []
    findings = check(mutate(_drop_infra_configs_dependency, _route_elsewhere)(), "GO-5")
    assert not [f for f in findings if "mastodon-web" in f.message]


def test_ingress_behind_the_infrastructure_layer_passes_go5_and_rt1() -> None:
    # mastodon-apps -> infra-configs -> infra-controllers (the HelmReleases): reached through dependsOn.
    targets = mutate(_ingress)()
    assert check(targets, "GO-5") == []
    assert check(targets, "RT-1") == []


def test_front_proxies_listed_in_trusted_proxy_ip_pass_rt2() -> None:
    for step in (_trusted_hops(numTrustedHops=1), _trusted_hops(trustedCIDRs=["203.0.113.0/24"])):
        targets = mutate(step)()
        env_map(targets)["TRUSTED_PROXY_IP"] = "127.0.0.1/32,::1/128,10.244.0.0/16,203.0.113.0/24"
        assert check(targets, "RT-2") == []


def test_default_local_traffic_policy_without_proxy_protocol_passes_rt2() -> None:
    # A load balancer that preserves source addresses (no PROXY protocol) with Envoy Gateway's default Local policy.
    targets = mutate(_drop_client_policy, lambda t: _envoy_service(t).update(annotations={}))()
    assert check(targets, "RT-2") == []


def test_a_malformed_trusted_cidr_is_left_to_the_schema() -> None:
    assert check(mutate(_trusted_hops(trustedCIDRs=["not-a-cidr"]))(), "RT-2") == []
