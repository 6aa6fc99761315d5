"""The one error type the CLI turns into a one-line message and exit code 2."""


class GitopsError(Exception):
    """A problem with the input or the environment, reported as one line (exit 2).

    The message must name the file or target at fault and must never contain secret material.
    """


class BuildError(GitopsError):
    """kustomize ran and refused to build a target (a bad patch, invalid YAML, a missing file, ...)."""


class MissingInputError(BuildError):
    """The build failed because a file or directory it reads does not exist.

    Kept apart because only this failure can come from our own input listing (the diff's base side writes
    just the files the walk found); every other build failure is the repository's and is reported as is.
    """
