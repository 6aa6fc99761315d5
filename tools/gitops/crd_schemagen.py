"""Regenerate the committed CRD schema catalog (schemas/crds) from CRD YAML files: `make crd-schemas`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from gitops.check.schema import _read_schema
from gitops.config import DEFAULT_KUBERNETES_VERSION
from gitops.crd_schemas import OBJECT_META_SOURCE, catalog_file_name, is_crd, object_meta_defs, served_versions
from gitops.errors import GitopsError
from gitops.manifests import YAML_LOADER
from gitops.paths import SCHEMAS_DIR
from gitops.schemagen import _write_json as write_json  # one atomic JSON writer


def _crd_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml", ".json") and p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise GitopsError(f"{path}: no such file or directory")
    return files


def generate(paths: Iterable[Path], out: Path, meta_defs: Mapping[str, Any]) -> list[Path]:
    """Write one catalog file per served version of every CRD found under `paths`; returns the files written."""
    written: list[Path] = []
    for file in _crd_files(paths):
        try:
            documents = list(yaml.load_all(file.read_text(encoding="utf-8"), Loader=YAML_LOADER))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise GitopsError(f"{file}: cannot read: {str(exc).splitlines()[0]}") from None
        for body in documents:
            if isinstance(body, dict) and is_crd(body):
                for version in served_versions(body, meta_defs, file.name):
                    target = out / catalog_file_name(version.group, version.kind, version.version)
                    write_json(target, version.schema)
                    written.append(target)
    if not written:
        raise GitopsError(f"{', '.join(str(p) for p in paths)}: no CustomResourceDefinition with a served version")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gitops.crd_schemagen", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help="CRD YAML files or directories holding them")
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR / "crds", help="catalog directory")
    parser.add_argument("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION, help="ObjectMeta source")
    args = parser.parse_args(argv)
    try:
        bundle = _read_schema(SCHEMAS_DIR / "kubernetes" / f"v{args.kubernetes_version}" / OBJECT_META_SOURCE)
        written = generate(args.paths, args.out, object_meta_defs(bundle))
    except GitopsError as exc:
        print(f"gitops.crd_schemagen: error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
