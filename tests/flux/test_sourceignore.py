"""What source-controller leaves out of a GitRepository artifact. Expected values follow the GitRepository docs
("Excluding files": .gitignore format, `.sourceignore` files anywhere, defaults replaced when patterns are
given) and Go's filepath.Match documentation for single-name patterns."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from gitops.errors import GitopsError
from gitops.flux.files import RepoFiles, generated_resources
from gitops.flux.graph import render_flux
from gitops.flux.sourceignore import Pattern, SourceIgnore, go_match, load
from gitops.kustomize import Kustomize
from tests.flux.helpers import SYNC, copy_fixture, flux_kustomization, kinds_and_names, target
from tests.helpers import write_tree


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        ("abc", "abc", True),
        ("*", "abc", True),
        ("*c", "abc", True),
        ("a*", "a", True),
        ("a*", "xa", False),
        ("a?c", "abc", True),
        ("a?c", "ac", False),
        ("[a-c]x", "bx", True),
        ("[^a-c]x", "bx", False),
        ("[^a-c]x", "dx", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("*.tar.gz", "x.tar.gz", True),
        # malformed patterns (Go's ErrBadPattern) match nothing
        ("[", "[", False),
        ("a[", "a[", False),
        ("[]a]", "]", False),
        ("\\", "\\", False),
    ],
)
def test_single_names_match_as_go_filepath_match(pattern: str, name: str, expected: bool) -> None:
    assert go_match(pattern, name) is expected


def _ignore(*lines: str) -> SourceIgnore:
    return SourceIgnore(tuple(Pattern.parse(line) for line in lines))


def test_the_official_examples_sourceignore() -> None:
    # fluxcd/flux2-kustomize-helm-example/.sourceignore: exclude everything, include the manifest directories
    ignore = _ignore("/*", "!/apps/", "!/clusters/", "!/infrastructure/")
    assert ignore.excludes("README.md")
    assert ignore.excludes("scripts/validate.sh")
    assert not ignore.excludes("apps/base/podinfo/release.yaml")
    assert not ignore.excludes("clusters/production/apps.yaml")


def test_name_patterns_match_any_component_and_directory_patterns_only_directories() -> None:
    ignore = _ignore("docs/", "*.md", "!keep.md")
    assert ignore.excludes("docs/guide.yaml")  # under an excluded directory
    assert ignore.excludes("apps/docs/x.yaml")
    assert not ignore.excludes("apps/docs")  # a file named docs is no directory
    assert ignore.excludes("apps/README.md")
    assert not ignore.excludes("apps/keep.md")  # the last matching pattern decides


def test_double_star_spans_directories() -> None:
    ignore = _ignore("apps/**/test.yaml", "**/.sops.yaml")
    assert ignore.excludes("apps/a/b/test.yaml")
    assert not ignore.excludes("other/a/test.yaml")
    assert ignore.excludes(".sops.yaml") and ignore.excludes("clusters/x/.sops.yaml")


def test_defaults_apply_only_without_patterns(tmp_path: Path) -> None:
    write_tree(tmp_path, {"clusters/.sops.yaml": "creation_rules: []\n", "img/logo.png": "x"})
    defaults = load(tmp_path)
    assert defaults.excludes("clusters/.sops.yaml") and defaults.excludes("img/logo.png")
    assert defaults.excludes(".git/config") and defaults.excludes(".github/workflows/ci.yaml")
    (tmp_path / ".sourceignore").write_text("# only docs\ndocs/\n", encoding="utf-8")
    custom = load(tmp_path)
    assert not custom.excludes("clusters/.sops.yaml") and not custom.excludes("img/logo.png")
    assert custom.excludes("docs/a.yaml") and custom.excludes(".git/config")  # VCS patterns always stay


def test_nested_sourceignore_is_scoped_to_its_directory(tmp_path: Path) -> None:
    write_tree(tmp_path, {"apps/.sourceignore": "*.txt\n/local.yaml\n"})
    ignore = load(tmp_path)
    assert ignore.excludes("apps/notes.txt") and ignore.excludes("apps/sub/notes.txt")
    assert not ignore.excludes("notes.txt")
    assert ignore.excludes("apps/local.yaml") and not ignore.excludes("apps/sub/local.yaml")


def test_spec_ignore_adds_to_the_files_patterns(tmp_path: Path) -> None:
    write_tree(tmp_path, {".sourceignore": "docs/\n"})
    ignore = load(tmp_path, spec_ignore="tests/\n!docs/keep.yaml\n")
    assert ignore.excludes("tests/a.yaml") and ignore.excludes("docs/a.yaml")
    assert not ignore.excludes("docs/keep.yaml")


def test_a_generated_kustomization_leaves_out_what_the_artifact_does_not_hold(tmp_path: Path) -> None:
    root = copy_fixture("fields", tmp_path)
    listed = [p.relative_to(root / "app").as_posix() for p in generated_resources(root / "app", RepoFiles(root))]
    assert listed == ["deploy.yaml", "pkg", "sub/settings.yml"]  # defaults: .sops.yaml is not in the artifact
    (root / ".sourceignore").write_text("app/sub/\n", encoding="utf-8")
    listed = [p.relative_to(root / "app").as_posix() for p in generated_resources(root / "app", RepoFiles(root))]
    # the file's patterns replace the defaults, so .sops.yaml is in the artifact (and listed) now
    assert listed == [".sops.yaml", "deploy.yaml", "pkg"]


def test_render_follows_sourceignore(tmp_path: Path, kustomize: Kustomize) -> None:
    root = copy_fixture("example", tmp_path)
    (root / ".sourceignore").write_text("cluster-issuers.yaml\n", encoding="utf-8")
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    configs = target(result, "clusters/staging/flux-system/infra-configs")
    assert kinds_and_names(configs) == set()  # infrastructure/configs has no kustomization file


def test_the_screen_never_hides_a_match() -> None:
    # excludes() first asks one regex whether any pattern may match; it must answer yes wherever one does.
    from gitops.flux.sourceignore import _screen

    names = ["a", "b", "docs", ".git", "x.yaml", "x.png", "keep.md", "test.yaml", ".sops.yaml"]
    patterns = [
        *("docs/", "*.md", "/a", "a/b", "a/**", "**/b", "a/**/x.yaml", "/*", "*", "**", "?", "[a-c]", "x.*"),
        *("/docs/", "b/**/", "**/.sops.yaml", "a//b", "/**", "a/*/x.yaml", ".git/"),
    ]
    rng = random.Random(7)
    for _ in range(3000):
        rel = "/".join(rng.choice(names) for _ in range(rng.randint(1, 4)))
        domain = tuple(rng.choice(["a", "b"]) for _ in range(rng.randint(0, 1)))
        pattern = Pattern.parse(rng.choice(patterns), domain)
        parts = tuple(rel.split("/"))
        for is_dir in (False, True):
            if pattern.matches(parts, is_dir):
                assert _screen((pattern,)).search(rel), (pattern, rel)


_SYNC = SYNC + flux_kustomization("web", "./web")
_WEB = {
    "clusters/c/flux-system/gotk-sync.yaml": _SYNC,
    "web/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [config.yaml]
        configMapGenerator:
        - name: branding
          files: [logo.png]
    """,
    "web/config.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: config, namespace: default}
    """,
    "web/logo.png": "not really a picture\n",
}


def test_a_file_the_artifact_leaves_out_fails_the_build_as_in_flux(tmp_path: Path, kustomize: Kustomize) -> None:
    """source-controller's defaults leave `*.png` out of the artifact: kustomize-controller's build of `web`
    cannot read logo.png, though kustomize on the checkout could."""
    root = write_tree(tmp_path / "repo", _WEB)
    with pytest.raises(GitopsError) as failure:
        render_flux(root, kustomize=kustomize)
    assert str(failure.value) == (
        "clusters/c/flux-system/web: web/logo.png (named in web/kustomization.yaml) is not in the source artifact, "
        "excluded by source-controller's default ignore pattern '*.png' (a .sourceignore replaces the defaults): "
        "Flux's build cannot read it"
    )


def test_a_sourceignore_that_keeps_the_file_lets_it_build(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(tmp_path / "repo", {**_WEB, ".sourceignore": "*.md\n"})  # replaces the defaults
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    names = sorted(name for _kind, _namespace, name in kinds_and_names(target(result, "clusters/c/flux-system/web")))
    assert len(names) == 2 and names[0].startswith("branding-") and names[1] == "config"


def test_a_resource_a_sourceignore_excludes_is_named_with_its_pattern(tmp_path: Path, kustomize: Kustomize) -> None:
    root = write_tree(tmp_path / "repo", {**_WEB, "web/.sourceignore": "config.yaml\n", "web/logo.png": ""})
    with pytest.raises(GitopsError) as failure:
        render_flux(root, kustomize=kustomize)
    assert "web/config.yaml (named in web/kustomization.yaml) is not in the source artifact, excluded by " in str(
        failure.value
    )
    assert "'config.yaml' in web/.sourceignore" in str(failure.value)


def _with_spec_ignore(ignore: str) -> dict[str, str]:
    sync = _SYNC.replace(
        "spec: {url: https://example.org/repo}",
        "spec:\n      url: https://example.org/repo\n      ignore: |\n"
        + "".join(f"        {line}\n" for line in ignore.splitlines()),
    )
    return {
        "clusters/c/flux-system/gotk-sync.yaml": sync,
        "web/config.yaml": _WEB["web/config.yaml"],
        "web/skip.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: skip, namespace: default}
        """,
    }


def test_the_sync_gitrepositorys_spec_ignore_leaves_files_out(tmp_path: Path, kustomize: Kustomize) -> None:
    """source-controller adds spec.ignore to the .sourceignore patterns: the generated kustomization of
    `web` lists only what the artifact holds."""
    root = write_tree(tmp_path / "repo", _with_spec_ignore("# not this one\n/web/skip.yaml"))
    result = render_flux(root, kustomize=kustomize)
    assert result is not None
    assert kinds_and_names(target(result, "clusters/c/flux-system/web")) == {("ConfigMap", "default", "config")}
    assert RepoFiles(root).in_artifact(root / "web/skip.yaml")  # without knowing the sync source's spec.ignore


def test_spec_ignore_is_named_when_a_kustomization_needs_what_it_leaves_out(
    tmp_path: Path, kustomize: Kustomize
) -> None:
    files = _with_spec_ignore("/*\n!/clusters\n!/web\n/web/skip.yaml")
    files["web/kustomization.yaml"] = """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: [config.yaml, skip.yaml]
    """
    root = write_tree(tmp_path / "repo", files)
    with pytest.raises(GitopsError, match=r"web/skip\.yaml .* excluded by '/web/skip\.yaml' in spec\.ignore"):
        render_flux(root, kustomize=kustomize)
