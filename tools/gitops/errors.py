"""The one error type the CLI turns into a one-line message and exit code 2."""


class GitopsError(Exception):
    """A problem with the input or the environment, reported as one line (exit 2).

    The message must name the file or target at fault and must never contain secret material.
    """
