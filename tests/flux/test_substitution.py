"""postBuild variable substitution as kustomize-controller documents it: substituteFrom ConfigMaps/Secrets in
list order (later wins), then spec.postBuild.substitute over all of them; optional references may be
absent; `kustomize.toolkit.fluxcd.io/substitute: disabled` skips an object; values are substituted in the
object's YAML, which is parsed again (so `replicas: ${REPLICAS:=2}` becomes the number 2)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.flux.graph import render_flux
from gitops.flux.model import FluxRender
from gitops.kustomize import Kustomize
from gitops.sops import Scope, encrypt_text, parse_identities
from tests.flux.helpers import copy_fixture, fixture, obj, target
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT

APP = "clusters/subst/flux-system/app"


@pytest.fixture(scope="module")
def rendered(kustomize: Kustomize) -> FluxRender:
    result = render_flux(fixture("substitution"), kustomize=kustomize)
    assert result is not None
    return result


def test_variables_from_another_kustomizations_configmap(rendered: FluxRender) -> None:
    config = obj(target(rendered, APP), "ConfigMap", "app-production")
    assert config["data"] == {
        "host": "web.example.org",  # APP inline, DOMAIN from cluster-vars (rendered by the `vars` Kustomization)
        "region": "us-east-1",  # inline substitute overrides cluster-vars
        "size": "large",  # the later substituteFrom (cluster-overrides) overrides the earlier one
        "upper": "PRODUCTION",
        "dotted": "example-org",
        "fallback": "fallback",
        "empty": "[]",  # unset variables become empty outside strict mode
        "escaped": "${CLUSTER}",
        "shell": "$HOME",
        "token": "none",  # the optional Secret is absent
    }
    assert rendered.warnings == []


def test_disabled_annotation_keeps_the_object(rendered: FluxRender) -> None:
    kept = obj(target(rendered, APP), "ConfigMap", "kept-as-written")
    assert kept["data"] == {"cluster": "${CLUSTER}"}


def test_substituted_text_is_parsed_again(rendered: FluxRender) -> None:
    assert obj(target(rendered, APP), "Deployment", "web")["spec"]["replicas"] == 2


def test_vars_target_itself_is_not_substituted(rendered: FluxRender) -> None:
    assert (
        obj(target(rendered, "clusters/subst/flux-system/vars"), "ConfigMap", "cluster-vars")["data"]["SIZE"] == "small"
    )


def _edit(root: Path, old: str, new: str) -> None:
    ks = root / "clusters/subst/ks.yaml"
    text = ks.read_text()
    assert old in text
    ks.write_text(text.replace(old, new, 1))


def test_missing_required_reference_warns_and_unknown_references_stay(tmp_path: Path, kustomize: Kustomize) -> None:
    # Flux retries such a Kustomization until the object exists (commonly a Secret an ExternalSecret creates);
    # its keys are unknown here, so variables no other source sets are left as written, not emptied.
    root = copy_fixture("substitution", tmp_path)
    _edit(root, "name: not-rendered-anywhere\n        optional: true", "name: not-rendered-anywhere")
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    assert [w for w in result.warnings if "ConfigMap/flux-system/not-rendered-anywhere is not in the" in w]
    data = obj(target(result, APP), "ConfigMap", "app-production")["data"]
    assert data["host"] == "web.example.org"  # known variables still resolve
    assert data["empty"] == "[${UNSET_VAR}]"  # unknown: may come from the missing ConfigMap
    assert data["token"] == "${TOKEN}"
    assert data["escaped"] == "${CLUSTER}"  # the escape is still undone


def test_invalid_variable_name_is_an_error(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    _edit(root, "APP: web", "my-app: web")
    with pytest.raises(GitopsError, match=f"{APP}: 'my-app' var name is invalid"):
        render_flux(root, kustomize=kustomize)


def test_strict_mode_names_the_object(tmp_path: Path, kustomize: Kustomize) -> None:
    with pytest.raises(
        GitopsError, match=r'ConfigMap/app-\$\{CLUSTER\}: envsubst error: variable not set \(strict mode\): "UNSET_VAR"'
    ):
        render_flux(fixture("substitution"), kustomize=kustomize, strict=True)


def test_no_postbuild_means_no_substitution(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    text = (root / "clusters/subst/ks.yaml").read_text()
    start, end = text.index("  postBuild:"), text.index("---")
    (root / "clusters/subst/ks.yaml").write_text(text[:start] + text[end:])
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    assert obj(target(result, APP), "ConfigMap", "app-${CLUSTER}")["data"]["escaped"] == "$${CLUSTER}"


def _add_encrypted_secret(root: Path) -> None:
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n"
        f"data:\n  TOKEN: {base64.b64encode(b's3cr3t').decode()}\nstringData:\n  SIZE: xl\n"
    )
    encrypted = encrypt_text(
        secret,
        "yaml",
        "secret.yaml",
        recipients=[TEST_RECIPIENT],
        scope=Scope("encrypted_regex", "^(data|stringData)$"),
    )
    (root / "vars/secret.yaml").write_text(encrypted)


def test_encrypted_secret_with_an_identity(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    _add_encrypted_secret(root)
    identities = parse_identities(TEST_KEY_FILE.read_text(), "test key")
    result = render_flux(root, kustomize=kustomize, identities=identities)
    assert result is not None
    data = obj(target(result, APP), "ConfigMap", "app-production")["data"]
    assert (data["token"], data["size"]) == ("s3cr3t", "xl")  # data is base64, stringData plain
    assert result.warnings == []
    secret = obj(target(result, "clusters/subst/flux-system/vars"), "Secret", "cluster-secrets")
    assert "s3cr3t" not in str(secret) and "sops" in secret  # the rendered Secret stays encrypted


def test_encrypted_secret_without_an_identity(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    _add_encrypted_secret(root)
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    data = obj(target(result, APP), "ConfigMap", "app-production")["data"]
    assert data["token"] == "${TOKEN}"
    assert result.warnings == [
        f"{APP}: substituteFrom Secret/cluster-secrets is SOPS-encrypted and no age identity can open it; "
        "these variables stay unsubstituted: SIZE, TOKEN"
    ]


def test_plain_secret_data_is_base64(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("substitution", tmp_path)
    (root / "vars/secret.yaml").write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: cluster-secrets\n  namespace: flux-system\n"
        "data:\n  TOKEN: dG9rZW4K\n"  # "token\n": Flux drops the newline
    )
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    assert obj(target(result, APP), "ConfigMap", "app-production")["data"]["token"] == "token"
