"""Flux builds go through the render cache: a second render runs no kustomize and writes the same bytes; one
changed input byte rebuilds that target only; the cache holds kustomize's output, never a substituted value."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from gitops.flux.graph import render_flux
from gitops.kustomize import Kustomize
from gitops.sops import parse_identities
from tests.diff.test_diff_base_side import logging_kustomize
from tests.flux.helpers import copy_fixture, obj, substituting_from_vars, target
from tests.flux.test_substitution import APP, _add_encrypted_secret
from tests.helpers import run_gitops, write_tree
from tests.sops_helpers import TEST_KEY_FILE

EXAMPLE_TARGETS = 8  # 2 clusters x (flux-system, infra-controllers, infra-configs, apps)
# Both clusters build infrastructure/controllers and infrastructure/configs alike: one key each. Built at the
# same time, both may miss, so a cold render runs 6 to 8 builds.
DISTINCT_BUILDS = 6


def _rendered(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "rendered").rglob("*.yaml"))}


def _render(root: Path, log: Path, env: dict[str, str], *args: str) -> tuple[dict[str, bytes], int]:
    """Render into rendered/; the files written and the number of kustomize runs it took."""
    before = len(log.read_text().splitlines()) if log.exists() else 0
    proc = run_gitops("render", *args, cwd=root, env=env)
    assert proc.returncode == 0, proc.stderr
    return _rendered(root), len(log.read_text().splitlines()) - before


def test_second_render_is_served_from_the_cache(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("example", tmp_path)
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    env = {"KUSTOMIZE": str(wrapper)}
    first, cold_builds = _render(root, log, env)
    assert len(first) == EXAMPLE_TARGETS
    assert DISTINCT_BUILDS <= cold_builds <= EXAMPLE_TARGETS
    second, warm_builds = _render(root, log, env)
    assert warm_builds == 0
    assert second == first


@pytest.mark.parametrize(("args", "extra_env"), [(("--no-cache",), {}), ((), {"GITOPS_NO_CACHE": "1"})])
def test_no_cache_builds_every_target(
    tmp_path: Path, kustomize: Kustomize, args: tuple[str, ...], extra_env: dict[str, str]
) -> None:
    root = copy_fixture("example", tmp_path)
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    env = {"KUSTOMIZE": str(wrapper)}
    first, _ = _render(root, log, env)
    again, builds = _render(root, log, {**env, **extra_env}, *args)
    assert builds == EXAMPLE_TARGETS
    assert again == first


def test_one_changed_byte_rebuilds_that_target_only(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("example", tmp_path)
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    env = {"KUSTOMIZE": str(wrapper)}
    first, _ = _render(root, log, env)
    values = root / "apps/staging/podinfo-values.yaml"  # read by the staging apps target alone
    text = values.read_text()
    assert "podinfo.staging" in text
    values.write_text(text.replace("podinfo.staging", "podinfo.stagingX"))
    second, builds = _render(root, log, env)
    assert builds == 1
    changed = "rendered/clusters/staging/flux-system/apps.yaml"
    assert b"podinfo.stagingX" in second[changed] and b"podinfo.stagingX" not in first[changed]
    assert {k: v for k, v in second.items() if k != changed} == {k: v for k, v in first.items() if k != changed}


def test_generated_kustomization_inputs_are_in_the_key(tmp_path: Path, kustomize: Kustomize) -> None:
    """A spec.path without a kustomization builds the one Flux generates: its listed files are the inputs."""
    root = copy_fixture("substitution", tmp_path)
    wrapper, log = logging_kustomize(tmp_path, kustomize)
    env = {"KUSTOMIZE": str(wrapper)}
    first, cold_builds = _render(root, log, env)
    objects = root / "app/objects.yaml"
    objects.write_text(objects.read_text().replace("image: nginx", "image: nginx:1.27"))
    second, builds = _render(root, log, env)
    assert (cold_builds, builds) == (3, 1)  # the entry, vars and app; then app alone
    changed = "rendered/clusters/subst/flux-system/app.yaml"
    assert b"nginx:1.27" in second[changed] and b"nginx:1.27" not in first[changed]
    (root / "app/more.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: more\n")
    third, builds = _render(root, log, env)
    assert builds == 1  # a new file changes the generated kustomization's resources
    assert b"name: more" in third[changed]


def test_cache_holds_no_substituted_value(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    _add_encrypted_secret(root)
    identities = parse_identities(TEST_KEY_FILE.read_text(), "test key")
    result = render_flux(root, kustomize=kustomize, identities=identities)
    assert result is not None
    data = obj(target(result, APP), "ConfigMap", "app-production")["data"]
    assert data["token"] == "s3cr3t"  # the decrypted value was substituted into the rendered object
    stored = b"".join(p.read_bytes() for p in Path(os.environ["GITOPS_CACHE_DIR"]).rglob("*") if p.is_file())
    assert b"app-${CLUSTER}" in stored  # app's kustomize output is in the cache, as written
    for sentinel in (b"s3cr3t", b"czNjcjN0", b"app-production"):  # plain, base64, a substituted name
        assert sentinel not in stored


def test_parsed_output_is_remembered_only_when_json_keeps_it(tmp_path: Path) -> None:
    """kustomize's output, parsed, is kept as JSON beside it: a later parse of the same output is that JSON,
    equal to parsing the YAML. Output JSON cannot keep exactly (a date) is parsed every time; a damaged entry
    is parsed again."""
    from types import SimpleNamespace

    from gitops.cache import RenderCache
    from gitops.flux.build import _parsed
    from gitops.manifests import load_documents

    store = RenderCache(tmp_path / "cache")
    run_cache: Any = SimpleNamespace(store=store)
    plain = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  n: "1"\n  flag: "true"\n'
    assert _parsed(run_cache, plain, "t") == load_documents(plain, "t")
    assert store.size() > 0
    entries = sorted((tmp_path / "cache").rglob("*"))
    assert _parsed(run_cache, plain, "t") == load_documents(plain, "t")  # from the entry now
    for entry in (e for e in entries if e.is_file()):
        entry.write_bytes(b"garbage")
    assert _parsed(run_cache, plain, "t") == load_documents(plain, "t")

    dated = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  annotations:\n    since: 2024-01-01\n"
    before = store.size()
    first = _parsed(run_cache, dated, "t")
    assert first == load_documents(dated, "t") and store.size() == before  # a date: not JSON, not kept
    assert type(_parsed(run_cache, dated, "t")[0]["metadata"]["annotations"]["since"]).__name__ == "date"


def _substituting_repo(root: Path) -> Path:
    """`app` substitutes from the ConfigMap `vars` renders (no Secret: its step may be kept)."""
    return write_tree(
        root,
        {
            **substituting_from_vars("app", "./app", "{CLUSTER: production}"),
            "app/cm.yaml": """
                apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: app-${CLUSTER}
                  namespace: default
                data:
                  where: ${CLUSTER:=nowhere}
            """,
        },
    )


SUBSTITUTING_APP = "clusters/c/flux-system/app"


def test_build_step_is_remembered_and_follows_its_variables(tmp_path: Path, kustomize: Kustomize) -> None:
    """The postBuild step of a target substituting from a ConfigMap is kept with the text render writes: a
    second render writes the same bytes as one without the cache, and a changed variable changes the output."""
    root = _substituting_repo(tmp_path / "repo")
    env = {"GITOPS_CACHE_DIR": str(tmp_path / "cache")}
    first = run_gitops("render", cwd=root, env=env)
    assert first.returncode == 0, first.stderr
    kept = _rendered(root)
    app = f"rendered/{SUBSTITUTING_APP}.yaml"
    assert b"name: app-production" in kept[app]
    again = run_gitops("render", cwd=root, env=env)
    assert again.returncode == 0, again.stderr
    assert _rendered(root) == kept
    uncached = run_gitops("render", "--no-cache", cwd=root, env=env)
    assert uncached.returncode == 0, uncached.stderr
    assert _rendered(root) == kept
    (root / "vars/cm.yaml").write_text((root / "vars/cm.yaml").read_text().replace("production", "staging"))
    changed = run_gitops("render", cwd=root, env=env)
    assert changed.returncode == 0, changed.stderr
    assert b"name: app-staging" in _rendered(root)[app] and b"production" not in _rendered(root)[app]


def test_a_second_run_takes_the_step_from_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gitops.config import load_config
    from gitops.workspace import open_workspace

    monkeypatch.setenv("GITOPS_CACHE_DIR", str(tmp_path / "cache"))
    root = _substituting_repo(tmp_path / "repo")
    first = open_workspace(root, load_config(root))
    assert first.flux is not None and target(first.flux, SUBSTITUTING_APP).text is None  # worked out here
    written = {r.target: r.text for r in first.render()}
    second = open_workspace(root, load_config(root))
    assert second.flux is not None and target(second.flux, SUBSTITUTING_APP).text == written[SUBSTITUTING_APP]
    assert {r.target: r.text for r in second.render()} == written


def test_build_step_with_a_decrypted_secret_is_never_kept(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    _add_encrypted_secret(root)
    cache = tmp_path / "cache"
    env = {"GITOPS_CACHE_DIR": str(cache), "SOPS_AGE_KEY_FILE": str(TEST_KEY_FILE)}
    for _ in range(2):
        proc = run_gitops("render", cwd=root, env=env)
        assert proc.returncode == 0, proc.stderr
    assert b"s3cr3t" in _rendered(root)[f"rendered/{APP}.yaml"]  # substituted into the rendered object
    stored = b"".join(p.read_bytes() for p in cache.rglob("*") if p.is_file())
    for sentinel in (b"s3cr3t", b"czNjcjN0", b"app-production"):  # plain, base64, a substituted name
        assert sentinel not in stored
    assert b"app-${CLUSTER}" in stored  # app's kustomize output is kept, as written
