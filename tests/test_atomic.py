"""The one atomic write: all or nothing, permissions kept, no temp file left behind."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from gitops.atomic import write_text_atomically


def test_a_new_file_gets_the_umask_mode_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        fresh = tmp_path / "deep" / "new.txt"
        write_text_atomically(fresh, "a\r\nb\n")
        assert fresh.read_bytes() == b"a\r\nb\n"  # newlines as given
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o640
    finally:
        os.umask(old)
    kept = tmp_path / "kept.txt"
    kept.write_text("old")
    kept.chmod(0o600)
    write_text_atomically(kept, "new")
    assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "kept.txt"]


def test_a_failed_write_leaves_the_old_content_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "report.txt"
    target.write_text("old")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomically(target, "bad \udcff surrogate")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.txt"]
