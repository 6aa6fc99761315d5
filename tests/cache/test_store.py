"""The entry store: damaged entries, the size bound, where it lives, --no-cache, concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gitops import cache, render_record
from gitops.errors import GitopsError
from gitops.kustomize import Kustomize
from gitops.targets import Tree
from tests.cache.support import kinds_of_input_repo
from tests.helpers import assert_one_line_error, run_gitops

KEY = "ab" + "0" * 62


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda blob: blob[:-1], id="truncated"),
        pytest.param(lambda blob: blob[: len(blob) // 2], id="half"),
        pytest.param(lambda blob: b"", id="empty"),
        pytest.param(lambda blob: os.urandom(len(blob)), id="garbage"),
        pytest.param(lambda blob: blob[:-2] + b"X\n", id="flipped-byte"),
        pytest.param(lambda blob: blob.split(b"\n", 1)[1], id="no-header"),
    ],
)
def test_a_damaged_entry_is_a_miss_and_is_replaced(tmp_path: Path, damage: object) -> None:
    store = cache.RenderCache(tmp_path / "render")
    store.put(KEY, b"kind: ConfigMap\n")
    entry = tmp_path / "render" / KEY[:2] / KEY
    entry.write_bytes(damage(entry.read_bytes()))  # type: ignore[operator]
    assert store.get(KEY) is None
    assert not entry.exists()
    store.put(KEY, b"kind: ConfigMap\n")
    assert store.get(KEY) == b"kind: ConfigMap\n"


def test_a_damaged_entry_is_rebuilt_through_the_run_cache(tmp_path: Path, kustomize: Kustomize) -> None:
    root = kinds_of_input_repo(tmp_path / "repo").resolve()
    store = cache.RenderCache(tmp_path / "cache" / "render")
    built = []

    def build() -> str:
        built.append(1)
        return kustomize.build(root / "overlays/two")

    run = cache.for_run(kustomize, Tree(root), store)
    assert run is not None
    good = run.build("overlays/two", build)
    (entry,) = (tmp_path / "cache" / "render").rglob("*/*")
    entry.write_bytes(entry.read_bytes()[:100])
    assert run.build("overlays/two", build) == good
    assert run.build("overlays/two", build) == good
    assert len(built) == 2, "built once cold, once after the damage, then a hit"


def test_eviction_keeps_the_size_bound_and_drops_the_least_recently_used(tmp_path: Path) -> None:
    payload = b"x" * 1000
    entry_size = len(cache._pack(payload))
    store = cache.RenderCache(tmp_path / "render", max_bytes=5 * entry_size)
    keys = [f"{i:02x}" + "0" * 62 for i in range(8)]
    for age, key in enumerate(keys):
        store.put(key, payload)
        os.utime(tmp_path / "render" / key[:2] / key, ns=(10**18 + age, 10**18 + age))
    assert store.get(keys[0]) == payload  # a use makes the oldest the newest
    store.trim()
    assert store.size() <= 5 * entry_size
    kept = [k for k in keys if (tmp_path / "render" / k[:2] / k).exists()]
    assert kept == [keys[0], *keys[4:]]


def test_location_follows_gitops_cache_dir_then_xdg_then_home(tmp_path: Path) -> None:
    assert cache.cache_directory({"GITOPS_CACHE_DIR": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert cache.cache_directory({"XDG_CACHE_HOME": "/x"}) == Path("/x/gitops")
    assert cache.cache_directory({}) == Path(os.path.expanduser("~")) / ".cache" / "gitops"
    assert cache.from_environment({"GITOPS_CACHE_DIR": str(tmp_path), "GITOPS_NO_CACHE": "1"}) is None
    sized = cache.from_environment({"GITOPS_CACHE_DIR": str(tmp_path), "GITOPS_CACHE_SIZE": "2M"})
    assert sized is not None and sized.max_bytes == 2 << 20 and sized.directory == tmp_path / "render"
    with pytest.raises(GitopsError, match="GITOPS_CACHE_SIZE=lots"):
        cache.parse_size("lots")


def test_render_fills_gitops_cache_dir_and_no_cache_leaves_it_alone(tmp_path: Path) -> None:
    root = kinds_of_input_repo(tmp_path / "repo")
    with_flag, without = tmp_path / "flag", tmp_path / "filled"
    proc = run_gitops("render", "--no-cache", cwd=root, env={"GITOPS_CACHE_DIR": str(with_flag)})
    assert proc.returncode == 0, proc.stderr
    assert not (with_flag / "render").exists() or not any((with_flag / "render").rglob("*/*"))
    proc = run_gitops("render", cwd=root, env={"GITOPS_CACHE_DIR": str(without)})
    assert proc.returncode == 0, proc.stderr
    assert len(list((without / "render").rglob("*/*"))) == 2


def test_a_bad_cache_size_is_one_line(tmp_path: Path) -> None:
    root = kinds_of_input_repo(tmp_path / "repo")
    proc = run_gitops("render", cwd=root, env={"GITOPS_CACHE_SIZE": "a lot"})
    assert_one_line_error(proc, "GITOPS_CACHE_SIZE=a lot")


def test_two_processes_rendering_the_same_targets_share_the_cache(tmp_path: Path) -> None:
    root = kinds_of_input_repo(tmp_path / "repo")
    for n in range(12):  # enough targets that the two processes overlap
        (root / f"overlays/n{n}").mkdir()
        (root / f"overlays/n{n}/kustomization.yaml").write_text(f"namespace: n{n}\nresources: [../../base/app]\n")
    env = {**os.environ, "GITOPS_CACHE_DIR": str(tmp_path / "shared")}
    env.pop("GITOPS_NO_CACHE", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gitops", "render", "-j", "2", "--out", str(tmp_path / f"out{i}")],
            cwd=root,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    entries = list((tmp_path / "shared" / "render").rglob("*/*"))
    assert len(entries) == 14
    assert all(cache._unpack(e.read_bytes()) is not None for e in entries), "no torn entry"
    assert not [e for e in entries if e.name.startswith(".tmp-")]
    fresh = run_gitops("render", "--no-cache", "--out", str(tmp_path / "fresh"), cwd=root)
    warm = run_gitops(
        "render", "--out", str(tmp_path / "warm"), cwd=root, env={"GITOPS_CACHE_DIR": str(tmp_path / "shared")}
    )
    assert fresh.returncode == warm.returncode == 0
    for path in sorted((tmp_path / "fresh").rglob("*.yaml")):
        rel = path.relative_to(tmp_path / "fresh")
        expected = path.read_bytes()
        assert (tmp_path / "out0" / rel).read_bytes() == expected
        assert (tmp_path / "out1" / rel).read_bytes() == expected
        assert (tmp_path / "warm" / rel).read_bytes() == expected


def test_render_records_count_toward_the_bound_and_a_used_one_is_kept(tmp_path: Path) -> None:
    payload = b"x" * 1000
    entry_size = len(cache._pack(payload))
    records = tmp_path / "records"
    records.mkdir()
    store = cache.RenderCache(tmp_path / "render", max_bytes=4 * entry_size, bounded_with=(records,))
    old, used = records / "old.json", records / "used.json"
    context = "a context"
    record = json.dumps({"format": render_record.FORMAT, "context": context}).encode()
    for age, path in enumerate((used, old)):  # the record about to be used is the oldest file of all
        path.write_bytes(record + b" " * (entry_size - len(record)))
        os.utime(path, ns=(10**18 + age, 10**18 + age))
    keys = [f"{i:02x}" + "0" * 62 for i in range(3)]
    for key in keys:
        store.put(key, payload)
    assert store.size() == 5 * entry_size
    assert render_record.load(used, context) is not None  # a use makes it the newest
    store.trim()
    assert not old.exists() and used.exists()
    assert all((tmp_path / "render" / k[:2] / k).exists() for k in keys)
    assert store.size() <= 4 * entry_size


def test_flux_records_count_toward_the_bound_too(tmp_path: Path) -> None:
    env = {"GITOPS_CACHE_DIR": str(tmp_path), "GITOPS_CACHE_SIZE": "4k"}
    store = cache.from_environment(env)
    assert store is not None
    records = tmp_path / "flux-records"
    records.mkdir()
    old = records / "0123.json"
    old.write_bytes(b"{}" + b" " * 5000)
    os.utime(old, ns=(10**18, 10**18))
    store.put("ab" + "0" * 62, b"x" * 100)
    assert store.size() > 5000
    store.trim()
    assert not old.exists() and store.size() <= 4096
