"""`gitops secrets`: sops (age) encrypt/decrypt/updatekeys/rotate/verify and CA-certificate packaging."""

from __future__ import annotations

from pathlib import Path

import click

from gitops import certs
from gitops.errors import GitopsError
from gitops.repo import relative, root_from_context
from gitops.sops import (
    decrypt_text,
    encrypt_text,
    format_for,
    load_identities,
    rotate_text,
    update_keys_text,
    verify_text,
)
from gitops.sops.files import creation_rule, encryption_target, read_text, write_atomic
from gitops.sops.formats import FORMATS

_FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
_INPUT_TYPE = click.option(
    "--input-type", type=click.Choice(FORMATS), default=None, help="Override the format guessed from the extension."
)


def _source(ctx: click.Context, path: Path) -> tuple[Path, str]:
    root = root_from_context(ctx)
    return root, relative(path, root)


def _rule_recipients(path: Path, root: Path, name: str) -> tuple[str, ...]:
    rule = creation_rule(path, root)
    if rule is None or not rule.age:
        raise GitopsError(f"{name}: no .sops.yaml creation rule with age recipients matches this file")
    return rule.age


@click.group("secrets")
def command() -> None:
    """Encrypt and decrypt SOPS files (age), keep their keys current, package the database CA."""


@command.command("encrypt")
@_FILE
@click.option("-i", "--in-place", is_flag=True, help="Replace FILE with its ciphertext (atomically).")
@click.option("--age", "age", multiple=True, metavar="RECIPIENT", help="age recipient (repeatable; comma lists ok).")
@_INPUT_TYPE
@click.pass_context
def encrypt(ctx: click.Context, file: Path, in_place: bool, age: tuple[str, ...], input_type: str | None) -> None:
    """Encrypt FILE for the first matching .sops.yaml rule (or --age); ciphertext to stdout unless -i."""
    root, name = _source(ctx, file)
    fmt = format_for(name, input_type)
    plan = encryption_target(file, root, age)
    ciphertext = encrypt_text(read_text(file, name), fmt, name, recipients=plan.recipients, scope=plan.scope)
    if in_place:
        write_atomic(file, ciphertext)
        click.echo(f"encrypted {name} for {len(plan.recipients)} recipient(s)", err=True)
    else:
        click.echo(ciphertext, nl=not ciphertext.endswith("\n"))


@command.command("decrypt")
@_FILE
@_INPUT_TYPE
@click.pass_context
def decrypt(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """Print the plaintext of FILE to stdout (never written to disk), after verifying its MAC."""
    _, name = _source(ctx, file)
    plaintext = decrypt_text(read_text(file, name), format_for(name, input_type), name, load_identities())
    click.echo(plaintext, nl=not plaintext.endswith("\n"))


@command.command("updatekeys")
@_FILE
@_INPUT_TYPE
@click.pass_context
def updatekeys(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """Re-wrap FILE's data key for its rule's current recipients (values untouched), in place."""
    root, name = _source(ctx, file)
    recipients = _rule_recipients(file, root, name)
    text = update_keys_text(read_text(file, name), format_for(name, input_type), name, load_identities(), recipients)
    write_atomic(file, text)
    click.echo(f"updated keys of {name}: {', '.join(recipients)}", err=True)


@command.command("rotate")
@_FILE
@_INPUT_TYPE
@click.pass_context
def rotate(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """New data key for FILE, every value re-encrypted (recipients from its rule, else its own), in place."""
    root, name = _source(ctx, file)
    rule = creation_rule(file, root)
    recipients = rule.age if rule is not None and rule.age else None
    text = rotate_text(read_text(file, name), format_for(name, input_type), name, load_identities(), recipients)
    write_atomic(file, text)
    click.echo(f"rotated the data key of {name}", err=True)


@command.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_INPUT_TYPE
@click.pass_context
def verify(ctx: click.Context, files: tuple[Path, ...], input_type: str | None) -> None:
    """Check each FILE decrypts with an available identity and its MAC is correct."""
    root = root_from_context(ctx)
    identities = load_identities()
    for file in files:
        name = relative(file, root)
        meta = verify_text(read_text(file, name), format_for(name, input_type), name, identities)
        click.echo(f"ok {name} (MAC verified, {len(meta.age)} age recipient(s))")


@command.command("ca-cert")
@click.argument("pem", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--env", "env", required=True, help="Environment overlay (overlays/ENV).")
@click.pass_context
def ca_cert(ctx: click.Context, pem: Path, env: str) -> None:
    """Validate PEM and write overlays/ENV/shared/mastodon-db-ca.sops.yaml encrypted for ENV's rule."""
    root = root_from_context(ctx)
    target = certs.package_ca_cert(root, pem, env)
    click.echo(f"wrote {relative(target, root)}", err=True)


@command.command("lint")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def lint(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """The secret-hygiene gate on source files only (no kustomize, no key): fast enough for a pre-commit hook.

    FILES are accepted (pre-commit passes them) but the whole repository is checked: a rule in .sops.yaml or a
    Flux Kustomization elsewhere decides whether a file is in order.
    """
    from gitops.check.formatters import finding_line
    from gitops.check.secret_gate import check_hygiene

    del files
    findings = check_hygiene(root_from_context(ctx))
    for finding in findings:
        click.echo(finding_line(finding))
    errors = sum(1 for f in findings if f.is_error)
    click.echo(f"secret hygiene: {errors} errors, {len(findings) - errors} warnings", err=True)
    ctx.exit(1 if errors else 0)
