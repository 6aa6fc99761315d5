"""The comparison engine and the formatters on plain data (no git, no kustomize)."""

from __future__ import annotations

import io
from typing import Any

import pytest

from gitops.diff.engine import compare
from gitops.diff.fields import FieldChange, diff_values
from gitops.diff.formatters import use_colour
from gitops.diff.formatters.markdown import LIMIT, MARKER, format_markdown
from gitops.diff.formatters.text import format_diff_text
from gitops.diff.model import DiffResult, Side
from gitops.manifests import Manifest, identity_of


def manifest(body: dict[str, Any], target: str = "overlays/a", origin: str | None = None) -> Manifest:
    return Manifest(identity_of(body), body, target, origin)


def config_map(name: str, data: dict[str, str], origin: str = "base/kustomization.yaml") -> Manifest:
    return manifest(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "a"}, "data": data},
        origin=origin,
    )


def test_lists_are_matched_by_name_then_container_port_then_key() -> None:
    before = {
        "containers": [{"name": "web", "image": "a:1"}, {"name": "side", "image": "s:1"}],
        "ports": [{"containerPort": 3000, "protocol": "TCP"}],
        "items": [{"key": "a", "path": "x"}],
    }
    after = {
        "containers": [{"name": "side", "image": "s:1"}, {"name": "web", "image": "a:2"}],
        "ports": [{"containerPort": 3000, "protocol": "UDP"}, {"containerPort": 4000}],
        "items": [{"key": "a", "path": "y"}],
    }
    assert diff_values(before, after) == [
        FieldChange("containers[name=web].image", "changed", "a:1", "a:2"),
        FieldChange("containers", "order", ["web", "side"], ["side", "web"]),
        FieldChange("ports[containerPort=3000].protocol", "changed", "TCP", "UDP"),
        FieldChange("ports[containerPort=4000]", "added", None, {"containerPort": 4000}),
        FieldChange("items[key=a].path", "changed", "x", "y"),
    ]


def test_unidentified_lists_compare_by_index_or_whole_and_types_matter() -> None:
    assert diff_values({"args": ["a", "b"]}, {"args": ["a", "c"]}) == [FieldChange("args[1]", "changed", "b", "c")]
    assert diff_values({"args": ["a"]}, {"args": ["a", "b"]}) == [FieldChange("args", "changed", ["a"], ["a", "b"])]
    assert diff_values({"v": 1}, {"v": True}) == [FieldChange("v", "changed", 1, True)]
    assert diff_values({"v": "1"}, {"v": 1}) == [FieldChange("v", "changed", "1", 1)]
    annotations = diff_values({"a": {}}, {"a": {"fluxcd.io/x": "y"}})
    assert annotations == [FieldChange('a["fluxcd.io/x"]', "added", None, "y")]


def test_duplicate_names_fall_back_to_positional_matching() -> None:
    before = {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}
    after = {"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "3"}]}
    assert diff_values(before, after) == [FieldChange("env[1].value", "changed", "2", "3")]


def test_generator_rename_needs_the_same_base_name_and_origin() -> None:
    base = {"overlays/a": [config_map("env-mt8bd5fgk2", {"A": "1"}), config_map("other-bbbbbbbbbb", {"B": "1"})]}
    head = {
        "overlays/a": [
            config_map("env-cccccccccc", {"A": "2"}),
            config_map("other-dddddddddd", {"B": "2"}, origin="overlays/a/kustomization.yaml"),
        ]
    }
    (target,) = compare(base, head)
    statuses = {(c.status, c.identity.name, c.previous_name) for c in target.changes}
    assert statuses == {
        ("changed", "env-cccccccccc", "env-mt8bd5fgk2"),
        ("removed", "other-bbbbbbbbbb", None),  # a generator from another kustomization is not a rename
        ("added", "other-dddddddddd", None),
    }


def test_moves_are_recorded_at_the_destination_and_changes_travel_with_them() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "a"}}
    moved = {**sa, "automountServiceAccountToken": False}
    targets = compare(
        {"overlays/a": [manifest(sa)], "overlays/b": []}, {"overlays/a": [], "overlays/b": [manifest(moved)]}
    )
    (target,) = targets
    (change,) = target.changes
    assert (target.target, change.status, change.from_target) == ("overlays/b", "moved", "overlays/a")
    assert change.fields == [FieldChange("automountServiceAccountToken", "added", None, False)]


def test_same_object_in_two_targets_is_not_a_move() -> None:
    sa = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x", "namespace": "a"}}
    targets = compare(
        {"overlays/a": [manifest(sa)], "overlays/b": [manifest(sa)]}, {"overlays/a": [], "overlays/b": [manifest(sa)]}
    )
    assert [(t.target, [c.status for c in t.changes]) for t in targets] == [("overlays/a", ["removed"])]


def test_encrypted_values_outside_secrets_are_masked_in_field_changes() -> None:
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"k": "ENC[AES256_GCM,data:QUJD,iv:x,tag:y,type:str]"},
        "sops": {"mac": "m"},
    }
    after = {**body, "data": {"k": "ENC[AES256_GCM,data:REVG,iv:x,tag:y,type:str]"}, "sops": {"mac": "n"}}
    ((change,),) = [t.changes for t in compare({"t": [manifest(body)]}, {"t": [manifest(after)]})]
    assert change.fields == [FieldChange("data.k", "changed", "<encrypted>", "<encrypted>")]
    assert "QUJD" not in repr(change.before) and "REVG" not in repr(change.after)


def big_result(resources: int, lines_each: int) -> DiffResult:
    base, head = {}, {}
    for t in range(4):
        name = f"overlays/t{t}"
        base[name] = [config_map(f"cm{i}", {f"k{j}": "old" * 5 for j in range(lines_each)}) for i in range(resources)]
        head[name] = [config_map(f"cm{i}", {f"k{j}": "new" * 5 for j in range(lines_each)}) for i in range(resources)]
    return DiffResult(Side("main (abc)"), Side("working tree"), compare(base, head), rendered=sorted(base))


@pytest.mark.parametrize(("resources", "lines_each"), [(3, 5000), (400, 20), (3000, 1)])
def test_markdown_stays_under_the_comment_limit_and_keeps_the_table(resources: int, lines_each: int) -> None:
    result = big_result(resources, lines_each)
    text = format_markdown(result)
    assert len(text) <= LIMIT
    assert text.startswith(MARKER)
    assert "| Target | Added | Changed | Removed | Moved | Rolling |" in text
    assert f"| `overlays/t0` | 0 | {resources} | 0 | 0 | 0 |" in text or "more target(s)" in text
    assert "comment size limit" in text


def test_small_markdown_shows_every_detail() -> None:
    text = format_markdown(big_result(2, 2))
    assert "comment size limit" not in text
    assert text.count("<details>") == 4 and "@@ data.k0 @@" in text and "+ newnewnewnewnew" in text


def test_colour_only_on_a_terminal_without_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert use_colour(Terminal()) is True
    assert use_colour(io.StringIO()) is False
    assert use_colour(io.StringIO(), "always") is True
    monkeypatch.setenv("NO_COLOR", "1")
    assert use_colour(Terminal()) is False
    assert use_colour(Terminal(), "always") is True
    result = big_result(1, 1)
    assert "\033[" in format_diff_text(result, colour=True) and "\033[" not in format_diff_text(result, colour=False)
