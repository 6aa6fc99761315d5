"""`gitops diff` never prints a secret-class value outside a Secret, in any format, wherever it sits.

Each case commits a value on main, changes (or adds, or removes) it on the working tree and runs the real
diff in every format: the sentinel plaintexts appear in no output, and the text format says what happened.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bad_input.harness import FILES, make_repo, run_limited, snapshot
from tests.diff.support import init_repo

FORMATS = ("text", "unified", "markdown", "json")
OLD = "XYZZY-old-sentinel"
NEW = "XYZZY-new-sentinel"

GENERATOR = "namespace: a\nresources:\n- ../../base/app\nconfigMapGenerator:\n- name: mail\n  literals:\n{literals}"
CONFIGMAP = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  MODE: a\n{extra}"
ENV_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        env:
        - name: DB_PASS
          value: {value}
"""
FLUX_KS = """\
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./overlays/a
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      SMTP_PASSWORD: {value}
"""

CASES = {
    # configMapGenerator literal: the rendered ConfigMap's name changes with its content hash.
    "generator-literal-changed": (
        {"overlays/a/kustomization.yaml": GENERATOR.format(literals=f"  - SMTP_PASSWORD={OLD}\n")},
        {"overlays/a/kustomization.yaml": GENERATOR.format(literals=f"  - SMTP_PASSWORD={NEW}\n")},
        "value changed",
    ),
    "configmap-data-changed": (
        {"overlays/a/cm.yaml": CONFIGMAP.format(extra=f"  SMTP_PASSWORD: {OLD}\n")},
        {"overlays/a/cm.yaml": CONFIGMAP.format(extra=f"  SMTP_PASSWORD: {NEW}\n")},
        "data.SMTP_PASSWORD: value changed",
    ),
    "configmap-data-added": (
        {},
        {"overlays/a/cm.yaml": CONFIGMAP.format(extra=f"  SMTP_PASSWORD: {NEW}\n")},
        "data.SMTP_PASSWORD: added",
    ),
    "configmap-data-removed": (
        {"overlays/a/cm.yaml": CONFIGMAP.format(extra=f"  SMTP_PASSWORD: {OLD}\n")},
        {"overlays/a/cm.yaml": CONFIGMAP.format(extra="")},
        "data.SMTP_PASSWORD: removed",
    ),
    "literal-env-changed": (
        {"base/app/deployment.yaml": ENV_DEPLOYMENT.format(value=OLD)},
        {"base/app/deployment.yaml": ENV_DEPLOYMENT.format(value=NEW)},
        "value changed",
    ),
    "flux-postbuild-substitute-changed": (
        {
            "clusters/one/kustomization.yaml": "resources:\n- apps.yaml\n",
            "clusters/one/apps.yaml": FLUX_KS.format(value=OLD),
        },
        {"clusters/one/apps.yaml": FLUX_KS.format(value=NEW)},
        "spec.postBuild.substitute.SMTP_PASSWORD: value changed",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_diff_hides_secret_class_values_in_every_format(tmp_path: Path, case: str) -> None:
    on_main, on_head, said = CASES[case]
    root = init_repo(tmp_path / "repo", {**FILES, **on_main})
    for rel, content in on_head.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(content, encoding="utf-8")
    before = snapshot(root)
    outputs = {}
    for fmt in FORMATS:
        proc = run_limited("diff", "--base", "main", "-o", fmt, cwd=root)
        assert proc.returncode == 1, (fmt, proc.stdout, proc.stderr)
        assert "Traceback" not in proc.stderr
        outputs[fmt] = proc.stdout + proc.stderr
    assert snapshot(root) == before
    for fmt, output in outputs.items():
        assert OLD not in output and NEW not in output, (fmt, output)
    assert said in outputs["text"], outputs["text"]
    assert "<secret-class value hidden>" in outputs["json"]
    if "value changed" in said:  # the unified diff shows the change as a -/+ pair of markers
        assert "<secret-class value hidden: value changed (before)>" in outputs["unified"]
        assert "<secret-class value hidden: value changed (after)>" in outputs["unified"]
    for output in outputs.values():  # the per-run tags never reach an output
        assert "value hidden #" not in output, output


def test_diff_still_shows_ordinary_config_values(tmp_path: Path) -> None:
    """The passing side: a non-secret key's values are shown as before."""
    root = make_repo(tmp_path / "repo")
    (root / "overlays/a/cm.yaml").write_text(CONFIGMAP.format(extra="").replace("MODE: a", "MODE: b"))
    proc = run_limited("diff", "--base", "main", "-o", "text", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert "- a" in proc.stdout and "+ b" in proc.stdout, proc.stdout
