"""Kubernetes facts (gitops.k8s), against what kustomize and the Kubernetes API documentation say."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops.k8s import (
    generated_base,
    is_flux_kustomization,
    iter_containers,
    pod_spec_pointer,
    pod_template_labels,
    scaled,
    selects,
    without_generated_hashes,
)
from gitops.kustomize import Kustomize
from gitops.manifests import load_documents
from tests.helpers import write_tree


def test_generated_names_from_the_real_kustomize_are_recognised(tmp_path: Path, kustomize: Kustomize) -> None:
    write_tree(
        tmp_path,
        {
            "kustomization.yaml": """
                configMapGenerator:
                - {name: mastodon-env, literals: [A=1]}
                - {name: other, literals: [B=2, C=3]}
                secretGenerator:
                - {name: creds, literals: [P=x]}
                resources: [plain.yaml]
            """,
            "plain.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain-config}\n",
        },
    )
    names = sorted(d["metadata"]["name"] for d in load_documents(kustomize.build(tmp_path), "build"))
    bases = sorted(str(generated_base(n)) for n in names)
    assert bases == ["None", "creds", "mastodon-env", "other"]  # the plain ConfigMap carries no hash
    assert all(without_generated_hashes(f"reads {n}") == f"reads {generated_base(n) or n}" for n in names)


@pytest.mark.parametrize(
    "name",
    ["web", "mastodon-env", "env-aaaaaaaaaa", "env-5fgk2mt8b", "env-5fgk2mt8bd1", "-5fgk2mt8bd", "env-5FGK2MT8BD"],
)
def test_names_kustomize_cannot_have_generated_carry_no_hash(name: str) -> None:
    # kustomize encodes 10 hex digits with 0,1,3,a,e replaced by g,h,k,m,t: no vowel, no 0/1/3, lower case.
    assert generated_base(name) is None
    assert generated_base("env-5fgk2mt8bd") == "env"


def test_flux_kustomization_is_the_toolkit_kind_only() -> None:
    assert is_flux_kustomization({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization"})
    assert not is_flux_kustomization({"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"})
    assert not is_flux_kustomization({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "GitRepository"})


def test_pod_specs_and_containers_of_every_workload_kind() -> None:
    container = {"name": "c", "image": "i"}
    template = {"spec": {"initContainers": [{"name": "init"}], "containers": [container, "not-a-container"]}}
    bodies = {
        "Pod": {"kind": "Pod", "spec": template["spec"]},
        "Deployment": {"kind": "Deployment", "spec": {"template": template}},
        "Job": {"kind": "Job", "spec": {"template": template}},
        "CronJob": {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}},
    }
    for kind, body in bodies.items():
        base = pod_spec_pointer(kind)
        assert list(iter_containers(body)) == [
            (f"{base}/initContainers/0", {"name": "init"}),
            (f"{base}/containers/0", container),
        ]
    assert pod_spec_pointer("CronJob") == "/spec/jobTemplate/spec/template/spec"
    assert list(iter_containers({"kind": "ConfigMap", "data": {}})) == []
    assert list(iter_containers({"kind": "Deployment", "spec": {"template": "broken"}})) == []


def test_label_selectors_as_the_api_documents_them() -> None:
    labels = {"app": "web", "tier": "front"}
    assert selects({"app": "web"}, labels)  # a Service's plain map
    assert not selects({"app": "web", "tier": "back"}, labels)
    assert selects({"matchLabels": {"app": "web"}}, labels)
    expressions = [
        ({"key": "tier", "operator": "In", "values": ["front", "back"]}, True),
        ({"key": "tier", "operator": "NotIn", "values": ["front"]}, False),
        ({"key": "app", "operator": "Exists"}, True),
        ({"key": "zone", "operator": "Exists"}, False),
        ({"key": "zone", "operator": "DoesNotExist"}, True),
    ]
    for expression, expected in expressions:
        assert selects({"matchExpressions": [expression]}, labels) is expected, expression
    assert not selects({}, labels) and not selects(None, labels)  # an empty selector selects nothing here


def test_int_or_string_scales_like_the_deployment_controller() -> None:
    # maxSurge rounds up, maxUnavailable rounds down (Deployment docs: "Max Surge", "Max Unavailable").
    assert scaled("25%", 3, round_up=True) == 1 and scaled("25%", 3, round_up=False) == 0
    assert scaled(2, 10, round_up=True) == 2 and scaled("2", 10, round_up=False) == 2
    assert scaled("x%", 10, round_up=True) == 0 and scaled(None, 10, round_up=True) == 0


def test_pod_labels_come_from_the_template_or_the_pod_itself() -> None:
    labels = {"app": "web"}
    template = {"metadata": {"labels": labels}, "spec": {}}
    assert pod_template_labels({"kind": "Deployment", "spec": {"template": template}}) == labels
    cron = {"kind": "CronJob", "spec": {"jobTemplate": {"spec": {"template": template}}}}
    assert pod_template_labels(cron) == labels
    assert pod_template_labels({"kind": "Pod", "metadata": {"labels": labels}, "spec": {}}) == labels
    assert pod_template_labels({"kind": "Deployment", "metadata": {"labels": labels}, "spec": {}}) == {}
