"""Files on disk: reading sources strictly, writing ciphertext atomically, finding a file's creation rule."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gitops.errors import GitopsError
from gitops.sops.rules import CreationRule, Scope, rule_for


def read_text(path: Path, source: str | None = None, *, raw: bool = False) -> str:
    """The file as UTF-8 text. `raw` (the binary format): any bytes, those that are not UTF-8 kept as surrogate
    escapes, which encryption turns back into the same bytes."""
    name = source or str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise GitopsError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise GitopsError(f"{name}: is a directory") from None
    except OSError as exc:
        raise GitopsError(f"{name}: cannot read: {exc.strerror}") from None
    try:
        return data.decode("utf-8", "surrogateescape" if raw else "strict")
    except UnicodeDecodeError as exc:
        raise GitopsError(f"{name}: not valid UTF-8 (byte {exc.start})") from None


@dataclass(frozen=True)
class Target:
    """Recipients and value scope to encrypt a file with, and the creation rule they came from (if any)."""

    recipients: tuple[str, ...]
    scope: Scope
    rule: CreationRule | None

    @property
    def key_groups(self) -> tuple[tuple[str, ...], ...]:
        """Several groups only when they come from the rule (--age is one flat group)."""
        return self.rule.groups if self.rule is not None and self.recipients == self.rule.age else ()

    @property
    def threshold(self) -> int:
        return self.rule.threshold if self.rule is not None else 0


def creation_rule(path: Path, config: Path | None) -> CreationRule | None:
    """The first rule of `config` (None: no config file) that matches the file."""
    return rule_for(path, config) if config is not None else None


def encryption_target(path: Path, config: Path | None, age: tuple[str, ...] = ()) -> Target:
    """From --age when given (scope still from the matching rule), else from the first matching rule."""
    rule = creation_rule(path, config)
    scope = rule.scope if rule is not None else Scope()
    if age:
        recipients = tuple(r.strip() for item in age for r in item.split(",") if r.strip())
        return Target(recipients, scope, rule)
    if rule is None:
        raise GitopsError(f"{path}: no .sops.yaml creation rule matches this file and no --age recipient was given")
    if not rule.age:
        raise GitopsError(f"{path}: {rule.describe()} has no age recipients")
    return Target(rule.age, scope, rule)
