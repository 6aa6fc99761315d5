"""The hot commands import only what they use: a listing, a recorded diff and a named target run as a user
runs them (a fresh interpreter), and none of them loads the modules of paths it does not take (the checks,
jsonschema, the full render and its records, the diff modes it did not choose). Behaviour, not timing: a
module imported is start-up paid, on every run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.diff.support import init_repo
from tests.flux.test_diff_selection import _cm, _files

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
_RUN_AND_LIST = (
    "import json, sys\n"
    "from gitops.cli import main\n"
    "sys.argv = ['gitops', *sys.argv[1:]]\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}), file=sys.stderr)\n"
)


def _imports(cache: Path, *args: str, cwd: Path | None = None) -> tuple[int, set[str]]:
    """The exit code of `gitops ARGS` in a fresh interpreter, and every module it imported."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("GITOPS_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-c", _RUN_AND_LIST, *args], capture_output=True, text=True, check=False, env=env, cwd=cwd
    )
    report = json.loads(proc.stderr.splitlines()[-1])
    return report["code"], set(report["modules"])


def _loaded(modules: set[str], names: set[str]) -> set[str]:
    """Which of `names` (modules or packages) were imported."""
    return {name for name in names if any(m == name or m.startswith(f"{name}.") for m in modules)}


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
    assert _loaded(modules, NEVER | other_paths | {"gitops.check", "gitops.workspace", "gitops.shards"}) == set()


def test_a_flux_listing_loads_no_records_and_no_checks(tmp_path: Path) -> None:
    root = init_repo(tmp_path / "repo", _files())
    code, modules = _imports(tmp_path / "cache", "-C", str(root), "render", "--list")
    assert code == 0
    assert "gitops.flux.graph" in modules
    records = {"gitops.check", "gitops.render_record", "gitops.flux.record", "gitops.diff"}
    assert _loaded(modules, NEVER | records) == set()


def test_a_named_target_loads_no_workspace(tmp_path: Path) -> None:
    files = {"overlays/x/kustomization.yaml": "resources: [cm.yaml]\n", "overlays/x/cm.yaml": _cm("x", "1")}
    root = init_repo(tmp_path / "repo", files)
    code, modules = _imports(tmp_path / "cache", "render", "overlays/x", "--out", "-", cwd=root)
    assert code == 0
    assert "gitops.named_target" in modules  # its preflight finds duplicate keys as check does (check.sourcemap)
    general = {"gitops.workspace", "gitops.flux.graph", "gitops.flux.discovery", "gitops.render_record"}
    assert _loaded(modules, NEVER | general | {"gitops.flux.record", "gitops.diff"}) == set()
