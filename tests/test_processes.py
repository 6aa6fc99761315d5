"""processes: an interrupt that lands while a child is starting still stops that child (no build outlives it)."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from gitops import processes


def test_a_child_started_while_stopping_is_killed(monkeypatch: pytest.MonkeyPatch) -> None:
    """stop_all runs after run_bounded checked for it but before the child is registered (the interrupt's race):
    the child must not run on to its timeout."""
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    def popen_then_interrupt(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real_popen(*args, **kwargs)
        started.append(proc)
        processes.stop_all()  # the main thread's interrupt handler, between the start and the registration
        return proc

    monkeypatch.setattr(processes.subprocess, "Popen", popen_then_interrupt)
    began = time.monotonic()
    try:
        with pytest.raises(processes.Stopped):
            processes.run_bounded(["sleep", "600"], timeout=60)
    finally:
        processes._stopping.clear()  # the flag is for the rest of a run; tests share the process
    assert time.monotonic() - began < 30
    assert started[0].poll() is not None
