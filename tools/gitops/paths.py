"""Where things are: the repository's configuration file and the schemas the tool ships with."""

from __future__ import annotations

from pathlib import Path

CONFIG_FILE = "gitops.yaml"
TARGET_ROOTS = ("overlays", "clusters")
"""Where plain kustomize directory targets live unless gitops.yaml `targets.roots` says otherwise."""
"""The repository configuration, at the repository root."""
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"
"""schemas/ of the checkout the tool runs from (it ships with the tool, not with each repository it checks)."""
