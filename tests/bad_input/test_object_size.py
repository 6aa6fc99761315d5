"""Rendered ConfigMaps and Secrets over the API server's 1 MiB data limit are an error finding (issue 13).

The limit is core.MaxSecretSize (1048576 bytes) that the API server's validation applies to a ConfigMap's
data plus binaryData and a Secret's data; a configMapGenerator reading a big file is how a repository gets there.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from gitops.check.object_size import oversized_objects
from gitops.manifests import manifests_from_build
from tests.bad_input.harness import make_repo, run_limited, snapshot

LIMIT = 1024 * 1024
GENERATOR = "namespace: a\nresources:\n- ../../base/app\nconfigMapGenerator:\n- name: big\n  files:\n  - big.txt\n"


@pytest.mark.parametrize(("size", "code"), [(LIMIT + 1, 1), (LIMIT, 0)])
def test_a_generated_configmap_over_the_limit_fails_check(tmp_path: Path, size: int, code: int) -> None:
    config = 'kubernetesVersion: "1.33"\ncheck:\n  disable: [policy]\n'
    root = make_repo(
        tmp_path / "repo",
        {"gitops.yaml": config, "overlays/b/kustomization.yaml": GENERATOR, "overlays/b/big.txt": "x" * size},
    )
    before = snapshot(root)
    proc = run_limited("check", cwd=root)
    assert snapshot(root) == before and "Traceback" not in proc.stderr
    assert proc.returncode == code, proc.stdout + proc.stderr
    if code:
        (line,) = [line for line in proc.stdout.splitlines() if "SCHEMA-OBJECT-SIZE" in line]
        assert line.startswith("overlays/b/kustomization.yaml") and f"{size} bytes" in line, line
    else:
        assert "SCHEMA-OBJECT-SIZE" not in proc.stdout


def _secret(field: str, value: str) -> str:
    return f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n{field}:\n  a: {value}\n"


@pytest.mark.parametrize(
    ("document", "over"),
    [
        (_secret("stringData", "y" * (LIMIT + 1)), True),
        (_secret("stringData", "y" * LIMIT), False),
        (_secret("data", base64.b64encode(b"z" * (LIMIT + 3)).decode()), True),
        # base64 text over the limit, decoded bytes under it: the API server counts the bytes
        (_secret("data", base64.b64encode(b"z" * (LIMIT - 3)).decode()), False),
        ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: " + "é" * (LIMIT // 2 + 1), True),
    ],
)
def test_secret_and_configmap_sizes_count_bytes(document: str, over: bool) -> None:
    findings = oversized_objects(manifests_from_build(document, "overlays/a"))
    assert [f.rule for f in findings] == (["SCHEMA-OBJECT-SIZE"] if over else [])
