"""The secret-hygiene gate `gitops check` runs: plain data in, Findings out, nothing decrypted.

Rules about what is committed look at source files (base/, overlays/, clusters/); rules about what reaches the
cluster also look at rendered manifests (a configMapGenerator only shows its keys there). Messages name keys
and files, never values.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops.certs import CA_NOT_AFTER_ANNOTATION, parse_not_after
from gitops.check.findings import Finding, Severity
from gitops.check.integrity import verify_files
from gitops.check.rules import Rule
from gitops.check.sourcemap import UNPARSABLE, SourceIndex
from gitops.encrypted import is_encrypted_value
from gitops.errors import GitopsError
from gitops.k8s import is_flux_kustomization
from gitops.manifests import Manifest, identity_of
from gitops.secret_class import config_leaks
from gitops.sops import formats
from gitops.sops.metadata import parse_metadata
from gitops.sops.recipients import recipient_drift
from gitops.sops.rules import CreationRule, find_config, load_rules, rule_for

TEST_KEY_RECIPIENT_FILE = Path("tests/keys/test-age-key.pub")
# The template's published test recipient, known even after tests/ is deleted from a fork.
PUBLISHED_TEST_RECIPIENT = "age12zcv6nfjx4342aezm8sdtz0zfz7ccdwrhmyde7gpve4ptqvx94gq7z47w8"
CA_WARNING_WINDOW = dt.timedelta(days=30)

AREA = "Secret hygiene"
PLAINTEXT_SECRET = Rule(
    "SEC-PLAINTEXT-SECRET",
    Severity.ERROR,
    "A Secret in the sources is not SOPS-encrypted",
    "Anything pushed is readable by everyone with access to the repository, forever (history keeps it). Every"
    " kind: Secret under base/, overlays/ or clusters/ must carry a sops block and ENC[] values.",
    area=AREA,
)
SOPS_RULE = Rule(
    "SEC-SOPS-RULE",
    Severity.ERROR,
    "An encrypted file matches no .sops.yaml creation rule",
    "Without a rule, the next `sops`/`gitops secrets` edit cannot tell which recipients the file is for, and"
    " nothing ensures the environment's cluster key can decrypt it.",
    area=AREA,
)
SOPS_RECIPIENTS = Rule(
    "SEC-SOPS-RECIPIENTS",
    Severity.ERROR,
    "An encrypted file's age recipients differ from its rule",
    "A recipient was added to or removed from .sops.yaml without re-wrapping the file: the new key cannot decrypt"
    " it, or a retired one still can. `gitops secrets updatekeys FILE` fixes it.",
    area=AREA,
)
FLUX_DECRYPTION = Rule(
    "SEC-FLUX-DECRYPTION",
    Severity.ERROR,
    "A Flux Kustomization applies encrypted files without `decryption`",
    "kustomize-controller refuses to apply a SOPS-encrypted Secret unless the Kustomization configures"
    " decryption (provider sops and the secretRef holding the age key); the reconcile fails in the cluster.",
    area=AREA,
)
SECRET_IN_CONFIG = Rule(
    "SEC-SECRET-IN-CONFIG",
    Severity.ERROR,
    "A secret-class key sits in a ConfigMap or a literal env value",
    "SECRET_KEY_BASE, DB_PASS, *_PASSWORD, AWS_SECRET_ACCESS_KEY, URLs with a password and the like are readable"
    " by anyone who can read ConfigMaps or pod specs, and end up in Git in plaintext. They belong in the encrypted"
    " app Secret.",
    area=AREA,
)
CA_EXPIRY = Rule(
    "SEC-CA-EXPIRY",
    Severity.ERROR,
    "The managed-database CA certificate is expired (a warning 30 days before)",
    "Rails (PGSSLROOTCERT) and streaming (NODE_EXTRA_CA_CERTS) verify the database against this CA; once it expires"
    " every new connection fails. The expiry is read from the plaintext annotation `gitops secrets ca-cert` writes.",
    area=AREA,
)
TEST_KEY = Rule(
    "SEC-TEST-KEY",
    Severity.WARNING,
    "Production secrets are encrypted for the published test key",
    "The template ships with a test age key whose private half is public, so anyone can decrypt those files."
    " Replace the production recipients with your own and run `gitops secrets updatekeys`.",
    area=AREA,
)
RULES = (PLAINTEXT_SECRET, SOPS_RULE, SOPS_RECIPIENTS, FLUX_DECRYPTION, SECRET_IN_CONFIG, CA_EXPIRY, TEST_KEY)


@dataclass(frozen=True)
class SourceDocument:
    file: str
    body: dict[str, Any]


@dataclass(frozen=True)
class EncryptedFile:
    file: str
    path: Path
    recipients: frozenset[str] | None
    """None when the metadata cannot be read (the schema check reports the broken block itself)."""


def check_hygiene(
    repo_root: Path,
    manifests: list[Manifest] | None = None,
    *,
    now: dt.datetime | None = None,
    sources: SourceIndex | None = None,
) -> list[Finding]:
    """Every hygiene finding for the repository's sources; secret-class values are judged on `manifests` when
    given (what `gitops check` rendered), on the sources otherwise. `sources` is the run's source index.
    Encrypted files' MACs are verified when an age identity is available (check.integrity)."""
    moment = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    index = sources or SourceIndex(repo_root)
    documents, encrypted = scan_sources(index)
    findings: list[Finding] = []
    findings += verify_files([(e.file, index.get(e.file).text or "") for e in encrypted])
    findings += plaintext_secrets(documents)
    findings += unmatched_or_drifted_recipients(repo_root, encrypted)
    findings += kustomizations_without_decryption(repo_root, documents, encrypted)
    findings += secrets_in_config(documents, manifests)
    findings += ca_expiry(documents, moment)
    findings += production_rules_with_test_key(repo_root)
    return findings


def lint_sources(repo_root: Path) -> list[Finding]:
    """`gitops secrets lint`: the gate on sources alone; a file it cannot parse is an error, not a silent skip."""
    sources = SourceIndex(repo_root)
    unreadable = [f for f in sources.findings() if f.rule == UNPARSABLE.id]
    return unreadable + check_hygiene(repo_root, sources=sources)


def scan_sources(sources: SourceIndex) -> tuple[list[SourceDocument], list[EncryptedFile]]:
    """YAML documents of every source file, and every sops-encrypted source file (any format)."""
    documents: list[SourceDocument] = []
    encrypted: list[EncryptedFile] = []
    for rel in sources.listing():
        if any(part.startswith(".") for part in rel.split("/")):
            continue
        source = sources.get(rel)
        try:
            fmt = formats.format_for(rel)
        except GitopsError:
            continue
        if source.text is None:
            continue
        bodies = [data for _, data in source.documents if isinstance(data, dict)]
        documents += [SourceDocument(rel, body) for body in bodies]
        yaml_block = bodies[0].get("sops") if fmt == "yaml" and bodies and _is_sops_encrypted(bodies[0]) else None
        if yaml_block is not None or any(_is_sops_encrypted(b) for b in bodies) or formats.has_marker(source.text, fmt):
            try:
                raw = yaml_block if yaml_block is not None else formats.load(source.text, fmt, rel).metadata
                meta = parse_metadata(raw, rel)
            except GitopsError:
                meta = None
            recipients = frozenset(meta.recipients) if meta else None
            encrypted.append(EncryptedFile(rel, sources.repo_root / rel, recipients))
    return documents, encrypted


def _is_sops_encrypted(body: dict[str, Any]) -> bool:
    sops = body.get("sops")
    return isinstance(sops, dict) and bool(sops.get("mac"))


def _finding(rule: str, severity: Severity, message: str, doc: SourceDocument | None = None, **kw: Any) -> Finding:
    identity = identity_of(doc.body) if doc is not None else kw.pop("identity", None)
    file = doc.file if doc is not None else kw.pop("file", None)
    return Finding(rule, severity, message, identity=identity, file=file, **kw)


def plaintext_secrets(documents: list[SourceDocument]) -> list[Finding]:
    """SEC-PLAINTEXT-SECRET: a Secret in sources must be sops-encrypted, every data/stringData value ENC[...]."""
    findings = []
    for doc in documents:
        if doc.body.get("kind") != "Secret":
            continue
        if not _is_sops_encrypted(doc.body):
            findings.append(
                _finding(
                    "SEC-PLAINTEXT-SECRET",
                    Severity.ERROR,
                    "Secret is not SOPS-encrypted (run gitops secrets encrypt)",
                    doc,
                )
            )
            continue
        for field in ("data", "stringData"):
            values = doc.body.get(field)
            for key, value in values.items() if isinstance(values, dict) else []:
                if isinstance(value, str) and value and not is_encrypted_value(value):
                    message = (
                        f"{field}.{key} is in plaintext in a SOPS file "
                        "(its rule must use encrypted_regex ^(data|stringData)$)"
                    )
                    findings.append(
                        _finding("SEC-PLAINTEXT-SECRET", Severity.ERROR, message, doc, path=f"/{field}/{key}")
                    )
    return findings


def unmatched_or_drifted_recipients(repo_root: Path, encrypted: list[EncryptedFile]) -> list[Finding]:
    """SEC-SOPS-RULE: every encrypted file matches a creation rule and is encrypted for exactly its recipients."""
    findings = []
    for item in encrypted:
        try:
            config = find_config(item.path, repo_root)
            rule = rule_for(item.path, config) if config is not None else None
        except GitopsError as exc:
            findings.append(Finding("SEC-SOPS-RULE", Severity.ERROR, str(exc), file=item.file))
            continue
        if rule is None:
            message = "SOPS-encrypted file matches no .sops.yaml creation rule"
            findings.append(Finding("SEC-SOPS-RULE", Severity.ERROR, message, file=item.file))
        elif item.recipients is not None and any(drift := recipient_drift(rule, item.recipients)):
            missing, extra = drift
            message = (
                f"age recipients differ from .sops.yaml creation_rules[{rule.index}] "
                f"(missing: {', '.join(missing) or '-'}; not in rule: {', '.join(extra) or '-'}); "
                "run gitops secrets updatekeys"
            )
            findings.append(Finding("SEC-SOPS-RECIPIENTS", Severity.ERROR, message, file=item.file))
    return findings


def kustomizations_without_decryption(
    repo_root: Path, documents: list[SourceDocument], encrypted: list[EncryptedFile]
) -> list[Finding]:
    """SEC-FLUX-DECRYPTION: a Flux Kustomization whose path holds encrypted files must configure decryption."""
    findings = []
    for doc in documents:
        body = doc.body
        if not is_flux_kustomization(body):
            continue
        spec = body.get("spec") or {}
        path = str(spec.get("path") or ".").strip()
        prefix = Path(path.lstrip("/")).as_posix().removeprefix("./").strip("/")
        inside = [e.file for e in encrypted if prefix in ("", ".") or e.file.startswith(prefix + "/")]
        decryption = spec.get("decryption") if isinstance(spec, dict) else None
        if inside and not (isinstance(decryption, dict) and decryption.get("provider") == "sops"):
            message = (
                f"Flux Kustomization path {path} holds SOPS-encrypted files ({inside[0]}"
                f"{' and more' if len(inside) > 1 else ''}) but has no spec.decryption (provider: sops)"
            )
            findings.append(_finding("SEC-FLUX-DECRYPTION", Severity.ERROR, message, doc, path="/spec/decryption"))
    return findings


def secrets_in_config(documents: list[SourceDocument], manifests: list[Manifest] | None) -> list[Finding]:
    """SEC-SECRET-IN-CONFIG: secret-class values where anyone with read access to config can see them.

    Judged once per fact: on the rendered manifests when there are any (a configMapGenerator's keys exist only
    there; the pipeline adds the source line), on the source documents otherwise (`gitops secrets lint`)."""
    findings = []
    if manifests is None:
        for doc in documents:
            for path, key, where in config_leaks(doc.body):
                findings.append(
                    _finding(SECRET_IN_CONFIG.id, Severity.ERROR, _leak_message(key, where), doc, path=path)
                )
        return findings
    for manifest in manifests:
        for path, key, where in config_leaks(manifest.body):
            findings.append(
                Finding(
                    SECRET_IN_CONFIG.id,
                    Severity.ERROR,
                    _leak_message(key, where),
                    identity=manifest.identity,
                    target=manifest.target,
                    path=path,
                    file=manifest.origin,
                )
            )
    return findings


def _leak_message(key: str, where: str) -> str:
    return f"secret-class key {key} in {where}; move it to an encrypted Secret"


def ca_expiry(documents: list[SourceDocument], now: dt.datetime) -> list[Finding]:
    """SEC-CA-EXPIRY: from the plaintext annotation; warning within 30 days, error once expired."""
    findings = []
    for doc in documents:
        annotations = (doc.body.get("metadata") or {}).get("annotations") or {}
        if not isinstance(annotations, dict) or CA_NOT_AFTER_ANNOTATION not in annotations:
            continue
        pointer = "/metadata/annotations/" + CA_NOT_AFTER_ANNOTATION.replace("/", "~1")
        raw = str(annotations[CA_NOT_AFTER_ANNOTATION])
        not_after = parse_not_after(raw)
        if not_after is None:
            message = f"{CA_NOT_AFTER_ANNOTATION} is not a time like 2031-01-01T00:00:00Z"
            findings.append(_finding("SEC-CA-EXPIRY", Severity.ERROR, message, doc, path=pointer))
        elif not_after <= now:
            message = f"CA certificate expired on {raw}; run gitops secrets ca-cert with the new bundle"
            findings.append(_finding("SEC-CA-EXPIRY", Severity.ERROR, message, doc, path=pointer))
        elif not_after - now <= CA_WARNING_WINDOW:
            days = (not_after - now).days
            message = f"CA certificate expires on {raw} (in {days} days); package the renewed bundle"
            findings.append(_finding("SEC-CA-EXPIRY", Severity.WARNING, message, doc, path=pointer))
    return findings


def production_rules_with_test_key(repo_root: Path) -> list[Finding]:
    """SEC-TEST-KEY: a production creation rule still encrypting for the repository's published test key."""
    test_key_file = repo_root / TEST_KEY_RECIPIENT_FILE
    config = repo_root / ".sops.yaml"
    if not config.is_file():
        return []
    test_recipients = {PUBLISHED_TEST_RECIPIENT}
    if test_key_file.is_file():
        test_recipients.add(test_key_file.read_text(encoding="utf-8").strip())
    try:
        rules = load_rules(config)
    except GitopsError as exc:
        return [Finding("SEC-SOPS-RULE", Severity.ERROR, str(exc), file=".sops.yaml")]
    return [
        Finding(
            "SEC-TEST-KEY",
            Severity.WARNING,
            f"creation_rules[{rule.index}] ({rule.path_regex}) encrypts production secrets for the published test "
            "key; replace its age recipients with your own and run gitops secrets updatekeys on each file",
            file=".sops.yaml",
        )
        for rule in rules
        if _is_production(rule) and test_recipients & set(rule.age)
    ]


def _is_production(rule: CreationRule) -> bool:
    return rule.path_regex is not None and "production" in rule.path_regex
