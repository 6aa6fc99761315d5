"""A finding about a value an overlay sets names the overlay file that sets it, not the base (issue 13).

kustomize's origin annotation names the base file a resource came from; the value in question may come from a
strategic-merge patch or a merging configMapGenerator in overlays/<env>/. Each case plants a secret-class value
(SEC-SECRET-IN-CONFIG reports its JSON pointer) and checks the file and line of the finding.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_input.harness import DEPLOYMENT, make_repo, run_limited, snapshot

SENTINEL = "XYZZY-attribution"
CONFIG = 'kubernetesVersion: "1.33"\ncheck:\n  disable: [policy]\n'
ENV_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: web
        env:
        - name: SMTP_PASSWORD
          value: {value}
"""
BASE_WITH_ENV = DEPLOYMENT + "        env:\n        - name: MODE\n          value: plain\n"
OVERLAY = "namespace: a\nresources:\n- ../../base/app\n- cm.yaml\n"
BASE_GENERATOR = "resources:\n- deployment.yaml\nconfigMapGenerator:\n- name: mail\n  literals:\n  - SMTP_HOST=mail\n"
MERGING_GENERATOR = "configMapGenerator:\n- name: mail\n  behavior: merge\n  literals:\n  - SMTP_PASSWORD={value}\n"

CASES = {
    "strategic-merge-patch": (
        {
            "base/app/deployment.yaml": BASE_WITH_ENV,
            "overlays/a/kustomization.yaml": OVERLAY + "patches:\n- path: patches/env.yaml\n",
            "overlays/a/patches/env.yaml": ENV_PATCH.format(value=SENTINEL),
        },
        "overlays/a/patches/env.yaml",
        12,
    ),
    "merging-generator-literal": (
        {
            "base/app/kustomization.yaml": BASE_GENERATOR,
            "overlays/a/kustomization.yaml": OVERLAY + MERGING_GENERATOR.format(value=SENTINEL),
        },
        "overlays/a/kustomization.yaml",
        9,
    ),
    # The passing side: a value the base itself sets stays with the base file.
    "set-in-the-base": (
        {
            "base/app/deployment.yaml": DEPLOYMENT
            + f"        env:\n        - name: SMTP_PASSWORD\n          value: {SENTINEL}\n"
        },
        "base/app/deployment.yaml",
        17,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_finding_names_the_file_that_sets_the_value(tmp_path: Path, case: str) -> None:
    files, file, line = CASES[case]
    root = make_repo(tmp_path / "repo", {"gitops.yaml": CONFIG, **files})
    before = snapshot(root)
    proc = run_limited("check", "overlays/a", cwd=root)
    assert snapshot(root) == before and "Traceback" not in proc.stderr
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (finding,) = [row for row in proc.stdout.splitlines() if "SEC-SECRET-IN-CONFIG" in row]
    assert finding.startswith(f"{file}:{line}: error SEC-SECRET-IN-CONFIG"), finding
    assert SENTINEL not in proc.stdout + proc.stderr
