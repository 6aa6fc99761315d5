"""What kustomize-controller does to built objects before applying them, in its order:
postBuild substitution, commonMetadata, then the owner labels.

Variables come from spec.postBuild.substituteFrom in list order (a later ConfigMap/Secret overrides an
earlier one), then spec.postBuild.substitute overrides them all; newlines are removed from every value.
Substitution runs only when spec.postBuild is set and at least one variable results, and skips objects
labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from gitops.errors import GitopsError
from gitops.flux.envsubst import SubstitutionError, check_variable_names, substitute
from gitops.flux.objects import (
    OWNER_NAME_LABEL,
    OWNER_NAMESPACE_LABEL,
    SUBSTITUTE_KEY,
    FluxKustomization,
    SubstituteReference,
)
from gitops.manifests import YAML_LOADER, dump_documents

# (kind, namespace, name) -> the rendered object, or None when the cluster's render has none.
Lookup = Callable[[str, str, str], "dict[str, Any] | None"]


@dataclass
class Variables:
    values: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def load_variables(ks: FluxKustomization, lookup: Lookup, identities: Sequence[Any], label: str) -> Variables:
    """The variables for `ks`. A missing non-optional reference is a warning naming it (see _KeepUnknown).

    A SOPS-encrypted Secret is decrypted in memory with `identities`; without a usable identity its keys map
    to their own `${KEY}` text, so the references stay unsubstituted, and a warning names them.
    """
    result = Variables()
    for reference in ks.substitute_from:
        found = lookup(reference.kind, ks.namespace, reference.name)
        if found is None:
            if reference.optional:
                continue
            # Flux retries until the object exists: typically a Secret an ExternalSecret or another controller
            # creates in the cluster. Its keys are unknown here, so no reference is resolved to a guess.
            result.warnings.append(
                f"{label}: substituteFrom {reference.kind}/{ks.namespace}/{reference.name} is not in the cluster's "
                "render (Flux waits until it exists; mark it optional: true if it may be absent); "
                "references to variables no other source sets stay as written"
            )
            result.values = _KeepUnknown(result.values)
            continue
        if reference.kind == "ConfigMap":
            data = found.get("data") or {}
            values = {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
        else:
            values = _secret_values(found, reference, identities, label, result.warnings)
        for key, value in values.items():
            result.values[key] = value.replace("\n", "")
    for key, value in (ks.substitute or {}).items():
        result.values[key] = value.replace("\n", "")
    return result


class _KeepUnknown(dict[str, str]):
    """Variables when a required source is missing: any variable may come from it, so a reference to one
    no other source sets evaluates to its own `${NAME}` text instead of the empty string."""

    def __contains__(self, key: object) -> bool:
        return True

    def __bool__(self) -> bool:
        return True

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key, f"${{{key}}}")


def _secret_values(
    secret: dict[str, Any], reference: SubstituteReference, identities: Sequence[Any], label: str, warnings: list[str]
) -> dict[str, str]:
    """A Secret's data (base64) and stringData (plain, winning as the API server merges it), as text."""
    data: dict[str, Any] = secret["data"] if isinstance(secret.get("data"), dict) else {}
    string_data: dict[str, Any] = secret["stringData"] if isinstance(secret.get("stringData"), dict) else {}
    where = f"{label}: substituteFrom {reference}"
    if isinstance(secret.get("sops"), dict):
        opened = _decrypted(secret, identities, where)
        if opened is None:
            keys = sorted({*map(str, data), *map(str, string_data)})
            warnings.append(
                f"{where} is SOPS-encrypted and no age identity can open it; "
                f"these variables stay unsubstituted: {', '.join(keys) or '(none)'}"
            )
            return {key: f"${{{key}}}" for key in keys}
        data = {k: opened.get(("data", str(k)), v) for k, v in data.items()}
        string_data = {k: opened.get(("stringData", str(k)), v) for k, v in string_data.items()}
    values: dict[str, str] = {}
    for key, encoded in data.items():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            raise GitopsError(f"{where}: data.{key} is not valid base64") from None
    for key, plain in string_data.items():
        values[str(key)] = str(plain)
    return values


def _decrypted(secret: dict[str, Any], identities: Sequence[Any], where: str) -> dict[tuple[str, ...], str] | None:
    if not identities:
        return None
    from gitops.sops import decrypt_values  # only repositories with encrypted substituteFrom pay for it

    try:
        opened = decrypt_values(secret, where, identities)
    except GitopsError:
        return None
    return {path: plaintext.decode("utf-8", errors="replace") for path, (plaintext, _kind) in opened.items()}


def is_substitution_disabled(body: dict[str, Any]) -> bool:
    metadata = body.get("metadata") or {}
    for key in ("labels", "annotations"):
        values = metadata.get(key) if isinstance(metadata, dict) else None
        if isinstance(values, dict) and values.get(SUBSTITUTE_KEY) == "disabled":
            return True
    return False


def substitute_objects(
    ks: FluxKustomization, documents: list[dict[str, Any]], variables: dict[str, str], label: str, *, strict: bool
) -> list[dict[str, Any]]:
    """Each object's YAML with the variables substituted and parsed again, as the controller does."""
    if not ks.post_build or not variables:
        return documents
    try:
        check_variable_names(variables)
    except SubstitutionError as exc:
        raise GitopsError(f"{label}: {exc}") from None
    out = []
    for body in documents:
        if is_substitution_disabled(body) or not _mentions_dollar(body):
            # Without a `$` in any key or string, the YAML text has none either: envsubst returns it as it
            # is and parsing it again gives back the same object.
            out.append(body)
            continue
        text = dump_documents([body])
        try:
            result = yaml.load(substitute(text, variables, strict=strict), Loader=YAML_LOADER)
        except SubstitutionError as exc:
            raise GitopsError(f"{label}: {_describe(body)}: envsubst error: {exc}") from None
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise GitopsError(f"{label}: {_describe(body)}: not valid YAML after substitution: {problem}") from None
        if not isinstance(result, dict):
            raise GitopsError(f"{label}: {_describe(body)}: not a mapping after substitution")
        out.append(result)
    return out


def _mentions_dollar(value: Any) -> bool:
    if isinstance(value, str):
        return "$" in value
    if isinstance(value, dict):
        return any(_mentions_dollar(k) or _mentions_dollar(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions_dollar(item) for item in value)
    return False  # numbers, booleans, null and timestamps are written without `$`


def _describe(body: dict[str, Any]) -> str:
    metadata = body.get("metadata") or {}
    return f"{body.get('kind')}/{metadata.get('name') if isinstance(metadata, dict) else ''}"


def set_metadata(ks: FluxKustomization, documents: list[dict[str, Any]]) -> None:
    """commonMetadata labels and annotations, then the owner labels, set (overwriting) on every object."""
    for body in documents:
        metadata = body.setdefault("metadata", {})
        if ks.common_labels:
            metadata.setdefault("labels", {}).update(ks.common_labels)
        if ks.common_annotations:
            metadata.setdefault("annotations", {}).update(ks.common_annotations)
        labels = metadata.setdefault("labels", {})
        labels[OWNER_NAME_LABEL] = ks.name
        labels[OWNER_NAMESPACE_LABEL] = ks.namespace
