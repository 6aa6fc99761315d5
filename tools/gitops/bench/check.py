"""Check benchmark: validation throughput vs kubernetes-validate, check time vs bare YAML parsing, peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from gitops.bench.synthetic import write_synthetic_repo
from gitops.bench.timing import measure, table
from gitops.check.schema import SchemaSet, validate_body
from gitops.config import load_config
from gitops.manifests import YAML_LOADER
from gitops.render import render_targets

THROUGHPUT_GOAL = 30.0
PARSE_GOAL = 1.5

_PEAK_MEMORY = """
import json, resource, sys
from collections.abc import Sequence
from pathlib import Path
from gitops.check.pipeline import check_repo
result = check_repo(Path(sys.argv[1]))
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"documents": len(result.manifests), "maxrss_kib": peak}))
"""


def count_invalid(bodies: Sequence[dict[str, Any]], schema_set: SchemaSet) -> int:
    """Validate plain documents (no findings built) and return how many are invalid."""
    return sum(1 for body in bodies if validate_body(body, schema_set))


def kubernetes_validate_baseline(bodies: Sequence[dict[str, Any]], kubernetes_version: str) -> int:
    """The same documents through kubernetes-validate's own validate() (strict); returns invalid count.

    Needs the `schemas` extra. Kinds it has no schema for count as valid, as its CLI treats them.
    """
    import kubernetes_validate  # optional dependency, bench only

    invalid = 0
    for body in bodies:
        try:
            kubernetes_validate.validate(body, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError:
            invalid += 1
        except kubernetes_validate.SchemaNotFoundError:
            pass
    return invalid


def _parse(texts: list[str]) -> list[dict[str, Any]]:
    return [doc for text in texts for doc in yaml.load_all(text, Loader=YAML_LOADER) if doc is not None]


def bench_check(repo: Path, work: Path, instances: int) -> list[str]:
    synthetic = work / f"check-{instances}"
    write_synthetic_repo(repo, synthetic, instances)
    texts = [r.text for r in render_targets(synthetic)]
    version = load_config(repo).kubernetes_version
    schema_set = SchemaSet.load(version)
    bodies = _parse(texts)
    count_invalid(bodies, schema_set)  # compile every validator once, as a check run does before its hot loop

    parse = measure(lambda: _parse(texts), 3)
    parse_and_validate = measure(lambda: count_invalid(_parse(texts), schema_set), 3)
    validate = measure(lambda: count_invalid(bodies, schema_set), 3)
    baseline = measure(lambda: kubernetes_validate_baseline(bodies, version), 1)
    ours_rate = len(bodies) / validate
    theirs_rate = len(bodies) / baseline
    throughput = ours_rate / theirs_rate
    parse_ratio = parse_and_validate / parse

    proc = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, str(synthetic)], capture_output=True, text=True, check=True
    )
    peak = json.loads(proc.stdout.strip().splitlines()[-1])

    rows = [
        ["YAML parse only (CSafeLoader)", f"{parse * 1000:.0f} ms", ""],
        ["parse + gitops validation", f"{parse_and_validate * 1000:.0f} ms", f"{parse_ratio:.2f}x of parse"],
        ["gitops validation", f"{validate * 1000:.0f} ms", f"{ours_rate:,.0f} docs/s"],
        ["kubernetes-validate validate()", f"{baseline * 1000:.0f} ms", f"{theirs_rate:,.0f} docs/s"],
    ]
    return [
        f"check: {len(bodies)} documents from {instances} synthetic instances, Kubernetes {version} strict schemas",
        table(["step", "time", "rate"], rows),
        f"throughput vs kubernetes-validate: {throughput:,.0f}x (goal >= {THROUGHPUT_GOAL:.0f}x: "
        f"{'met' if throughput >= THROUGHPUT_GOAL else 'NOT met'})",
        f"check time vs bare YAML parsing: {parse_ratio:.2f}x (goal <= {PARSE_GOAL}x: "
        f"{'met' if parse_ratio <= PARSE_GOAL else 'NOT met'})",
        f"peak memory of a whole `check_repo` run ({peak['documents']} documents): {peak['maxrss_kib'] / 1024:.0f} MiB",
    ]
