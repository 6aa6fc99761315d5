"""ENV-*: copy-paste mistakes between environments.

A new environment is usually a copy of an existing one (README "Adding an environment"); whatever the copy
keeps from its original (domains, database host, the cluster's sync path, the SOPS data key) makes the two
environments one: a staging deploy writes to production's database, one key opens both environments' secrets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

from pyrage import x25519

from gitops.check.findings import Severity
from gitops.check.integrity import available_identities, data_key_of
from gitops.errors import GitopsError
from gitops.manifests import Manifest
from gitops.policy.context import Environment, PolicyContext
from gitops.policy.env import EnvVar
from gitops.policy.rule import Hit, rule
from gitops.sops.metadata import parse_metadata

CONFIG_AREA = "Secrets and configuration"
FLUX_AREA = "Flux and GitOps"
PER_ENVIRONMENT_SETTINGS = ("LOCAL_DOMAIN", "WEB_DOMAIN", "DB_HOST")


def _settings(env: Environment, name: str) -> dict[str, tuple[EnvVar, Manifest]]:
    """{value: (the variable, the object setting it)} of `name` across the environment's Mastodon workloads
    (explicit values only: WEB_DOMAIN defaulting to LOCAL_DOMAIN is LOCAL_DOMAIN's finding)."""
    found: dict[str, tuple[EnvVar, Manifest]] = {}
    for workload in env.mastodon_workloads():
        main = workload.main
        var = main.env.get(name) if main is not None else None
        if var is not None and var.value:
            found.setdefault(var.value, (var, var.defined_in or workload.manifest))
    return found


@rule(
    "ENV-1",
    Severity.ERROR,
    CONFIG_AREA,
    "Two environments share LOCAL_DOMAIN, WEB_DOMAIN or DB_HOST",
    """Each environment is its own Mastodon instance: the same LOCAL_DOMAIN or WEB_DOMAIN means two instances
    claim one fediverse identity (remote servers cache `user@domain` and its keys), and the same DB_HOST means a
    copied overlay runs its migrations and writes against the other environment's database. Set the new
    environment's own values in its overlay (and environments.<env>.postgres in gitops.yaml).""",
)
def check_shared_settings(ctx: PolicyContext) -> Iterator[Hit]:
    for name in PER_ENVIRONMENT_SETTINGS:
        owners: dict[str, list[tuple[str, EnvVar, Manifest]]] = {}
        for env in sorted(ctx.environments.values(), key=lambda e: e.name):
            for value, (var, holder) in _settings(env, name).items():
                owners.setdefault(value, []).append((env.name, var, holder))
        for value, sharing in owners.items():
            if len(sharing) < 2:
                continue
            for env_name, var, holder in sharing:
                others = ", ".join(other for other, _, _ in sharing if other != env_name)
                yield Hit(
                    f"{name}={value} is also the value of environment(s) {others}; a copied environment keeps"
                    " its original's value: give each environment its own",
                    holder,
                    var.pointer,
                )


@rule(
    "ENV-2",
    Severity.ERROR,
    FLUX_AREA,
    "A cluster's Flux Kustomization syncs another cluster's directory",
    """clusters/<c>/flux-system/gotk-sync.yaml tells the cluster which directory of the repository is its own
    (spec.path). A cluster directory copied from another keeps the original's path, so the new cluster applies
    the other cluster's manifests (and prunes its own). Point spec.path at ./clusters/<c>.""",
)
def check_sync_paths(ctx: PolicyContext) -> Iterator[Hit]:
    for kustomization in ctx.flux:
        if not kustomization.manifest.target.startswith("clusters/"):
            continue
        parts = kustomization.path.split("/")
        # The cluster's own directory name: clusters/<c>/... in Flux mode (the entry path), <c> otherwise.
        home = kustomization.cluster.split("/")
        own = home[1] if len(home) >= 2 and home[0] == "clusters" else kustomization.cluster
        if len(parts) >= 2 and parts[0] == "clusters" and parts[1] != own:
            yield Hit(
                f"Flux Kustomization {kustomization.name} of cluster {own} syncs"
                f" ./{kustomization.path}, cluster {parts[1]}'s directory; set spec.path to ./clusters/{own}",
                kustomization.manifest,
                "/spec/path",
            )


@dataclass(frozen=True)
class _Encrypted:
    environment: str
    manifest: Manifest
    stanzas: frozenset[str]
    """The wrapped data keys (age stanzas) as written."""
    data_key: str | None
    """sha256 of the data key when an identity opens the file (the key itself never leaves data_key_of)."""


def _encrypted_objects(ctx: PolicyContext, identities: tuple[x25519.Identity, ...]) -> list[_Encrypted]:
    out = []
    for env in sorted(ctx.environments.values(), key=lambda e: e.name):
        for manifest in env.manifests:
            block = manifest.body.get("sops")
            if not isinstance(block, dict):
                continue
            source = manifest.origin or str(manifest.identity)
            try:
                meta = parse_metadata(block, source)
            except GitopsError:
                continue  # the schema check reports a broken sops block
            key = data_key_of(meta, source, identities) if identities else None
            digest = hashlib.sha256(key).hexdigest() if key is not None else None
            stanzas = frozenset(s.enc.strip() for s in meta.age)
            out.append(_Encrypted(env.name, manifest, stanzas, digest))
    return out


@rule(
    "ENV-3",
    Severity.ERROR,
    CONFIG_AREA,
    "Two environments' encrypted files share a SOPS data key",
    """A SOPS file is encrypted under one random data key, wrapped for each recipient. An encrypted file copied
    to a new environment keeps that key even after `gitops secrets updatekeys` re-wraps it for the new
    recipients, so whoever can open one environment's secrets can open the other's. Run `gitops secrets rotate
    FILE` on the copy: a new data key, every value re-encrypted. Identical wrapped keys prove the sharing
    without a key; with an age identity (SOPS_AGE_KEY) the data keys themselves are compared, otherwise the
    check says it could not compare them.""",
)
def check_shared_data_keys(ctx: PolicyContext) -> Iterator[Hit]:
    identities = available_identities()
    objects = _encrypted_objects(ctx, identities)
    reported: set[tuple[str, str]] = set()
    unopened = [o for o in objects if o.data_key is None]
    for index, one in enumerate(objects):
        for other in objects[index + 1 :]:
            if one.environment == other.environment:
                continue
            same_key = one.data_key is not None and one.data_key == other.data_key
            if not (same_key or one.stanzas & other.stanzas):
                continue
            for mine, theirs in ((one, other), (other, one)):
                where = (mine.environment, mine.manifest.origin or "")
                if where in reported:
                    continue
                reported.add(where)
                yield Hit(
                    f"encrypted with the same SOPS data key as {theirs.manifest.origin or theirs.manifest.identity}"
                    f" (environment {theirs.environment}); run gitops secrets rotate on the copy",
                    mine.manifest,
                )
    environments = {o.environment for o in objects}
    if len(environments) > 1 and unopened:
        why = "no age identity is set" if not identities else "no available age identity opens them"
        yield Hit(
            f"data keys of {len(unopened)} encrypted object(s) in {len(environments)} environments not compared"
            f" ({unopened[0].manifest.origin or unopened[0].manifest.identity}"
            f"{' and more' if len(unopened) > 1 else ''}): {why}; set SOPS_AGE_KEY or SOPS_AGE_KEY_FILE",
            severity=Severity.WARNING,
        )


RULES = (check_shared_settings, check_sync_paths, check_shared_data_keys)
