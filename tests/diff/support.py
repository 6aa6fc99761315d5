"""Building real git repositories and SOPS-format Secrets for the diff tests.

The Secrets are encrypted for real (AES-256-GCM per value with the key path as AAD, the data key wrapped
with age), in the layout sops writes, so the diff sees exactly what a repository would hold.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pyrage
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyrage import x25519

from tests.helpers import write_tree

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.org",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.org",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, (args, proc.stderr)
    return proc.stdout


def init_repo(root: Path, files: Mapping[str, str]) -> Path:
    write_tree(root, files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "initial")
    git(root, "checkout", "-q", "-b", "feature")  # main stays where a pull request would start
    return root


def commit(root: Path, files: Mapping[str, str] | None = None, remove: tuple[str, ...] = (), message: str = "x") -> str:
    if files:
        write_tree(root, files)
    for rel in remove:
        (root / rel).unlink()
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def checkout_state(root: Path) -> dict[str, str]:
    """Everything a diff must leave alone: status, staged changes, stash, worktrees, HEAD."""
    return {
        "status": git(root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all"),
        "staged": git(root, "diff", "--cached"),
        "unstaged": git(root, "diff"),
        "stash": git(root, "stash", "list"),
        "worktrees": git(root, "worktree", "list", "--porcelain"),
        "head": git(root, "rev-parse", "HEAD"),
    }


def new_identity() -> x25519.Identity:
    return x25519.Identity.generate()


def _enc(key: bytes, plaintext: str, aad: str) -> str:
    iv = os.urandom(32)
    sealed = AESGCM(key).encrypt(iv, plaintext.encode(), aad.encode())
    ct, tag = sealed[:-16], sealed[-16:]
    b64 = base64.b64encode
    return f"ENC[AES256_GCM,data:{b64(ct).decode()},iv:{b64(iv).decode()},tag:{b64(tag).decode()},type:str]"


def sops_secret(name: str, values: Mapping[str, str], recipient: x25519.Recipient, stamp: str = "01") -> str:
    """A Secret with `stringData` encrypted under a fresh data key (so every call re-encrypts)."""
    key = os.urandom(32)
    armored = pyrage.encrypt(key, [recipient], armored=True).decode("ascii")
    lines = ["apiVersion: v1", "kind: Secret", "metadata:", f"  name: {name}", "type: Opaque", "stringData:"]
    for k, v in values.items():
        lines.append(f"  {k}: {_enc(key, v, f'stringData:{k}:')}")
    lines += ["sops:", "  age:", f"    - recipient: {recipient}", "      enc: |"]
    lines += [f"        {line}" for line in armored.strip().splitlines()]
    lines += [
        f'  lastmodified: "2025-01-{stamp}T00:00:00Z"',
        f"  mac: {_enc(key, 'F' * 128, f'2025-01-{stamp}T00:00:00Z')}",
        "  encrypted_regex: ^(data|stringData)$",
        "  version: 3.9.0",
    ]
    return "\n".join(lines) + "\n"
