"""The Flux render record (flux.record) and the diff it allows (diff.flux_recorded), on real temporary git
repositories: a full render of a clean checkout records its tree; a diff of the working tree against that
tree equals the ordinary diff (the record moved away) in every field and every output format, for every kind
of change of tests/flux/test_diff_selection.py, and builds only the leaves a change reaches when the record
can bound it. Whatever the record cannot vouch for (absent, damaged, another context, untracked or ignored
YAML, Flux markers, structural files, added or removed files, SOPS variables) takes the ordinary path.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from pyrage import x25519

from gitops.config import load_config
from gitops.diff.flux import FluxOptions
from gitops.diff.formatters import DIFF_FORMATS, format_diff
from gitops.diff.model import DiffResult
from gitops.diff.refs import diff_refs
from gitops.errors import GitopsError
from gitops.flux.record import records_directory
from gitops.full_render import render_all
from gitops.workspace import TargetOptions
from tests.diff.support import git, init_repo, sops_secret
from tests.flux.test_diff_selection import CASES, INTERIOR, _cm, _files, _names, _sync

# Cases whose change the record bounds: files only leaves read, or files no target reads.
RECORDED = {"own file", "shared base", "unrelated file"}


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GITOPS_CACHE_DIR", raising=False)
    monkeypatch.delenv("GITOPS_NO_CACHE", raising=False)


def _render(root: Path) -> None:
    render_all(root, load_config(root), TargetOptions(), root / "rendered")


def _records() -> list[Path]:
    directory = records_directory()
    return sorted(directory.glob("*.json")) if directory.is_dir() else []


def _change(root: Path, written: dict[str, str], removed: tuple[str, ...] = ()) -> None:
    for rel, text in written.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    for rel in removed:
        (root / rel).unlink()


def _without_record(root: Path, flux: FluxOptions | None = None) -> DiffResult:
    """The ordinary path: the same diff with the records moved away (and put back)."""
    directory = records_directory()
    parked = directory.with_name("parked")
    shutil.move(directory, parked)
    try:
        return diff_refs(root, "main", flux=flux)
    finally:
        shutil.move(parked, directory)


def _assert_same(fast: DiffResult, slow: DiffResult) -> None:
    """Equal in everything; `rendered` names what each path built, so the reports are compared with it set alike."""
    assert dataclasses.replace(fast, rendered=slow.rendered) == slow
    for fmt in DIFF_FORMATS:
        assert format_diff(dataclasses.replace(fast, rendered=slow.rendered), fmt) == format_diff(slow, fmt)


@pytest.mark.parametrize("case", sorted(CASES))
def test_recorded_diff_equals_the_ordinary_diff(case: str, tmp_path: Path) -> None:
    written, removed, must_render = CASES[case]
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    assert len(_records()) == 1
    _change(root, written, removed)
    fast = diff_refs(root, "main")
    slow = _without_record(root)
    _assert_same(fast, slow)
    if case in RECORDED:
        assert set(fast.rendered) == must_render  # only the leaves it reaches: no interior target built
    else:
        assert fast.rendered == slow.rendered
        assert set(slow.rendered) >= INTERIOR


def test_the_record_is_of_the_tree_not_the_branch(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    git(root, "commit", "-q", "--allow-empty", "-m", "same tree")  # main's tree, another commit
    _change(root, {"apps/other/b/cm.yaml": _cm("other", "edited")})
    result = diff_refs(root, "HEAD")
    assert result.rendered == sorted(_names("b", "other"))
    assert [t.target for t in result.targets] == sorted(_names("b", "other"))


def test_a_damaged_record_or_pack_takes_the_ordinary_path(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    _change(root, {"apps/other/b/cm.yaml": _cm("other", "edited")})
    slow = _without_record(root)
    (record,) = _records()
    pack = record.with_suffix(".pack")
    text = pack.read_text(encoding="utf-8")
    pack.write_text(text.replace("other", "OTHER"), encoding="utf-8")
    damaged_pack = diff_refs(root, "main")
    assert damaged_pack == slow
    record.write_text(record.read_text(encoding="utf-8")[:-20], encoding="utf-8")
    damaged = diff_refs(root, "main")
    assert damaged == slow


def test_another_context_takes_the_ordinary_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    _change(root, {"apps/other/b/cm.yaml": _cm("other", "edited")})
    given = FluxOptions(clusters=("clusters/a", "clusters/b"))
    assert diff_refs(root, "main", flux=given) == _without_record(root, given)
    monkeypatch.setenv("KUSTOMIZE_PLUGIN_HOME", str(tmp_path / "plugins"))  # part of kustomize's identity
    other_tool = diff_refs(root, "main")
    assert set(other_tool.rendered) > INTERIOR


@pytest.mark.parametrize(
    ("what", "files", "ignore"),
    [
        ("untracked YAML discovery reads", {"notes/extra.yaml": _cm("extra", "x")}, ""),
        ("ignored YAML discovery reads", {"notes/extra.local.yaml": _cm("extra", "x")}, "*.local.yaml\n"),
        ("a tracked input edited", {"apps/other/b/cm.yaml": _cm("other", "edited")}, ""),
    ],
)
def test_no_record_when_the_render_is_not_the_commits(
    what: str, files: dict[str, str], ignore: str, tmp_path: Path
) -> None:
    root = init_repo(tmp_path / "repo", {**_files(), **({".gitignore": ignore} if ignore else {})})
    _change(root, files)
    _render(root)
    assert _records() == [], what


def test_a_clean_render_records_once(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    (record,) = _records()
    data = json.loads(record.read_text(encoding="utf-8"))
    targets = {t["name"]: t for t in data["targets"]}
    assert {n for n, t in targets.items() if t["leafInputs"] is None} == INTERIOR
    assert targets["clusters/a/flux-system/web"]["sources"] == [
        ["clusters/a/flux-system/flux-system", "ConfigMap", "flux-system", "cluster-vars"]
    ]
    assert "tenants/a/ks.yaml" in data["structural"] and "clusters/a/vars.yaml" in data["structural"]
    assert "apps/other/a/cm.yaml" not in data["structural"]


@pytest.mark.parametrize(
    ("what", "written", "ignore"),
    [
        ("the edit adds a Flux marker", {"apps/other/b/cm.yaml": _cm("other", "kustomize.toolkit.fluxcd.io")}, ""),
        ("an ignored YAML file appears", {"apps/other/b/cm.yaml": _cm("other", "e"), "x/y.local.yaml": "a: 1\n"}, "1"),
        ("a file no target reads removed", {}, ""),
    ],
)
def test_changes_the_record_cannot_bound_take_the_ordinary_path(
    what: str, written: dict[str, str], ignore: str, tmp_path: Path
) -> None:
    files = {**_files(), **({".gitignore": "*.local.yaml\n"} if ignore else {})}
    root = init_repo(tmp_path / "repo", files)
    _render(root)
    assert len(_records()) == 1
    _change(root, written, () if written else ("README.md",))
    fast, slow = diff_refs(root, "main"), _without_record(root)
    _assert_same(fast, slow)
    assert fast.rendered == slow.rendered, what


def test_sops_variables_are_not_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    identity = x25519.Identity.generate()
    key_file = tmp_path / "age.txt"
    key_file.write_text(f"{identity}\n", encoding="utf-8")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))
    files = _files()
    named = "web-secret\n  namespace: flux-system"
    files["clusters/a/secret.yaml"] = sops_secret(named, {"TOKEN": "s3cr3t-plaintext"}, identity.to_public())
    files["apps/web/base/cm.yaml"] = _cm("web", "https://${DOMAIN}/${TOKEN}")
    files["tenants/a/ks.yaml"] = files["tenants/a/ks.yaml"].replace(
        "    - {kind: ConfigMap, name: cluster-vars}\n",
        "    - {kind: ConfigMap, name: cluster-vars}\n    - {kind: Secret, name: web-secret}\n",
    )
    assert _sync("a") in files["clusters/a/flux-system/gotk-sync.yaml"]
    root = init_repo(tmp_path / "repo", files)
    _render(root)
    (record,) = _records()
    for stored in (record, record.with_suffix(".pack")):
        assert "s3cr3t-plaintext" not in stored.read_text(encoding="utf-8")
    targets = {t["name"]: t for t in json.loads(record.read_text(encoding="utf-8"))["targets"]}
    assert targets["clusters/a/flux-system/web"]["output"] is None
    _change(root, {"apps/web/base/cm.yaml": _cm("web", "http://${DOMAIN}/${TOKEN}")})
    fast, slow = diff_refs(root, "main"), _without_record(root)
    _assert_same(fast, slow)
    assert fast.rendered == slow.rendered  # web needs the Secret: the ordinary path


def test_the_bench_change_on_the_synthetic_repository(tmp_path: Path) -> None:
    """make bench's change (one replicas line of one overlay whose base substitutes from cluster-vars)."""
    from gitops.bench.synthetic_flux import generate_flux

    repo = generate_flux(tmp_path / "repo", 4)
    root = repo.root
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "synthetic")
    _render(root)
    assert len(_records()) == 1
    overlays = [k for k in repo.kustomizations[len(repo.clusters) :] if k.has_kustomization]
    for overlay in overlays[:2]:
        kustomization = root / overlay.path / "kustomization.yaml"
        text = kustomization.read_text(encoding="utf-8")
        marker = "      path: /spec/replicas\n      value: "
        start = text.index(marker) + len(marker)
        end = text.index("\n", start)
        kustomization.write_text(f"{text[:start]}{int(text[start:end]) + 3}{text[end:]}", encoding="utf-8")
    fast, slow = diff_refs(root, "main"), _without_record(root)
    _assert_same(fast, slow)
    assert len(fast.targets) == 2
    assert len(fast.rendered) == 2 < len(slow.rendered)


def _flux_system_cm(name: str) -> str:
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: flux-system}}\ndata: {{X: x}}\n"


@pytest.mark.parametrize(
    ("what", "files"),
    [
        ("a substituteFrom object held by a leaf", {"apps/plain/vars.yaml": _flux_system_cm("leaf-vars")}),
        ("a substituteFrom object held by two targets", {"apps/plain/vars.yaml": _flux_system_cm("cluster-vars")}),
        ("a symlink in the tree", {}),
    ],
)
def test_no_record_when_the_diff_could_not_reason_from_it(what: str, files: dict[str, str], tmp_path: Path) -> None:
    tree = {**_files(), **files}
    if "leaf-vars" in str(files):
        substitute = "    - {kind: ConfigMap, name: cluster-vars}\n"
        tree["tenants/a/ks.yaml"] = tree["tenants/a/ks.yaml"].replace(
            substitute, substitute + "    - {kind: ConfigMap, name: leaf-vars}\n"
        )
    root = tmp_path / "repo"
    if not files:
        (root / "docs").mkdir(parents=True)
        (root / "docs/link").symlink_to("../README.md")
    init_repo(root, tree)
    _render(root)
    assert _records() == [], what


def test_the_recorded_diff_leaves_the_source_memo_alone(tmp_path: Path) -> None:
    """Two kustomization parses do not pay for loading and rewriting the whole memo (source_memo.paused)."""
    from gitops import source_memo

    root = init_repo(tmp_path / "repo", _files())
    _render(root)
    source_memo._save()  # what the render learnt, as its exit would write it
    memo = records_directory().parent / "sources.json"
    before = memo.read_bytes()
    source_memo._state = None  # a new process
    _change(root, {"apps/other/b/kustomization.yaml": "resources: [cm.yaml]\nnamespace: changed\n"})
    assert diff_refs(root, "main").rendered == sorted(_names("b", "other"))
    assert source_memo._state is None
    source_memo._save()
    assert memo.read_bytes() == before


def test_the_sync_sources_spec_ignore_holds_for_the_leaves_built_again(tmp_path: Path) -> None:
    """A leaf that starts reading a file the GitRepository's spec.ignore leaves out of the artifact fails on
    both paths alike (the record keeps the ignore rules the render applied)."""
    files = _files()
    for cluster in ("a", "b"):
        sync = f"clusters/{cluster}/flux-system/gotk-sync.yaml"
        files[sync] = files[sync].replace(
            "spec: {interval: 1m,", "spec: {ignore: /apps/other/b/unused.yaml, interval: 1m,"
        )
    files["apps/other/b/unused.yaml"] = _cm("unused", "u")
    root = init_repo(tmp_path / "repo", files)
    _render(root)
    assert len(_records()) == 1
    _change(root, {"apps/other/b/kustomization.yaml": "resources: [cm.yaml, unused.yaml]\n"})
    with pytest.raises(GitopsError) as recorded:
        diff_refs(root, "main")
    with pytest.raises(GitopsError) as ordinary:
        _without_record(root)
    assert str(recorded.value) == str(ordinary.value)
    assert "unused.yaml" in str(recorded.value)
