"""`gitops secrets` end to end through the real CLI, including every refusal (exit 2, file untouched)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pyrage import x25519

from gitops.sops import read_metadata
from tests.helpers import assert_one_line_error, run_gitops, write_tree
from tests.sops_helpers import TEST_KEY_FILE, TEST_RECIPIENT, key_env

SECRET = """\
# app credentials
apiVersion: v1
kind: Secret
metadata:
  name: app  # the app Secret
  namespace: mastodon
type: Opaque
stringData:
  DB_PASS: sup3r-s3cret-pass
  PORT: "5432"
  ratio: 1.0
  flags:
    - yes
    - 2
  empty: ""
---
apiVersion: v1
kind: Secret
metadata:
  name: second
data:
  token: dG9rZW4=
"""
SECRET_VALUES = ("sup3r-s3cret-pass", "dG9rZW4=")
# What a decrypt writes back for SECRET: its layout, with the decrypted values written as sops (yaml.v3) writes
# them, so the float 1.0 as `1` and the string yes quoted for YAML 1.1 readers (tests/sops/test_scalar_kinds_oracle).
DECRYPTED = SECRET.replace("ratio: 1.0", "ratio: 1").replace("- yes", '- "yes"')


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    return write_tree(
        root,
        {
            ".sops.yaml": f"""
                creation_rules:
                  - path_regex: ^overlays/staging/.*\\.sops\\.(yaml|json|env)$
                    encrypted_regex: ^(data|stringData)$
                    age: {TEST_RECIPIENT}
                """,
            "overlays/staging/app.sops.yaml": SECRET,
            "overlays/staging/app.sops.env": "# comment\nDB_PASS=s3cret\nEMPTY=\n",
            "elsewhere/app.yaml": SECRET,
        },
    )


def gitops(repo: Path, *args: str) -> object:
    return run_gitops(*args, cwd=repo, env=key_env(repo.parent))


def _encrypt_in_place(repo: Path, rel: str = "overlays/staging/app.sops.yaml") -> Path:
    proc = gitops(repo, "secrets", "encrypt", "--in-place", rel)
    assert proc.returncode == 0, proc.stderr  # type: ignore[attr-defined]
    return repo / rel


def test_encrypt_to_stdout_leaves_the_file_alone(repo: Path) -> None:
    proc = gitops(repo, "secrets", "encrypt", "overlays/staging/app.sops.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "mac: ENC[AES256_GCM," in proc.stdout
    assert proc.stdout.count("\nsops:\n") == 2  # every document carries the metadata
    assert not any(value in proc.stdout for value in SECRET_VALUES)
    assert "name: app  # the app Secret" in proc.stdout  # unencrypted part and comments kept
    assert (repo / "overlays/staging/app.sops.yaml").read_text() == SECRET


def test_in_place_then_decrypt_round_trips_exactly(repo: Path) -> None:
    path = _encrypt_in_place(repo)
    text = path.read_text()
    assert "sup3r-s3cret-pass" not in text
    assert sorted(p.name for p in path.parent.iterdir()) == ["app.sops.env", "app.sops.yaml"]  # no temp files
    proc = gitops(repo, "secrets", "decrypt", "overlays/staging/app.sops.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == DECRYPTED
    assert path.read_text() == text  # decrypt never writes


def test_dotenv_round_trip(repo: Path) -> None:
    path = _encrypt_in_place(repo, "overlays/staging/app.sops.env")
    assert "sops_mac=ENC[" in path.read_text()
    proc = gitops(repo, "secrets", "decrypt", "overlays/staging/app.sops.env")
    assert proc.stdout == "# comment\nDB_PASS=s3cret\nEMPTY=\n"


def test_age_option_overrides_the_rule_recipients(repo: Path) -> None:
    other = str(x25519.Identity.generate().to_public())
    proc = gitops(repo, "secrets", "encrypt", "--age", other, "elsewhere/app.yaml")
    assert proc.returncode == 0, proc.stderr
    meta = read_metadata(proc.stdout, "yaml", "stdout")
    assert meta is not None and meta.recipients == (other,)
    assert meta.scope.selector == "unencrypted_suffix"  # no rule matches elsewhere/: sops' default


def test_file_without_rule_or_recipient_is_refused(repo: Path) -> None:
    assert_one_line_error(
        gitops(repo, "secrets", "encrypt", "elsewhere/app.yaml"), "elsewhere/app.yaml", "no .sops.yaml"
    )


def test_unknown_extension_needs_input_type(repo: Path) -> None:
    (repo / "overlays/staging/x.sops.txt").write_text("a: b\n")
    assert_one_line_error(
        gitops(repo, "secrets", "encrypt", "overlays/staging/x.sops.txt"), "x.sops.txt", "--input-type"
    )


def test_encrypting_twice_is_refused(repo: Path) -> None:
    path = _encrypt_in_place(repo)
    before = path.read_bytes()
    assert_one_line_error(
        gitops(repo, "secrets", "encrypt", "-i", "overlays/staging/app.sops.yaml"), "already encrypted"
    )
    assert path.read_bytes() == before


def test_verify_reports_each_file(repo: Path) -> None:
    _encrypt_in_place(repo)
    proc = gitops(repo, "secrets", "verify", "overlays/staging/app.sops.yaml")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok overlays/staging/app.sops.yaml")


def test_updatekeys_rewraps_for_the_rule_and_keeps_values(repo: Path) -> None:
    path = _encrypt_in_place(repo)
    before = path.read_text()
    other = str(x25519.Identity.generate().to_public())
    config = repo / ".sops.yaml"
    config.write_text(config.read_text().replace(TEST_RECIPIENT, f"{TEST_RECIPIENT},{other}"))
    proc = gitops(repo, "secrets", "updatekeys", "overlays/staging/app.sops.yaml")
    assert proc.returncode == 0, proc.stderr
    after = path.read_text()
    meta = read_metadata(after, "yaml", "x")
    assert meta is not None and meta.recipients == (TEST_RECIPIENT, other)
    enc_values = re.compile(r"ENC\[AES256_GCM,[^\]]*\]")
    assert enc_values.findall(after) == enc_values.findall(before)  # values and MAC untouched
    assert gitops(repo, "secrets", "verify", "overlays/staging/app.sops.yaml").returncode == 0


def test_rotate_changes_the_data_key_not_the_plaintext(repo: Path) -> None:
    path = _encrypt_in_place(repo)
    before = path.read_text()
    proc = gitops(repo, "secrets", "rotate", "overlays/staging/app.sops.yaml")
    assert proc.returncode == 0, proc.stderr
    after = path.read_text()
    assert re.findall(r"data:[^,]*,iv", after) != re.findall(r"data:[^,]*,iv", before)
    assert gitops(repo, "secrets", "decrypt", "overlays/staging/app.sops.yaml").stdout == DECRYPTED


def _tamper(text: str) -> dict[str, str]:
    lines = text.splitlines(keepends=True)
    db_pass = next(i for i, line in enumerate(lines) if "DB_PASS: ENC[" in line)
    value = lines[db_pass]
    mac_line = next(i for i, line in enumerate(lines) if line.startswith("  mac: ENC["))
    moved = text.replace("  DB_PASS: ENC[", "  DB_PASSWORD: ENC[", 1)
    tampered_value = text.replace(value, re.sub(r"data:(.)", lambda m: "data:" + ("A" if m[1] != "A" else "B"), value))
    mac = lines[mac_line]
    tampered_mac = text.replace(mac, re.sub(r"data:(.)", lambda m: "data:" + ("A" if m[1] != "A" else "B"), mac))
    plaintext_edit = text.replace("namespace: mastodon", "namespace: other", 1)
    return {
        "tampered value": tampered_value,
        "tampered MAC": tampered_mac,
        "value moved to another key": moved,
        "plaintext field edited": plaintext_edit,
        "truncated": text[: len(text) // 3],
        "missing metadata": text.split("sops:\n")[0],
    }


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("tampered value", "authentication failed"),
        ("tampered MAC", "MAC"),
        ("value moved to another key", "stringData:DB_PASSWORD"),
        ("plaintext field edited", "MAC mismatch"),
        ("truncated", "app.sops.yaml"),
        ("missing metadata", "sops metadata not found"),
    ],
)
def test_damaged_files_are_refused_without_leaking(repo: Path, case: str, needle: str) -> None:
    path = _encrypt_in_place(repo)
    damaged = _tamper(path.read_text())[case]
    path.write_text(damaged)
    for subcommand in ("decrypt", "verify", "rotate", "updatekeys"):
        proc = gitops(repo, "secrets", subcommand, "overlays/staging/app.sops.yaml")
        assert_one_line_error(proc, "overlays/staging/app.sops.yaml", needle)
        assert proc.stdout == ""
        assert path.read_text() == damaged
        assert "AGE-SECRET-KEY" not in proc.stderr
        assert not any(value in proc.stderr for value in SECRET_VALUES)


def test_wrong_key_is_refused(repo: Path, tmp_path: Path) -> None:
    path = _encrypt_in_place(repo)
    before = path.read_bytes()
    other = tmp_path / "other.txt"
    other.write_text(str(x25519.Identity.generate()) + "\n")
    proc = run_gitops("secrets", "decrypt", "overlays/staging/app.sops.yaml", cwd=repo, env=key_env(tmp_path, other))
    assert_one_line_error(proc, "no available age identity matches", TEST_RECIPIENT)
    assert "AGE-SECRET-KEY" not in proc.stderr
    assert path.read_bytes() == before


def test_no_identity_at_all_is_explained(repo: Path, tmp_path: Path) -> None:
    _encrypt_in_place(repo)
    env = key_env(tmp_path)
    env["SOPS_AGE_KEY_FILE"] = ""
    proc = run_gitops("secrets", "decrypt", "overlays/staging/app.sops.yaml", cwd=repo, env=env)
    assert_one_line_error(proc, "no age identity found", "SOPS_AGE_KEY_FILE")


def test_identity_from_sops_age_key_and_default_file(repo: Path, tmp_path: Path) -> None:
    _encrypt_in_place(repo)
    env = key_env(tmp_path)
    env["SOPS_AGE_KEY_FILE"] = ""
    env["SOPS_AGE_KEY"] = TEST_KEY_FILE.read_text()
    assert run_gitops("secrets", "verify", "overlays/staging/app.sops.yaml", cwd=repo, env=env).returncode == 0
    env["SOPS_AGE_KEY"] = ""
    default = Path(env["XDG_CONFIG_HOME"]) / "sops" / "age" / "keys.txt"
    default.parent.mkdir(parents=True)
    default.write_text(TEST_KEY_FILE.read_text())
    assert run_gitops("secrets", "verify", "overlays/staging/app.sops.yaml", cwd=repo, env=env).returncode == 0


def test_bad_key_file_line_is_named_without_its_content(repo: Path, tmp_path: Path) -> None:
    _encrypt_in_place(repo)
    bad = tmp_path / "bad.txt"
    bad.write_text("AGE-SECRET-KEY-1NOTAREALKEYATALL\n")
    proc = run_gitops("secrets", "decrypt", "overlays/staging/app.sops.yaml", cwd=repo, env=key_env(tmp_path, bad))
    assert_one_line_error(proc, "bad.txt", "line 1")
    assert "NOTAREALKEY" not in proc.stderr


def test_non_utf8_file_is_refused_untouched(repo: Path) -> None:
    path = repo / "overlays/staging/app.sops.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    for subcommand in ("encrypt", "decrypt"):
        proc = gitops(repo, "secrets", subcommand, "-i" if subcommand == "encrypt" else "--input-type=yaml", str(path))
        assert_one_line_error(proc, "not valid UTF-8")
    assert path.read_bytes() == b"a: \xff\xfe\n"
