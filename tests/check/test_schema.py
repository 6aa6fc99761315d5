"""Schema validation, repository config, source map and formatters, without kustomize."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gitops.check.findings import CheckResult, Finding, Severity
from gitops.check.formatters import github_report
from gitops.check.registry import all_rules, index_rules
from gitops.check.rules import Rule
from gitops.check.schema import SCHEMAS_DIR, SchemaSet, ValidationOptions, validate_body, validate_manifests
from gitops.check.sourcemap import SourceIndex, duplicate_keys_in
from gitops.config import RepoConfig, load_config, parse_config
from gitops.errors import GitopsError
from gitops.manifests import Identity, manifests_from_build

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "x"}]}},
    },
}
SOPS_SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: app}
stringData:
  key: ENC[AES256_GCM,data:5d9WYyV8,iv:wuxE+q4p,tag:EyM2zosB,type:str]
sops:
  age:
    - recipient: age1henwn645drkd3fa34t27t2w2x0nsgw3w4h62gmg5x5xflyjpy38s5cncph
      enc: |
        -----BEGIN AGE ENCRYPTED FILE-----
        YWdl
        -----END AGE ENCRYPTED FILE-----
  lastmodified: "2025-07-06T17:19:51Z"
  mac: ENC[AES256_GCM,data:5vkr,iv:dCzK,tag:GwL7,type:str]
  encrypted_regex: ^(data|stringData)$
  version: 3.10.2
"""


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.load("1.33")


def _rules(body: dict[str, Any], schemas: SchemaSet, **options: Any) -> list[tuple[str, str, str]]:
    return [(v.rule, v.severity.value, v.path) for v in validate_body(body, schemas, ValidationOptions(**options))]


def test_valid_deployment_passes_and_validators_are_compiled_once(schemas: SchemaSet) -> None:
    assert _rules(DEPLOYMENT, schemas) == []
    assert schemas.validator("apps/v1", "Deployment") is schemas.validator("apps/v1", "Deployment")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["spec"].update(replica=2), [("SCHEMA-UNKNOWN-FIELD", "error", "/spec/replica")]),
        (lambda d: d["metadata"].update(labels={"a": 1}), [("SCHEMA-TYPE", "error", "/metadata/labels/a")]),
        (
            lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"),
            [("SCHEMA-REQUIRED", "error", "/spec/template/spec/containers/0/name")],
        ),
        (lambda d: d.update(kind=None), [("SCHEMA-NO-KIND", "error", "")]),
    ],
)
def test_deployment_violations(schemas: SchemaSet, mutate: Any, expected: list[tuple[str, str, str]]) -> None:
    body = copy.deepcopy(DEPLOYMENT)
    mutate(body)
    assert _rules(body, schemas) == expected


def test_enum_message_lists_the_allowed_values(schemas: SchemaSet) -> None:
    body = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"interval": "10m", "prune": True, "sourceRef": {"kind": "GitRepository", "name": "x"}},
    }
    assert validate_body(body, schemas) == []
    body["spec"]["decryption"] = {"provider": "vault"}
    (violation,) = validate_body(body, schemas)
    assert (violation.rule, violation.path) == ("SCHEMA-VALUE", "/spec/decryption/provider")
    assert violation.message == '"vault" is not one of: sops'


def test_sops_block_is_checked_then_stripped(schemas: SchemaSet) -> None:
    (manifest,) = manifests_from_build(SOPS_SECRET, "t")
    assert _rules(manifest.body, schemas) == []
    manifest.body["sops"]["version"] = "3.9"
    del manifest.body["sops"]["age"]
    assert sorted(_rules(manifest.body, schemas)) == [
        ("SCHEMA-SOPS", "error", "/sops"),
        ("SCHEMA-SOPS", "error", "/sops/version"),
    ]


def test_missing_schema_fails_closed_unless_ignored(schemas: SchemaSet) -> None:
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert _rules(body, schemas) == [("SCHEMA-MISSING", "error", "")]
    assert _rules(body, schemas, ignore_missing_schemas=True) == [("SCHEMA-MISSING", "warning", "")]
    served_without_bundle = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "r"}}
    assert _rules(served_without_bundle, schemas) == [("SCHEMA-MISSING", "error", "")]


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [
        ("extensions/v1beta1", "Ingress"),
        ("policy/v1beta1", "PodDisruptionBudget"),
        ("kustomize.toolkit.fluxcd.io/v1beta1", "Kustomization"),
    ],
)
def test_removed_api_versions_are_errors_even_when_ignoring_missing(
    schemas: SchemaSet, api_version: str, kind: str
) -> None:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}}
    assert _rules(body, schemas, ignore_missing_schemas=True) == [("SCHEMA-UNKNOWN-API-VERSION", "error", "")]


def test_env_configmap_matched_by_prefix_including_hash_suffix(schemas: SchemaSet) -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mastodon-env-5fh9k2"},
        "data": {"DB_SSLMODE": "on"},
    }
    assert _rules(body, schemas) == [("MASTODON-ENV", "error", "/data/DB_SSLMODE")]
    body["metadata"]["name"] = "mastodon-environment"
    assert _rules(body, schemas) == []
    body["metadata"]["name"] = "custom-env"
    assert _rules(body, schemas, env_configmaps=("custom-env",)) == [("MASTODON-ENV", "error", "/data/DB_SSLMODE")]


def test_env_configmap_accepts_documented_values(schemas: SchemaSet) -> None:
    data = {
        "DB_SSLMODE": "no-verify",
        "REDIS_DRIVER": "ruby",
        "PREPARED_STATEMENTS": "false",
        "DB_PORT": "25061",
        "CDN_HOST": "https://assets.example.com",
        "NODE_EXTRA_CA_CERTS": "/etc/mastodon-ca/ca.crt",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
    }
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "mastodon-env"}, "data": data}
    assert _rules(body, schemas) == []


def test_flux_git_repository_is_strict(schemas: SchemaSet) -> None:
    body = {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": "flux-system", "namespace": "flux-system"},
        "spec": {"interval": "1 minute", "url": "git@github.com:x/y", "ref": {"brnach": "main"}},
    }
    assert sorted(_rules(body, schemas)) == [
        ("SCHEMA-UNKNOWN-FIELD", "error", "/spec/ref/brnach"),
        ("SCHEMA-VALUE", "error", "/spec/interval"),
        ("SCHEMA-VALUE", "error", "/spec/url"),
    ]


def test_validate_manifests_carries_origin_and_target(schemas: SchemaSet) -> None:
    (manifest,) = manifests_from_build(json.dumps({**DEPLOYMENT, "spec": {}}), "overlays/x")
    manifest.origin = "base/web/deployment.yaml"
    findings = validate_manifests([manifest], schemas)
    assert {(f.file, f.target, f.identity) for f in findings} == {
        ("base/web/deployment.yaml", "overlays/x", Identity("apps/v1", "Deployment", None, "web"))
    }


def test_every_committed_kubernetes_bundle_is_self_contained() -> None:
    for version_dir in sorted((SCHEMAS_DIR / "kubernetes").iterdir()):
        schema_set = SchemaSet.load(version_dir.name)
        index = json.loads((version_dir / "index.json").read_text())
        for api_version, kinds in index["schemas"].items():
            for kind in kinds:
                validator = schema_set.validator(api_version, kind)
                assert validator is not None
                assert not validator.is_valid({"apiVersion": api_version, "kind": kind, "bogus": 1})


# --- repository config -------------------------------------------------------------------------------------


def test_config_defaults_when_file_is_absent(tmp_path: Path) -> None:
    assert load_config(tmp_path) == RepoConfig()


def test_config_accepts_environments_with_postgres_limits() -> None:
    config = parse_config(
        'kubernetesVersion: "1.34"\ncheck: {ignoreMissingSchemas: true, envConfigMaps: [env]}\n'
        "environments:\n  production:\n    postgres: {maxConnections: 97, poolSize: 60}\n",
        "gitops.yaml",
    )
    assert (config.kubernetes_version, config.ignore_missing_schemas, config.env_configmaps) == ("1.34", True, ("env",))
    assert config.environments["production"]["postgres"]["maxConnections"] == 97


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kubernetesVersion: 1.33\n", 'gitops.yaml: /kubernetesVersion: 1.33 is not of type "string"'),
        ('kubernetesVersion: "1.33"\nkubernetesVersion: "1.34"\n', "gitops.yaml:2: not valid YAML: "),
        ('kubernetesVersion: "1.33"\nenvironments: {prod: {postgres: {maxConections: 5}}}\n', "maxConections"),
        ("- a\n", "gitops.yaml: must be a mapping"),
    ],
)
def test_config_errors_name_the_file_and_problem(text: str, message: str) -> None:
    with pytest.raises(GitopsError) as info:
        parse_config(text, "gitops.yaml")
    assert message in str(info.value) and "\n" not in str(info.value)


# --- source map ------------------------------------------------------------------------------------------


def test_duplicate_keys_are_found_at_every_depth_and_in_every_document() -> None:
    text = "a: 1\nb:\n  - c: 1\n    c: 2\n---\nx: 1\n'x': 2\n\"1\": a\n1: b\n"
    assert duplicate_keys_in(text) == [("c", "/b/0", 4, 3), ("x", "", 7, 6)]


def test_source_map_finds_the_deepest_existing_line(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\n"
        "metadata:\n  name: web\nspec:\n  ports:\n    - port: 80\n      name: http\n"
    )
    source_map = SourceIndex(tmp_path)
    web = Identity("v1", "Service", "ns", "prefix-web")
    assert source_map.line("d.yaml", web, "/spec/ports/0/name") == 13
    assert source_map.line("d.yaml", web, "/spec/ports/0/targetPort") == 12
    assert source_map.line("d.yaml", Identity("v1", "ConfigMap", None, "x"), "/data") is None


# --- registry and formatters -----------------------------------------------------------------------------


def test_rule_registry_refuses_conflicting_definitions() -> None:
    ids = {rule.id for rule in all_rules()}
    assert {"SCHEMA-UNKNOWN-FIELD", "SCHEMA-MISSING", "SCHEMA-DUPLICATE-KEY", "MASTODON-ENV"} <= ids
    other = Rule("SCHEMA-MISSING", Severity.WARNING, "other", "other", "Schema")
    with pytest.raises(ValueError, match="defined twice"):
        index_rules((*all_rules(), other))


def test_github_format_escapes_properties_and_data() -> None:
    finding = Finding("R-1", Severity.WARNING, "50% bad\nsecond line", file="a,b:c.yaml", line=3)
    line = github_report(CheckResult([finding], [], [], "1.33")).splitlines()[0]
    assert line == "::warning file=a%2Cb%3Ac.yaml,line=3,title=R-1::50%25 bad%0Asecond line"


def test_source_map_finds_generator_literals_in_the_kustomization(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        "configMapGenerator:\n  - name: mastodon-env\n    literals:\n      - TZ=UTC\n      - DB_SSLMODE=verify\n"
    )
    identity = Identity("v1", "ConfigMap", None, "mastodon-env-65b4g8864g")
    assert SourceIndex(tmp_path).line("kustomization.yaml", identity, "/data/DB_SSLMODE") == 5


def test_gitops_ignore_suppresses_any_rule_id_and_retired_ids_follow_their_successor() -> None:
    from gitops.check.registry import RETIRED, get_rule
    from gitops.policy.suppress import suppress_findings

    def deployment(annotation: str) -> str:
        return (
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n"
            f"  annotations:\n    gitops/ignore: {annotation!r}\n"
        )

    for annotation, rule in (
        ("SCHEMA-UNKNOWN-FIELD: field served by a newer API", "SCHEMA-UNKNOWN-FIELD"),
        ("SEC-1: retired id, reason kept", "SEC-SECRET-IN-CONFIG"),
    ):
        manifests = manifests_from_build(deployment(annotation), "overlays/x")
        finding = Finding(rule, Severity.ERROR, "m", identity=manifests[0].identity, target="overlays/x")
        other = Finding("SCHEMA-TYPE", Severity.ERROR, "m", identity=manifests[0].identity, target="overlays/x")
        assert suppress_findings([finding, other], manifests, RETIRED) == [other]
    no_reason = manifests_from_build(deployment("SCHEMA-UNKNOWN-FIELD"), "overlays/x")
    kept = Finding("SCHEMA-UNKNOWN-FIELD", Severity.ERROR, "m", identity=no_reason[0].identity, target="overlays/x")
    assert suppress_findings([kept], no_reason, RETIRED) == [kept]
    rule = get_rule("sec-1")
    assert rule is not None and rule.id == "SEC-SECRET-IN-CONFIG"


def test_source_index_reports_invalid_yaml_with_its_line_and_parses_each_file_once(tmp_path: Path) -> None:
    (tmp_path / "base").mkdir()
    (tmp_path / "base/bad.yaml").write_text("a: 1\nb: [1, 2\nc: 3\n")
    (tmp_path / "base/latin1.yaml").write_bytes(b"a: \xe9\n")
    (tmp_path / "base/good.yaml").write_text("a: 1\n---\nb: 2\n")
    index = SourceIndex(tmp_path)
    found = [(f.rule, f.file, f.line) for f in index.findings()]
    assert found == [("SCHEMA-YAML", "base/bad.yaml", 3), ("SCHEMA-YAML", "base/latin1.yaml", None)]
    assert "not UTF-8" in index.findings()[1].message
    good = index.get("base/good.yaml")
    assert [data for _, data in good.documents] == [{"a": 1}, {"b": 2}]
    assert index.get("base/good.yaml") is good
