"""What `gitops secrets decrypt` and `encrypt` import: start-up is most of a small file's run (sops, a Go binary,
starts in a fraction of it), so modules the secrets path does not use must stay out. Counted, not timed."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import REPO_ROOT, loaded, modules_imported_by
from tests.sops_helpers import TEST_RECIPIENT, key_env

# PyYAML (only for files over fastyaml.LIBYAML_MIN_CHARS or with aliases), child processes, temp files, the
# manifest model and the other commands' packages.
NOT_ON_THE_SECRETS_PATH = (
    "yaml",
    "subprocess",
    "tempfile",
    "decimal",
    "gitops.processes",
    "gitops.manifests",
    "gitops.config",
    "gitops.check",
    "gitops.render",
    "gitops.policy",
    "gitops.flux",
)


def _imported(args: list[str], tmp_path: Path) -> set[str]:
    code, modules = modules_imported_by(*args, cwd=tmp_path, env=key_env(tmp_path))
    assert code == 0
    return modules


def _unwanted(args: list[str], tmp_path: Path) -> set[str]:
    return loaded(_imported(args, tmp_path), NOT_ON_THE_SECRETS_PATH)


def test_decrypt_and_encrypt_of_a_small_file_import_only_what_they_use(tmp_path: Path) -> None:
    shipped = REPO_ROOT / "overlays" / "staging" / "shared" / "mastodon-secrets.sops.yaml"  # comments, `_*` in one
    assert _unwanted(["secrets", "decrypt", str(shipped)], tmp_path) == set()
    plain = tmp_path / "app.yaml"
    plain.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  password: hunter2\n")
    assert _unwanted(["secrets", "encrypt", "-i", "--age", TEST_RECIPIENT, str(plain)], tmp_path) == set()
    assert "hunter2" not in plain.read_text() and "mac: ENC[AES256_GCM" in plain.read_text()  # it did run


def test_a_large_file_still_takes_the_libyaml_path(tmp_path: Path) -> None:
    plain = tmp_path / "big.yaml"
    plain.write_text("stringData:\n" + "".join(f"  key{i:04d}: value-{i:04d}\n" for i in range(400)))
    assert "yaml._yaml" in _imported(["secrets", "encrypt", "-i", "--age", TEST_RECIPIENT, str(plain)], tmp_path)
