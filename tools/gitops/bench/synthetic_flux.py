"""A synthetic home-lab Flux repository: clusters bootstrapped by `flux bootstrap`, apps as Flux Kustomizations.

Layout (deterministic: the same arguments always write the same bytes)::

    clusters/<cluster>/flux-system/gotk-components.yaml  the flux-system Namespace (the real file also holds the
                                                        controllers and CRDs, which no target build reads)
    clusters/<cluster>/flux-system/gotk-sync.yaml        GitRepository flux-system (this repository) and
                                                        Kustomization flux-system with path ./clusters/<cluster>
    clusters/<cluster>/flux-system/kustomization.yaml    the two files above, as `flux bootstrap` writes it
    clusters/<cluster>/cluster-vars.yaml                 ConfigMap flux-system/cluster-vars: the cluster's
                                                        variables for postBuild.substituteFrom
    clusters/<cluster>/apps/<app>.yaml                   one Flux Kustomization (kustomize.toolkit.fluxcd.io/v1)
                                                        per app, in namespace flux-system
    apps/<app>/base/                                     Deployment, Service, ConfigMap, HorizontalPodAutoscaler
                                                        and their kustomization.yaml, shared by every cluster
    apps/<app>/<cluster>/kustomization.yaml              the cluster's overlay of the base (namespace, image tag,
                                                        replicas and resources patches, labels)
    apps/<app>/<cluster>/*.yaml                          instead, for every tenth overlay: plain manifests and no
                                                        kustomization.yaml, so Flux generates one

`./clusters/<cluster>` itself has no kustomization.yaml either (as after `flux bootstrap`): Flux generates one
holding flux-system/, cluster-vars.yaml and the apps/*.yaml Flux Kustomizations.

Each app is one of six variants (its index modulo 6), the same in every cluster so that the shared base's
`${var}` references always have a provider: plain; postBuild.substitute only; substituteFrom the cluster-vars
ConfigMap only; both; and two plain variants with targetNamespace or spec.patches. Independently, every fifth
app dependsOn the app before it, and every fourth sets targetNamespace.

`flux_generated=True` writes, into every spec.path lacking one, the kustomization.yaml Flux would generate (all
manifests of the directory, subdirectories with a kustomization file as directories). That copy is what a plain
`kustomize build` loop can build; the repository under test never has those files.
"""

from __future__ import annotations

import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

CLUSTERS = ("production", "staging", "lab")
APPS_PER_CLUSTER = 100
FLUX_NAMESPACE = "flux-system"
CLUSTER_VARS = "cluster-vars"
# Variables the cluster-vars ConfigMap provides, and those each substituting Flux Kustomization sets inline.
CLUSTER_VARIABLES = ("cluster_name", "cluster_domain", "timezone", "storage_class")
INLINE_VARIABLES = ("app_log_level", "app_host")
_VARIANTS = ("plain", "substitute", "substitute-from", "both", "target-namespace", "patches")


@dataclass(frozen=True)
class FluxKustomization:
    """One generated Flux Kustomization: where it is declared and what it builds."""

    cluster: str
    name: str
    path: str
    """spec.path, relative to the repository root (without the leading ./)."""
    has_kustomization: bool
    """False when spec.path holds plain manifests and Flux generates the kustomization."""

    @property
    def namespace(self) -> str:
        return FLUX_NAMESPACE


@dataclass(frozen=True)
class SyntheticFluxRepo:
    root: Path
    clusters: tuple[str, ...]
    kustomizations: tuple[FluxKustomization, ...]
    """Every Flux Kustomization, the clusters' flux-system ones first, then the apps in cluster order."""

    def entry_paths(self) -> list[str]:
        return [f"clusters/{c}/flux-system" for c in self.clusters]


def app_name(index: int) -> str:
    return f"app-{index:03d}"


def variant(index: int) -> str:
    return _VARIANTS[index % len(_VARIANTS)]


def substitutes_inline(index: int) -> bool:
    return variant(index) in ("substitute", "both")


def substitutes_from(index: int) -> bool:
    return variant(index) in ("substitute-from", "both")


def has_target_namespace(index: int) -> bool:
    return variant(index) == "target-namespace" or index % 4 == 3


def depends_on(index: int) -> str | None:
    return app_name(index - 1) if index % 5 == 4 else None


def flux_generates(cluster_index: int, index: int) -> bool:
    """Every tenth overlay (staggered per cluster) is a directory of plain manifests."""
    return (index + cluster_index) % 10 == 7


def _dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def _gotk_sync(cluster: str) -> str:
    return _dedent(
        f"""
        # This manifest was generated by flux. DO NOT EDIT.
        ---
        apiVersion: source.toolkit.fluxcd.io/v1
        kind: GitRepository
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 1m0s
          ref:
            branch: main
          secretRef:
            name: flux-system
          url: ssh://git@github.com/example/home-ops
        ---
        apiVersion: kustomize.toolkit.fluxcd.io/v1
        kind: Kustomization
        metadata:
          name: flux-system
          namespace: flux-system
        spec:
          interval: 10m0s
          path: ./clusters/{cluster}
          prune: true
          sourceRef:
            kind: GitRepository
            name: flux-system
        """
    )


_GOTK_COMPONENTS = _dedent(
    """
    ---
    # This manifest was generated by flux. DO NOT EDIT.
    apiVersion: v1
    kind: Namespace
    metadata:
      labels:
        app.kubernetes.io/instance: flux-system
        app.kubernetes.io/part-of: flux
        pod-security.kubernetes.io/warn: restricted
        pod-security.kubernetes.io/warn-version: latest
      name: flux-system
    """
)

_BOOTSTRAP_KUSTOMIZATION = _dedent(
    """
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    resources:
    - gotk-components.yaml
    - gotk-sync.yaml
    """
)


def _cluster_vars(cluster: str) -> str:
    return _dedent(
        f"""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {CLUSTER_VARS}
          namespace: {FLUX_NAMESPACE}
        data:
          cluster_name: {cluster}
          cluster_domain: {cluster}.home.example
          timezone: Europe/Berlin
          storage_class: {"ceph-block" if cluster == "production" else "local-path"}
        """
    )


def _flux_kustomization(cluster: str, index: int) -> str:
    name = app_name(index)
    lines = [
        "---",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1",
        "kind: Kustomization",
        "metadata:",
        f"  name: {name}",
        f"  namespace: {FLUX_NAMESPACE}",
        "spec:",
        "  interval: 30m",
        "  retryInterval: 1m",
        "  timeout: 5m",
        f"  path: ./apps/{name}/{cluster}",
        "  prune: true",
        "  wait: false",
        "  sourceRef:",
        "    kind: GitRepository",
        "    name: flux-system",
        "  commonMetadata:",
        "    labels:",
        f"      app.kubernetes.io/name: {name}",
    ]
    if has_target_namespace(index):
        lines.append(f"  targetNamespace: {name}")
    dependency = depends_on(index)
    if dependency:
        lines += ["  dependsOn:", f"  - name: {dependency}"]
    if variant(index) == "patches":
        lines += [
            "  patches:",
            "  - target:",
            "      kind: Deployment",
            f"      name: {name}",
            "    patch: |-",
            "      - op: add",
            "        path: /spec/template/metadata/annotations/reloader.stakater.com~1auto",
            '        value: "true"',
        ]
    if substitutes_inline(index) or substitutes_from(index):
        lines.append("  postBuild:")
    if substitutes_inline(index):
        lines += [
            "    substitute:",
            f"      app_log_level: {'debug' if cluster == 'lab' else 'info'}",
            f"      app_host: {name}.{cluster}.home.example",
        ]
    if substitutes_from(index):
        lines += ["    substituteFrom:", "    - kind: ConfigMap", f"      name: {CLUSTER_VARS}"]
    return "\n".join(lines) + "\n"


def _variable_env(index: int) -> list[str]:
    """ConfigMap entries of the base that reference Flux variables (quoted: substitution happens on text)."""
    entries = []
    if substitutes_inline(index):
        entries += ['  LOG_LEVEL: "${app_log_level}"', '  PUBLIC_URL: "https://${app_host}"']
    if substitutes_from(index):
        entries += [
            '  CLUSTER: "${cluster_name}"',
            '  TZ: "${timezone:=Etc/UTC}"',
            '  SMTP_HOST: "smtp.${cluster_domain}"',
        ]
    return entries


def _base_files(index: int) -> dict[str, str]:
    name = app_name(index)
    port = 8000 + index
    env_lines = "\n".join(
        [
            f"  APP_NAME: {name}",
            f'  HTTP_PORT: "{port}"',
            '  METRICS_ENABLED: "true"',
            "  CACHE_DIR: /cache",
            "  DATA_DIR: /data",
            *_variable_env(index),
        ]
    )
    host_annotation = (
        '    external-dns.alpha.kubernetes.io/hostname: "${app_host}"\n' if substitutes_inline(index) else ""
    )
    return {
        "kustomization.yaml": _dedent(
            f"""
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            labels:
            - pairs:
                app.kubernetes.io/part-of: home-ops
            resources:
            - configmap.yaml
            - deployment.yaml
            - service.yaml
            - hpa.yaml
            images:
            - name: ghcr.io/example/{name}
              newTag: 1.{index % 7}.{index % 11}
            """
        ),
        "configmap.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}-env\n  labels:\n"
            f"    app.kubernetes.io/name: {name}\ndata:\n{env_lines}\n"
        ),
        "deployment.yaml": _dedent(
            f"""
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: {name}
              labels:
                app.kubernetes.io/name: {name}
            spec:
              replicas: 1
              revisionHistoryLimit: 3
              strategy:
                type: RollingUpdate
              selector:
                matchLabels:
                  app.kubernetes.io/name: {name}
              template:
                metadata:
                  labels:
                    app.kubernetes.io/name: {name}
                  annotations:
                    prometheus.io/scrape: "true"
                spec:
                  automountServiceAccountToken: false
                  securityContext:
                    runAsNonRoot: true
                    runAsUser: 65534
                    runAsGroup: 65534
                    fsGroup: 65534
                    seccompProfile:
                      type: RuntimeDefault
                  containers:
                  - name: app
                    image: ghcr.io/example/{name}:latest
                    ports:
                    - name: http
                      containerPort: {port}
                    envFrom:
                    - configMapRef:
                        name: {name}-env
                    readinessProbe:
                      httpGet:
                        path: /healthz
                        port: http
                      periodSeconds: 10
                    livenessProbe:
                      httpGet:
                        path: /healthz
                        port: http
                      initialDelaySeconds: 30
                      periodSeconds: 30
                    resources:
                      requests:
                        cpu: 10m
                        memory: 64Mi
                      limits:
                        memory: 256Mi
                    securityContext:
                      allowPrivilegeEscalation: false
                      readOnlyRootFilesystem: true
                      capabilities:
                        drop:
                        - ALL
                    volumeMounts:
                    - name: cache
                      mountPath: /cache
                  volumes:
                  - name: cache
                    emptyDir: {{}}
            """
        ),
        "service.yaml": (
            f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  annotations:\n"
            f'    prometheus.io/port: "{port}"\n{host_annotation}'
            + _dedent(
                f"""
                spec:
                  type: ClusterIP
                  selector:
                    app.kubernetes.io/name: {name}
                  ports:
                  - name: http
                    port: 80
                    targetPort: http
                """
            )
        ),
        "hpa.yaml": _dedent(
            f"""
            apiVersion: autoscaling/v2
            kind: HorizontalPodAutoscaler
            metadata:
              name: {name}
            spec:
              scaleTargetRef:
                apiVersion: apps/v1
                kind: Deployment
                name: {name}
              minReplicas: 1
              maxReplicas: {2 + index % 4}
              metrics:
              - type: Resource
                resource:
                  name: cpu
                  target:
                    type: Utilization
                    averageUtilization: 80
            """
        ),
    }


def _overlay_kustomization(cluster: str, index: int) -> str:
    name = app_name(index)
    replicas = 1 + (index + len(cluster)) % 3
    return _dedent(
        f"""
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        namespace: {name}
        resources:
        - ../base
        labels:
        - pairs:
            home-ops/cluster: {cluster}
        images:
        - name: ghcr.io/example/{name}
          newTag: 1.{index % 7}.{(index + len(cluster)) % 11}
        patches:
        - target:
            kind: Deployment
            name: {name}
          patch: |-
            - op: replace
              path: /spec/replicas
              value: {replicas}
        - target:
            kind: Deployment
            name: {name}
          patch: |-
            - op: replace
              path: /spec/template/spec/containers/0/resources/limits/memory
              value: {128 * replicas}Mi
        """
    )


def _plain_manifests(cluster: str, index: int) -> dict[str, str]:
    """The overlay as plain manifests: the base's objects with namespace, cluster label and image tag set."""
    name = app_name(index)
    files = {}
    for rel, text in _base_files(index).items():
        if rel == "kustomization.yaml":
            continue
        manifest = yaml.safe_load(text)
        manifest["metadata"]["namespace"] = name
        manifest["metadata"].setdefault("labels", {})["home-ops/cluster"] = cluster
        if manifest["kind"] == "Deployment":
            manifest["spec"]["template"]["spec"]["containers"][0]["image"] = f"ghcr.io/example/{name}:1.{index % 7}.0"
        files[rel] = yaml.safe_dump(manifest, sort_keys=False)
    return files


def _manifests_for_flux(directory: Path, top: Path) -> list[str]:
    """What Flux's generated kustomization lists: manifests, and subdirectories that have their own kustomization."""
    found = []
    for entry in sorted(directory.iterdir()):
        if entry.is_dir():
            if (entry / "kustomization.yaml").is_file():
                found.append(entry.relative_to(top).as_posix())
            else:
                found += _manifests_for_flux(entry, top)
        elif entry.suffix == ".yaml":
            found.append(entry.relative_to(top).as_posix())
    return found


def _generated_kustomization(directory: Path) -> str:
    body = "".join(f"- {r}\n" for r in _manifests_for_flux(directory, directory))
    return f"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{body}"


def generate_flux(
    dest: Path,
    apps_per_cluster: int = APPS_PER_CLUSTER,
    clusters: tuple[str, ...] = CLUSTERS,
    *,
    flux_generated: bool = False,
) -> SyntheticFluxRepo:
    """Write the synthetic Flux repository at `dest` (replacing it)."""
    if dest.exists():
        shutil.rmtree(dest)
    files: dict[str, str] = {}
    kustomizations: list[FluxKustomization] = []
    apps: list[FluxKustomization] = []
    for cluster_index, cluster in enumerate(clusters):
        top = f"clusters/{cluster}"
        files[f"{top}/flux-system/gotk-components.yaml"] = _GOTK_COMPONENTS
        files[f"{top}/flux-system/gotk-sync.yaml"] = _gotk_sync(cluster)
        files[f"{top}/flux-system/kustomization.yaml"] = _BOOTSTRAP_KUSTOMIZATION
        files[f"{top}/{CLUSTER_VARS}.yaml"] = _cluster_vars(cluster)
        kustomizations.append(FluxKustomization(cluster, "flux-system", top, has_kustomization=False))
        for index in range(apps_per_cluster):
            name = app_name(index)
            overlay = f"apps/{name}/{cluster}"
            files[f"{top}/apps/{name}.yaml"] = _flux_kustomization(cluster, index)
            generated = flux_generates(cluster_index, index)
            if generated:
                for rel, text in _plain_manifests(cluster, index).items():
                    files[f"{overlay}/{rel}"] = text
            else:
                files[f"{overlay}/kustomization.yaml"] = _overlay_kustomization(cluster, index)
                for rel, text in _base_files(index).items():
                    files[f"apps/{name}/base/{rel}"] = text
            apps.append(FluxKustomization(cluster, name, overlay, has_kustomization=not generated))
    for rel, text in files.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    kustomizations += apps
    if flux_generated:
        for ks in kustomizations:
            if not ks.has_kustomization:
                directory = dest / ks.path
                (directory / "kustomization.yaml").write_text(_generated_kustomization(directory), encoding="utf-8")
    return SyntheticFluxRepo(dest, clusters, tuple(kustomizations))
