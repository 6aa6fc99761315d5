"""The hot commands import only what they use: a listing, a recorded diff and a named target run as a user
runs them (a fresh interpreter), and none of them loads the modules of paths it does not take (the checks,
jsonschema, the full render and its records, the diff modes it did not choose). Behaviour, not timing: a
module imported is start-up paid, on every run."""

from __future__ import annotations

from pathlib import Path

from tests.diff.support import init_repo
from tests.flux.test_diff_selection import _cm, _files
from tests.helpers import loaded, modules_imported_by

# What checks, SOPS and full renders load (and a gitops.yaml with content: the test repositories' is empty).
NEVER = {
    "gitops.check.pipeline",
    "gitops.check.schema",
    "gitops.policy",
    "jsonschema",
    "jsonschema_rs",
    "ruamel",
    "cryptography",
    "gitops.sops",
    "gitops.full_render",
}


def _imports(cache: Path, *args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    return modules_imported_by(*args, cwd=cwd or cache.parent, env={"XDG_CACHE_HOME": str(cache)})


def test_a_recorded_diff_loads_neither_other_diff_modes_nor_the_render(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    cache = tmp_path / "cache"
    code, _ = _imports(cache, "-C", str(root), "render")
    assert code == 0
    (root / "apps/other/b/cm.yaml").write_text(_cm("other", "changed"), encoding="utf-8")
    code, modules = _imports(cache, "-C", str(root), "diff", "--base", "main", "-o", "json")
    assert code == 1
    assert "gitops.diff.flux_recorded" in modules
    other_paths = {"gitops.diff.directory", "gitops.diff.shared_builds", "gitops.flux.graph", "gitops.render_record"}
    assert loaded(modules, NEVER | other_paths | {"gitops.check", "gitops.workspace", "gitops.shards"}) == set()


def test_a_flux_listing_loads_no_records_and_no_checks(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    code, modules = _imports(tmp_path / "cache", "-C", str(root), "render", "--list")
    assert code == 0
    assert "gitops.flux.graph" in modules
    records = {"gitops.check", "gitops.render_record", "gitops.flux.record", "gitops.diff"}
    assert loaded(modules, NEVER | records) == set()


def test_a_named_target_loads_no_workspace(tmp_path: Path) -> None:
    files = {"overlays/x/kustomization.yaml": "resources: [cm.yaml]\n", "overlays/x/cm.yaml": _cm("x", "1")}
    root = init_repo(tmp_path / "repo", files)
    code, modules = _imports(tmp_path / "cache", "render", "overlays/x", "--out", "-", cwd=root)
    assert code == 0
    assert "gitops.named_target" in modules  # its preflight finds duplicate keys as check does (check.sourcemap)
    general = {
        "gitops.workspace",
        "gitops.flux.graph",
        "gitops.flux.discovery",
        "gitops.render_record",
        "gitops.shards",
    }
    assert loaded(modules, NEVER | general | {"gitops.flux.record", "gitops.diff"}) == set()


def test_a_directory_mode_diff_loads_no_flux_record_and_no_flux_graph(tmp_path: Path) -> None:
    files = {"overlays/x/kustomization.yaml": "resources: [cm.yaml]\n", "overlays/x/cm.yaml": _cm("x", "1")}
    root = init_repo(tmp_path / "repo", files)
    (root / "overlays/x/cm.yaml").write_text(_cm("x", "2"), encoding="utf-8")
    code, modules = _imports(tmp_path / "cache", "-C", str(root), "diff", "--base", "main", "-o", "json")
    assert code == 1
    assert "gitops.diff.directory" in modules
    flux = {"gitops.diff.flux_recorded", "gitops.flux.record", "gitops.flux.graph", "gitops.diff.shared_builds"}
    assert loaded(modules, NEVER | flux | {"gitops.workspace"}) == set()
