"""Whether a file is encrypted for exactly the recipients its creation rule names (the hygiene gate's question)."""

from __future__ import annotations

from collections.abc import Iterable

from gitops.sops.rules import CreationRule


def recipient_drift(rule: CreationRule, file_recipients: Iterable[str]) -> tuple[list[str], list[str]]:
    """(recipients the rule names that the file lacks, recipients of the file the rule does not name).

    A rule's `key_groups` count with every recipient of every group, as do the file's, whichever layout sops
    wrote them in (flat `age:` for one group, `key_groups:` for several). Both lists empty: nothing drifted."""
    wanted = {recipient for group in rule.key_groups for recipient in group}
    present = set(file_recipients)
    return sorted(wanted - present), sorted(present - wanted)
