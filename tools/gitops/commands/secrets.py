"""`gitops secrets`: sops (age) encrypt/decrypt/updatekeys/rotate/verify and CA-certificate packaging."""

from __future__ import annotations

import os
from pathlib import Path

import click

from gitops.atomic import write_text_atomically
from gitops.errors import GitopsError
from gitops.repo import find_root, relative, root_from_context
from gitops.sops import (
    decrypt_text,
    encrypt_text,
    format_for,
    load_identities,
    rotate_text,
    update_keys_text,
    verify_text,
)
from gitops.sops.files import creation_rule, encryption_target, read_text
from gitops.sops.formats import FORMATS
from gitops.sops.rules import CreationRule, lookup_config

_FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
_INPUT_TYPE = click.option(
    "--input-type", type=click.Choice(FORMATS), default=None, help="Override the format guessed from the extension."
)


def _optional_root(ctx: click.Context) -> Path | None:
    """sops works on any file: a repository only shortens the names in messages.

    gitops.yaml holds nothing these commands use, and validating it (the policy pack's schema) would cost
    four times sops' whole run, so only the root is located here.
    """
    obj = ctx.find_root().obj or {}
    try:
        return find_root(obj.get("repo"))
    except GitopsError:
        return None


def _name(ctx: click.Context, path: Path) -> str:
    root = _optional_root(ctx)
    return relative(path, root) if root is not None else str(path)


def _sops_config(ctx: click.Context) -> Path | None:
    """The config sops 3.11 would use: --config / SOPS_CONFIG, else the first .sops.yaml from the working
    directory upward (`gitops -C DIR`: from DIR), wherever the file itself lies."""
    obj = ctx.find_root().obj or {}
    explicit: Path | None = obj.get("sops_config")
    if explicit is not None:
        if not explicit.is_file():
            raise GitopsError(f"{explicit}: sops config file not found (--config or SOPS_CONFIG)")
        return explicit
    start: Path | None = obj.get("repo")
    found = lookup_config(str(start) if start is not None else os.curdir)
    if found.warning is not None:
        click.echo(f"gitops: warning: {found.warning}", err=True)
    return found.path


def _matching_rule(ctx: click.Context, path: Path, name: str) -> CreationRule:
    rule = creation_rule(path, _sops_config(ctx))
    if rule is None or not rule.age:
        raise GitopsError(f"{name}: no .sops.yaml creation rule with age recipients matches this file")
    return rule


@click.group("secrets")
@click.option(
    "--config",
    "sops_config",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="SOPS_CONFIG",
    default=None,
    help="The .sops.yaml to use (default, as sops: the first one from the working directory upward).",
)
@click.pass_context
def command(ctx: click.Context, sops_config: Path | None) -> None:
    """Encrypt and decrypt SOPS files (age), keep their keys current, package the database CA."""
    ctx.find_root().ensure_object(dict)["sops_config"] = sops_config


@command.command("encrypt")
@_FILE
@click.option("-i", "--in-place", is_flag=True, help="Replace FILE with its ciphertext (atomically).")
@click.option("--age", "age", multiple=True, metavar="RECIPIENT", help="age recipient (repeatable; comma lists ok).")
@_INPUT_TYPE
@click.pass_context
def encrypt(ctx: click.Context, file: Path, in_place: bool, age: tuple[str, ...], input_type: str | None) -> None:
    """Encrypt FILE for the first matching .sops.yaml rule (or --age); ciphertext to stdout unless -i."""
    name = _name(ctx, file)
    fmt = format_for(name, input_type)
    plan = encryption_target(file, _sops_config(ctx), age)
    plaintext = read_text(file, name, raw=fmt == "binary")
    ciphertext = encrypt_text(
        plaintext,
        fmt,
        name,
        recipients=plan.recipients,
        scope=plan.scope,
        key_groups=plan.key_groups,
        threshold=plan.threshold,
    )
    if in_place:
        write_text_atomically(file, ciphertext)
        click.echo(f"encrypted {name} for {len(plan.recipients)} recipient(s)", err=True)
    else:
        click.echo(ciphertext, nl=not ciphertext.endswith("\n"))


@command.command("decrypt")
@_FILE
@_INPUT_TYPE
@click.pass_context
def decrypt(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """Print the plaintext of FILE to stdout (never written to disk), after verifying its MAC."""
    name = _name(ctx, file)
    fmt = format_for(name, input_type)
    plaintext = decrypt_text(read_text(file, name), fmt, name, load_identities())
    if fmt == "binary":  # the bytes as they were, UTF-8 or not (click writes bytes to the binary stream)
        click.echo(plaintext.encode("utf-8", "surrogateescape"), nl=False)
    else:
        click.echo(plaintext, nl=not plaintext.endswith("\n"))


@command.command("edit")
@_FILE
@_INPUT_TYPE
@click.pass_context
def edit(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """Decrypt FILE into a private in-memory file, open $EDITOR, re-encrypt with the same data key (values left
    as they were keep their ciphertext) and replace FILE atomically. Nothing is written without a change."""
    from gitops.sops.edit import edit_file

    name = _name(ctx, file)

    def reopen(error: str) -> bool:
        try:
            return click.confirm(f"{error}. Re-open the editor?", default=True, err=True)
        except click.Abort:
            return False

    fmt = format_for(name, input_type)
    if edit_file(file, name, fmt, load_identities(), os.environ, reopen):
        click.echo(f"encrypted {name} again (unchanged values keep their ciphertext)", err=True)
    else:
        click.echo(f"{name}: no changes, nothing written", err=True)


@command.command("updatekeys")
@_FILE
@_INPUT_TYPE
@click.pass_context
def updatekeys(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """Re-wrap FILE's data key for its rule's current recipients (values untouched), in place."""
    name = _name(ctx, file)
    rule = _matching_rule(ctx, file, name)
    fmt = format_for(name, input_type)
    text = update_keys_text(read_text(file, name), fmt, name, load_identities(), rule.age, rule.groups, rule.threshold)
    write_text_atomically(file, text)
    click.echo(f"updated keys of {name}: {', '.join(rule.age)}", err=True)


@command.command("rotate")
@_FILE
@_INPUT_TYPE
@click.pass_context
def rotate(ctx: click.Context, file: Path, input_type: str | None) -> None:
    """New data key for FILE, every value re-encrypted (recipients from its rule, else its own), in place."""
    name = _name(ctx, file)
    rule = creation_rule(file, _sops_config(ctx))
    recipients, groups, threshold = (rule.age, rule.groups, rule.threshold) if rule and rule.age else (None, (), 0)
    fmt = format_for(name, input_type)
    text = rotate_text(
        read_text(file, name), fmt, name, load_identities(), recipients, key_groups=groups, threshold=threshold
    )
    write_text_atomically(file, text)
    click.echo(f"rotated the data key of {name}", err=True)


@command.command("verify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_INPUT_TYPE
@click.pass_context
def verify(ctx: click.Context, files: tuple[Path, ...], input_type: str | None) -> None:
    """Check each FILE decrypts with an available identity and its MAC is correct."""
    identities = load_identities()
    for file in files:
        name = _name(ctx, file)
        meta = verify_text(read_text(file, name), format_for(name, input_type), name, identities)
        click.echo(f"ok {name} (MAC verified, {len(meta.age)} age recipient(s))")


@command.command("ca-cert")
@click.argument("pem", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--env", "env", required=True, help="Environment overlay (overlays/ENV).")
@click.pass_context
def ca_cert(ctx: click.Context, pem: Path, env: str) -> None:
    """Validate PEM and write overlays/ENV/shared/mastodon-db-ca.sops.yaml encrypted for ENV's rule."""
    from gitops import certs  # x509 parsing costs a third of a second of start-up every other command skips

    root = root_from_context(ctx)
    target = certs.package_ca_cert(root, pem, env)
    click.echo(f"wrote {relative(target, root)}", err=True)


@command.command("lint")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.pass_context
def lint(ctx: click.Context, files: tuple[Path, ...]) -> None:
    """The secret-hygiene gate on source files only (no kustomize; MACs verified when an age key is available).

    FILES are accepted (pre-commit passes them) but the whole repository is checked: a rule in .sops.yaml or a
    Flux Kustomization elsewhere decides whether a file is in order.
    """
    from gitops.check.formatters import finding_line
    from gitops.check.secret_gate import lint_sources

    del files
    findings = lint_sources(root_from_context(ctx))
    for finding in findings:
        click.echo(finding_line(finding))
    errors = sum(1 for f in findings if f.is_error)
    click.echo(f"secret hygiene: {errors} errors, {len(findings) - errors} warnings", err=True)
    ctx.exit(1 if errors else 0)
