"""Command-line entry point. Each command lives in gitops.commands.<name> and is a thin wrapper."""

from __future__ import annotations

import atexit
import gc
import importlib
import os
import signal
import sys
from pathlib import Path

import click

from gitops.errors import GitopsError

# name -> (module under gitops.commands exposing a click command called `command`, the command's help).
# The help is repeated here so that `gitops --help` lists the commands without importing any of them;
# tests/test_architecture.py checks that each one still matches the command's own docstring.
COMMANDS: dict[str, tuple[str, str]] = {
    "render": (
        "render",
        "Render targets (each Flux Kustomization, else kustomize directories) to rendered/<target>.yaml.",
    ),
    "check": (
        "check",
        "Validate every rendered document: strict Kubernetes/Flux schemas, secret hygiene, the Mastodon policy.",
    ),
    "secrets": ("secrets", "Encrypt and decrypt SOPS files (age), keep their keys current, package the database CA."),
    "diff": ("diff", "Render BASE and HEAD, compare per target. Exit 0: no changes, 1: changes, 2: error."),
}


class LazyGroup(click.Group):
    """Imports a command's module only when that command runs (keeps start-up and `--help` small)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        return importlib.import_module(f"gitops.commands.{entry[0]}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing click would write, from the help kept in COMMANDS instead of the imported commands.
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitops")
@click.option(
    "-C",
    "--repo",
    "repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Repository root (default: found upward from the current directory).",
)
@click.pass_context
def cli(ctx: click.Context, repo: Path | None) -> None:
    """Render, check, diff and encrypt a Kustomize + Flux repository before Flux syncs it."""
    ctx.obj = {"repo": repo}


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)  # CI cancels with SIGTERM: clean up as for Ctrl-C
    signal.signal(signal.SIGINT, _interrupt)
    # Registered first, so it runs last of the exit handlers (after temporary directories and the source memo):
    # the interpreter's final garbage collection then skips the objects the run made, memory the process returns
    # whole on exit (~18 ms of a 0.3 s diff, measured). Python promises no finalizer for what is alive at exit.
    atexit.register(gc.freeze)
    try:
        code = cli.main(prog_name="gitops", standalone_mode=False)
    except GitopsError as exc:
        _fail(str(exc))
    except click.exceptions.Abort:  # click's form of KeyboardInterrupt (and of SIGTERM, see above)
        _stop_children()
        _fail("interrupted", code=130)
    except click.UsageError as exc:  # one line like every other error, not click's three-line usage block
        where = exc.ctx.command_path if exc.ctx is not None else "gitops"
        _fail(f"{where}: {exc.format_message()} (see {where} --help)")
    except click.ClickException as exc:
        exc.show()
        sys.exit(2)
    except KeyboardInterrupt:
        _stop_children()
        _fail("interrupted", code=130)
    except BrokenPipeError:
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("GITOPS_DEBUG"):
            raise
        _fail(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    sys.exit(code if isinstance(code, int) else 0)


def _interrupt(signum: int, frame: object) -> None:
    """SIGINT and SIGTERM: running children (in process groups of their own, which the terminal's Ctrl-C does
    not reach) are killed and no new one starts, wherever the main thread waits: leaving a thread pool waits
    for its workers, whose builds would otherwise run on. Then the clean-up of a KeyboardInterrupt."""
    del signum, frame
    _stop_children()
    raise KeyboardInterrupt


def _stop_children() -> None:
    # A command that never imported gitops.processes started no child to stop; importing it here would add
    # subprocess and threading to the start-up of every command (`secrets decrypt` runs none).
    processes = sys.modules.get("gitops.processes")
    if processes is not None:
        processes.stop_all()


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"gitops: error: {message}", err=True)
    sys.exit(code)
