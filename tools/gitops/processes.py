"""Child processes that can always be stopped: each runs in its own process group with a deadline.

Builds run in worker threads; an interrupt (Ctrl-C, SIGTERM) reaches only the main thread. The main
thread then calls `stop_all()`: every live group is killed and no new child starts, so queued builds
end at once instead of being waited for.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gitops.errors import GitopsError

_lock = threading.Lock()
_live: set[subprocess.Popen[bytes]] = set()
_stopping = threading.Event()


class Stopped(GitopsError):
    """The run is being interrupted; raised instead of starting or finishing a child."""


class TimedOut(GitopsError):
    """A child ran past its deadline and was killed with its process group."""


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def run_bounded(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    address_space: int | None = None,
) -> Completed:
    """Run `argv` to completion in a new process group; kill the whole group after `timeout` seconds.

    `address_space` caps the child's virtual memory (RLIMIT_AS), set from the parent with prlimit right
    after the start: a preexec_fn is not safe in a threaded parent.
    """
    if _stopping.is_set():
        raise Stopped("interrupted")
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    )
    with _lock:
        _live.add(proc)
        # stop_all may have taken its list of live children between the check above and this add: it then
        # set _stopping first, so this child is killed here instead of running on (and exit waiting for it).
        stopped = _stopping.is_set()
    if stopped:
        _kill_group(proc)
    try:
        if address_space is not None:
            # fails when the child already exited, or without prlimit: the timeout still bounds it
            with contextlib.suppress(OSError, ValueError):
                resource.prlimit(proc.pid, resource.RLIMIT_AS, (address_space, address_space))
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.communicate()
            raise TimedOut(f"{argv[0]}: killed after {timeout:g} s (limits.buildTimeoutSeconds)") from None
    finally:
        with _lock:
            _live.discard(proc)
        if proc.returncode is None:
            _kill_group(proc)
            proc.wait()
    if _stopping.is_set():
        raise Stopped("interrupted")
    return Completed(proc.returncode, out.decode("utf-8", errors="replace"), err.decode("utf-8", errors="replace"))


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def stop_all() -> None:
    """Kill every running child's process group and refuse to start new ones (for the rest of the run)."""
    _stopping.set()
    with _lock:
        running = list(_live)
    for proc in running:
        _kill_group(proc)
