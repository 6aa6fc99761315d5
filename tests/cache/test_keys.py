"""What makes a miss: any input byte, the kustomize version or binary, the environment kustomize reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops import cache
from gitops.kustomize import Kustomize
from gitops.targets import Tree
from tests.cache.support import kinds_of_input_repo

TARGET = "overlays/one"


def _key(root: Path, tool: Kustomize, tmp_path: Path, target: str = TARGET) -> str:
    identity = cache.tool_identity(tool, tmp_path / "memo")
    return cache.build_key(identity, target, "plain", Tree(root).digest(root / target))


def test_every_single_input_byte_changes_the_key(tmp_path: Path, kustomize: Kustomize) -> None:
    root = kinds_of_input_repo(tmp_path / "repo").resolve()
    inputs = sorted(Tree(root).inputs(root / TARGET))
    rel = {p.relative_to(root).as_posix() for p in inputs}
    # the transformer-only patch, the symlink's target, the component and generator sources are all inputs
    assert {"patches/replicas.yaml", "shared/service.yaml", "components/tag/kustomization.yaml"} <= rel
    assert {"base/app/app.env", "base/app/settings.json"} <= rel
    original = _key(root, kustomize, tmp_path)
    for path in inputs:
        content = path.read_bytes()
        variants = [content[:-1] + b" ", content + b"#"]  # still parses: the walk must not depend on luck
        if path.name != "kustomization.yaml":
            variants += [_flipped(content, 0), _flipped(content, len(content) // 2)]
        for variant in variants:
            path.write_bytes(variant)
            assert _key(root, kustomize, tmp_path) != original, (path, variant)
        path.write_bytes(content)
    assert _key(root, kustomize, tmp_path) == original


def _flipped(content: bytes, position: int) -> bytes:
    changed = bytearray(content)
    changed[position] ^= 0x01
    return bytes(changed)


def test_a_file_outside_the_inputs_does_not_change_the_key(tmp_path: Path, kustomize: Kustomize) -> None:
    root = kinds_of_input_repo(tmp_path / "repo").resolve()
    original = _key(root, kustomize, tmp_path)
    (root / "overlays/two/kustomization.yaml").write_text("namespace: deux\nresources: [../../base/app]\n")
    assert _key(root, kustomize, tmp_path) == original


def test_another_kustomize_version_or_binary_misses(tmp_path: Path, kustomize: Kustomize) -> None:
    root = kinds_of_input_repo(tmp_path / "repo").resolve()
    original = _key(root, kustomize, tmp_path)
    newer = Kustomize(kustomize.argv, "9.9.9", kustomize.env)
    assert _key(root, newer, tmp_path) != original
    other_binary = tmp_path / "kustomize"
    other_binary.write_bytes(b"#!/bin/sh\n")
    other_binary.chmod(0o755)
    assert _key(root, Kustomize((str(other_binary), "build"), kustomize.version), tmp_path) != original


def test_a_newer_binary_under_the_same_path_misses(tmp_path: Path, kustomize: Kustomize) -> None:
    binary = tmp_path / "bin" / "kustomize"
    binary.parent.mkdir()
    binary.write_bytes(b"build one\n")
    memo = tmp_path / "memo"
    first = cache.binary_digest(str(binary), memo)
    binary.write_bytes(b"build two, longer\n")
    assert cache.binary_digest(str(binary), memo) != first


def test_environment_kustomize_reads_and_our_version_are_in_the_key(
    tmp_path: Path, kustomize: Kustomize, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = kinds_of_input_repo(tmp_path / "repo").resolve()
    original = _key(root, kustomize, tmp_path)
    monkeypatch.setenv("KUSTOMIZE_PLUGIN_HOME", str(tmp_path / "plugins"))
    assert _key(root, kustomize, tmp_path) != original
    monkeypatch.delenv("KUSTOMIZE_PLUGIN_HOME")
    monkeypatch.setenv("GOGC", "50")  # changes how kustomize runs, not what it prints
    assert _key(root, kustomize, tmp_path) == original
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert _key(root, kustomize, tmp_path) != original


def test_modes_and_targets_have_keys_of_their_own(tmp_path: Path, kustomize: Kustomize) -> None:
    identity = cache.tool_identity(kustomize, tmp_path)
    keys = {cache.build_key(identity, t, m, "d") for t in ("a", "b") for m in ("plain", "origins")}
    assert len(keys) == 4


def test_extra_build_inputs_have_keys_of_their_own(tmp_path: Path, kustomize: Kustomize) -> None:
    """A Flux build adds inputs (its generated kustomization, a digest of substitution variables)."""
    identity = cache.tool_identity(kustomize, tmp_path)
    plain = cache.build_key(identity, "t", "origins", "d")
    assert cache.build_key(identity, "t", "origins", "d", ()) == plain
    keys = {
        plain,
        cache.build_key(identity, "t", "origins", "d", ["vars a"]),
        cache.build_key(identity, "t", "origins", "d", ["vars b"]),
        cache.build_key(identity, "t", "origins", "d", ["vars a", ""]),
        cache.build_key(identity, "t", "origins", "dvars a"),
    }
    assert len(keys) == 5


def test_location(tmp_path: Path) -> None:
    del tmp_path
    output = "metadata:\n  annotations:\n    config.kubernetes.io/origin: |\n      path: ../../r/base/x.yaml\n"
    canonical = cache.location_independent(output, "../../r/")
    assert canonical is not None and "../../r/" not in canonical
    assert cache.at_location(canonical, "../../r/") == output
    assert cache.at_location(canonical, "../q/").endswith("path: ../q/base/x.yaml\n")
    # a location left anywhere else (not an origin line) cannot be made independent: not cached
    assert cache.location_independent(output + "data: {a: ../../r/}\n", "../../r/") is None
