"""CRD schemas: the committed catalog (schemas/crds), the converter, in-repo CRDs, gitops.yaml `schemas:` dirs."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops.check.pipeline import check_repo
from gitops.check.schema import SCHEMAS_DIR, SchemaSet, validate_body
from gitops.config import load_config
from gitops.crd_schemas import CrdSchemas, object_meta_defs, served_versions, to_json_schema
from gitops.errors import GitopsError
from tests.helpers import run_gitops, write_tree

EXAMPLES = Path(__file__).parent / "fixtures" / "crd_examples"
CATALOG = SCHEMAS_DIR / "crds"
# Versions the CRDs also serve whose schema equals the example's version for these fields.
ALSO_SERVED = {
    ("gateway.networking.k8s.io/v1", "GatewayClass"): "gateway.networking.k8s.io/v1beta1",
    ("gateway.networking.k8s.io/v1", "Gateway"): "gateway.networking.k8s.io/v1beta1",
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "gateway.networking.k8s.io/v1beta1",
    ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant"): "gateway.networking.k8s.io/v1",
}


def _examples() -> list[dict[str, Any]]:
    out = []
    for file in sorted(EXAMPLES.glob("*.yaml")):
        for body in yaml.safe_load_all(file.read_text()):
            out.append(body)
            other = ALSO_SERVED.get((body["apiVersion"], body["kind"]))
            if other:
                out.append({**copy.deepcopy(body), "apiVersion": other})
    return out


EXAMPLE_BODIES = _examples()


@pytest.fixture(scope="module")
def schemas() -> SchemaSet:
    return SchemaSet.load("1.33")


def _rules(body: dict[str, Any], schemas: SchemaSet) -> list[tuple[str, str]]:
    return sorted((v.rule, v.path) for v in validate_body(body, schemas))


def test_every_catalog_file_has_an_example() -> None:
    covered = set()
    for body in EXAMPLE_BODIES:
        group, _, version = body["apiVersion"].rpartition("/")
        covered.add(f"{group}/{body['kind'].lower()}_{version}.json")
    committed = {str(p.relative_to(CATALOG)) for p in CATALOG.glob("*/*.json")}
    assert committed == covered
    assert len(committed) == 33


@pytest.mark.parametrize("body", EXAMPLE_BODIES, ids=lambda b: f"{b['kind']}-{b['apiVersion'].rsplit('/', 1)[1]}")
def test_each_kind_accepts_a_valid_example_and_rejects_unknown_fields_and_wrong_types(
    body: dict[str, Any], schemas: SchemaSet
) -> None:
    assert _rules(body, schemas) == []
    typo = copy.deepcopy(body)
    typo["spec"]["bogusField"] = 1
    typo["metadata"]["lables"] = {"a": "b"}
    assert _rules(typo, schemas) == [
        ("SCHEMA-UNKNOWN-FIELD", "/metadata/lables"),
        ("SCHEMA-UNKNOWN-FIELD", "/spec/bogusField"),
    ]
    wrong = {**copy.deepcopy(body), "spec": [body["spec"]]}
    assert _rules(wrong, schemas) == [("SCHEMA-TYPE", "/spec")]
    wrong_meta = copy.deepcopy(body)
    wrong_meta["metadata"]["labels"] = ["not", "a", "map"]
    assert _rules(wrong_meta, schemas) == [("SCHEMA-TYPE", "/metadata/labels")]


def test_flux_kustomization_keeps_prune_and_source_ref_required(schemas: SchemaSet) -> None:
    body = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"interval": "10m", "path": "./apps"},
    }
    assert _rules(body, schemas) == [("SCHEMA-REQUIRED", "/spec/prune"), ("SCHEMA-REQUIRED", "/spec/sourceRef")]


def test_helm_release_values_keep_unknown_fields_but_the_chart_spec_does_not(schemas: SchemaSet) -> None:
    (release,) = [b for b in EXAMPLE_BODIES if b["kind"] == "HelmRelease"]
    release = copy.deepcopy(release)
    release["spec"]["values"]["whatever"] = {"deeply": {"nested": True}}
    assert _rules(release, schemas) == []
    release["spec"]["chart"]["spec"]["chrat"] = "x"
    assert _rules(release, schemas) == [("SCHEMA-UNKNOWN-FIELD", "/spec/chart/spec/chrat")]


def test_int_or_string_port_accepts_both_and_rejects_other_types(schemas: SchemaSet) -> None:
    (monitor,) = [b for b in EXAMPLE_BODIES if b["kind"] == "ServiceMonitor"]
    monitor = copy.deepcopy(monitor)
    monitor["spec"]["endpoints"] = [{"targetPort": 8080}, {"targetPort": "web"}]
    assert _rules(monitor, schemas) == []
    monitor["spec"]["endpoints"] = [{"targetPort": True}]
    assert [rule for rule, _ in _rules(monitor, schemas)] == ["SCHEMA-VALUE"]


@pytest.mark.parametrize(
    ("api_version", "kind", "rule"),
    [
        ("gateway.networking.k8s.io/v1", "HTTPRoute", None),
        ("gateway.networking.k8s.io/v1alpha2", "HTTPRoute", "SCHEMA-UNKNOWN-API-VERSION"),
        ("gateway.networking.k8s.io/v1alpha2", "TCPRoute", "SCHEMA-MISSING"),
        ("gateway.networking.k8s.io/v1", "ListenerSet", "SCHEMA-MISSING"),
        ("kustomize.toolkit.fluxcd.io/v1beta2", "Kustomization", "SCHEMA-UNKNOWN-API-VERSION"),
        ("networking.k8s.io/v1beta1", "Ingress", "SCHEMA-UNKNOWN-API-VERSION"),
        # CRD groups under k8s.io that no Kubernetes release serves (external-snapshotter, external-dns)
        ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass", "SCHEMA-MISSING"),
        ("externaldns.k8s.io/v1alpha1", "DNSEndpoint", "SCHEMA-MISSING"),
    ],
)
def test_gateway_api_kinds_are_crds_not_kubernetes_releases(
    api_version: str, kind: str, rule: str | None, schemas: SchemaSet
) -> None:
    body = {"apiVersion": api_version, "kind": kind, "metadata": {"name": "x"}, "spec": {}}
    violations = [v for v in validate_body(body, schemas) if v.path == ""]
    assert [v.rule for v in violations] == ([rule] if rule else [])
    for violation in violations:
        if not api_version.startswith(("networking.k8s.io/", "kustomize.")):
            assert "Kubernetes" not in violation.message
    if rule == "SCHEMA-UNKNOWN-API-VERSION" and kind == "HTTPRoute":
        assert violations[0].message == (
            "The gateway.networking.k8s.io CRD does not serve HTTPRoute in gateway.networking.k8s.io/v1alpha2"
            " (served: gateway.networking.k8s.io/v1, gateway.networking.k8s.io/v1beta1)"
        )


# --- the converter, on a CRD written for the purpose ----------------------------------------------------------

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, listKind: WidgetList, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1}
                port:
                  x-kubernetes-int-or-string: true
                colour: {type: string, nullable: true, enum: [red, blue]}
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                template:
                  type: object
                  x-kubernetes-embedded-resource: true
                  properties:
                    spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
                either:
                  type: object
                  properties:
                    a: {type: string}
                    b: {type: string}
                  oneOf:
                    - required: [a]
                    - required: [b]
    - name: v1beta1
      served: false
      storage: false
      schema:
        openAPIV3Schema: {type: object}
"""
WIDGET = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 2}}


def _widget_schemas(schemas: SchemaSet) -> SchemaSet:
    fresh = SchemaSet.load(schemas.kubernetes_version)
    fresh.crds.learn([(yaml.safe_load(WIDGET_CRD), "crd.yaml")])
    return fresh


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"size": 2, "port": 8080}, []),
        ({"size": 2, "port": "http"}, []),
        ({"size": 2, "port": 1.5}, [("SCHEMA-TYPE", "/spec/port")]),
        ({"size": 2, "colour": None}, []),
        ({"size": 2, "colour": "green"}, [("SCHEMA-VALUE", "/spec/colour")]),
        ({"size": 2, "extra": {"anything": {"goes": [1]}}}, []),
        ({"size": 2, "template": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}}, []),
        (
            {"size": 2, "template": {"metadata": {"nmae": "p"}}},
            [("SCHEMA-UNKNOWN-FIELD", "/spec/template/metadata/nmae")],
        ),
        ({"size": 2, "either": {"a": "x"}}, []),
        (
            {"size": 2, "either": {"c": "x"}},
            [("SCHEMA-UNKNOWN-FIELD", "/spec/either/c"), ("SCHEMA-VALUE", "/spec/either")],
        ),
        ({"size": "2"}, [("SCHEMA-TYPE", "/spec/size")]),
        ({}, [("SCHEMA-REQUIRED", "/spec/size")]),
        ({"size": 2, "sise": 3}, [("SCHEMA-UNKNOWN-FIELD", "/spec/sise")]),
    ],
)
def test_converted_crd_follows_the_api_server_pruning_rules(
    spec: dict[str, Any], expected: list[tuple[str, str]], schemas: SchemaSet
) -> None:
    assert _rules({**WIDGET, "spec": spec}, _widget_schemas(schemas)) == expected


def test_only_served_versions_become_schemas(schemas: SchemaSet) -> None:
    widgets = _widget_schemas(schemas)
    body = {**WIDGET, "apiVersion": "example.com/v1beta1"}
    (violation,) = validate_body(body, widgets)
    assert violation.rule == "SCHEMA-UNKNOWN-API-VERSION"
    assert violation.message.endswith("(served: example.com/v1)")


def test_root_metadata_is_object_meta_even_where_the_crd_says_only_object(schemas: SchemaSet) -> None:
    meta = object_meta_defs(json.loads((SCHEMAS_DIR / "kubernetes/v1.33/namespace-v1.json").read_text()))
    crd = yaml.safe_load(WIDGET_CRD)
    schema = to_json_schema(
        crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], "example.com", "v1", "Widget", meta, "t"
    )
    assert schema["properties"]["metadata"] == {"$ref": "#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}
    assert _rules({**WIDGET, "metadata": {"name": "w", "labelz": {}}}, _widget_schemas(schemas)) == [
        ("SCHEMA-UNKNOWN-FIELD", "/metadata/labelz")
    ]


def test_a_crd_without_group_or_kind_teaches_nothing_and_its_own_schema_reports_it(schemas: SchemaSet) -> None:
    crds = CrdSchemas({})
    broken = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "b"}}
    broken["spec"] = {"group": "x", "scope": "Namespaced", "versions": []}
    assert crds.learn([(broken, "crds/broken.yaml")]) == set()
    assert _rules(broken, schemas) == [("SCHEMA-REQUIRED", "/spec/names")]
    with pytest.raises(GitopsError, match=r"^crds/broken.yaml: CustomResourceDefinition without spec.group"):
        served_versions(broken, {}, "crds/broken.yaml")


def test_the_crd_itself_is_validated_strictly(schemas: SchemaSet) -> None:
    crd = yaml.safe_load(WIDGET_CRD)
    assert _rules(crd, schemas) == []
    crd["spec"]["versions"][0]["servd"] = True
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["typo"] = 1
    assert _rules(crd, schemas) == [
        ("SCHEMA-UNKNOWN-FIELD", "/spec/versions/0/schema/openAPIV3Schema/properties/spec/typo"),
        ("SCHEMA-UNKNOWN-FIELD", "/spec/versions/0/servd"),
    ]


# --- end to end: a CRD in the rendered output, extra catalog directories ------------------------------------

CONFIG = 'kubernetesVersion: "1.33"\ncheck:\n  disable: [policy]\n'


def _repo(root: Path, widget_spec: str, config: str = CONFIG, extra: dict[str, str] | None = None) -> Path:
    files = {
        "overlays/test/kustomization.yaml": "resources: [../../base/app]\n",
        "base/app/kustomization.yaml": "resources: [crd.yaml, widget.yaml]\n",
        "base/app/crd.yaml": WIDGET_CRD,
        "base/app/widget.yaml": f"apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\nspec:\n{widget_spec}",
        **(extra or {}),
    }
    write_tree(root, files)
    (root / "gitops.yaml").write_text(config)
    return root


@pytest.mark.kustomize
def test_a_crd_in_the_rendered_output_validates_its_resources(tmp_path: Path) -> None:
    good = check_repo(_repo(tmp_path / "good", "  size: 3\n"))
    assert good.findings == [] and len(good.manifests) == 2
    bad = check_repo(_repo(tmp_path / "bad", "  size: 3\n  colur: red\n"))
    assert [(f.rule, f.file, f.line, f.path) for f in bad.findings] == [
        ("SCHEMA-UNKNOWN-FIELD", "base/app/widget.yaml", 7, "/spec/colur")
    ]


@pytest.mark.kustomize
def test_an_in_repo_crd_takes_precedence_over_the_committed_catalog(tmp_path: Path) -> None:
    # This repository installs its own Certificate CRD whose spec has only `size`: its rules win.
    crd = WIDGET_CRD.replace("example.com", "cert-manager.io").replace("Widget", "Certificate")
    repo = _repo(
        tmp_path,
        "  size: 3\n",
        extra={
            "base/app/crd.yaml": crd.replace("widgets.cert-manager.io", "certificates.cert-manager.io"),
            "base/app/widget.yaml": "apiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata:\n  name: c\n"
            "spec:\n  size: 3\n",
        },
    )
    assert check_repo(repo).findings == []


WIDGET_CATALOG_SCHEMA = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}, "additionalProperties": False},
    },
    "additionalProperties": False,
}


@pytest.mark.kustomize
def test_extra_schema_dirs_from_gitops_yaml_validate_kinds_nothing_else_knows(tmp_path: Path) -> None:
    config = CONFIG + "schemas:\n  - schemas-extra\n"
    extra = {
        "base/app/kustomization.yaml": "resources: [widget.yaml]\n",
        "schemas-extra/example.com/widget_v1.json": json.dumps(WIDGET_CATALOG_SCHEMA),
    }
    good = _repo(tmp_path / "good", "  size: 3\n", config, extra)
    assert check_repo(good).findings == []
    bad = _repo(tmp_path / "bad", "  size: three\n", config, extra)
    assert [(f.rule, f.path) for f in check_repo(bad).findings] == [("SCHEMA-TYPE", "/spec/size")]
    without = _repo(tmp_path / "without", "  size: 3\n", CONFIG, extra)
    assert [f.rule for f in check_repo(without).findings] == ["SCHEMA-MISSING"]


def test_extra_schema_dirs_come_before_the_committed_catalog(tmp_path: Path) -> None:
    extra = tmp_path / "mine"
    (extra / "cert-manager.io").mkdir(parents=True)
    (extra / "cert-manager.io" / "certificate_v1.json").write_text(json.dumps(WIDGET_CATALOG_SCHEMA))
    schemas = SchemaSet.load("1.33", extra_dirs=[extra])
    body = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": "c"}, "spec": {"size": 1}}
    assert _rules(body, schemas) == []
    assert _rules(body, SchemaSet.load("1.33")) != []


def test_missing_extra_schema_dir_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "present").mkdir()
    (tmp_path / "gitops.yaml").write_text(CONFIG + "schemas:\n  - present\n  - absent/dir\n")
    with pytest.raises(GitopsError) as raised:
        load_config(tmp_path)
    assert str(raised.value) == "gitops.yaml:6: schemas: absent/dir: no such directory (relative to the repo root)"
    proc = run_gitops("-C", str(tmp_path), "check", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "gitops: error: gitops.yaml:6: schemas: absent/dir: no such directory (relative to the repo root)"
    ]


# --- the regeneration command ------------------------------------------------------------------------------


def test_regeneration_writes_the_catalog_layout(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "widgets.yaml").write_text(WIDGET_CRD)
    (tmp_path / "in" / "notes.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    proc = run_gitops_module("gitops.crd_schemagen", str(tmp_path / "in"), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.json")) == [
        "example.com/widget_v1.json"
    ]
    schema = json.loads((tmp_path / "out" / "example.com" / "widget_v1.json").read_text())
    assert schema["properties"]["spec"]["additionalProperties"] is False
    assert "description" not in json.dumps(schema)


def test_regeneration_without_any_crd_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    proc = run_gitops_module(
        "gitops.crd_schemagen", str(tmp_path / "cm.yaml"), "--out", str(tmp_path / "o"), cwd=tmp_path
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"gitops.crd_schemagen: error: {tmp_path / 'cm.yaml'}: no CustomResourceDefinition with a served version"
    ]
    assert not (tmp_path / "o").exists()


def run_gitops_module(module: str, *args: str, cwd: Path) -> Any:
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.kustomize
def test_an_in_repo_crd_whose_schema_cannot_compile_is_a_one_line_error(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "  size: 3\n")
    crd = repo / "base/app/crd.yaml"
    crd.write_text(crd.read_text().replace("size: {type: integer, minimum: 1}", "size: {type: integer, pattern: '(['}"))
    proc = run_gitops("-C", str(repo), "check", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        'gitops: error: Widget (example.com/v1) from base/app/crd.yaml: cannot compile: "([" is not a "regex"'
    ]
