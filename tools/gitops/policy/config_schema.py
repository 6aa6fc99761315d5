"""The policy part of gitops.yaml (`environments`) checked against its schema, apart from the runner: every
command validates gitops.yaml, and only `check` needs the rules the runner imports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gitops.errors import GitopsError
from gitops.paths import CONFIG_FILE, SCHEMAS_DIR

SCHEMA_FILE = SCHEMAS_DIR / "policy-config.schema.json"


def validate_config(config: dict[str, Any], schema_file: Path = SCHEMA_FILE) -> None:
    """Check the policy part of gitops.yaml (`environments`) against schemas/policy-config.schema.json."""
    import jsonschema_rs  # only when gitops.yaml content is validated (config.py remembers what passed)

    try:
        schema = json.loads(schema_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GitopsError(f"{schema_file}: cannot read schema: {exc}") from None
    part = {"environments": config["environments"]} if "environments" in config else {}
    # jsonschema_rs, as for gitops.yaml itself and every manifest: one JSON-schema library in the tool
    errors = list(jsonschema_rs.validator_for(schema).iter_errors(part))
    if errors:
        error = min(errors, key=lambda e: (len(e.instance_path), [str(p) for p in e.instance_path]))
        where = ".".join(str(p) for p in error.instance_path) or "(top level)"
        message = " ".join(error.message.split())
        raise GitopsError(f"{CONFIG_FILE}: {where}: {message}")
