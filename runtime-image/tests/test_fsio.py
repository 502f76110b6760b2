"""Atomic output: no two writers share a temporary file, and readers can tell a temporary file from a finished one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from longvideo_runtime import fsio


def test_temporary_paths_of_two_writers_differ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "clip.mp4"
    # Two pods: pid 1 in both containers, even the same host name (a pod re-created under its name).
    monkeypatch.setattr(os, "getpid", lambda: 1)
    monkeypatch.setattr("socket.gethostname", lambda: "bay-s3-a0")
    one, two = fsio.temp_path(target), fsio.temp_path(target)
    assert one != two and one.parent == two.parent == tmp_path
    for tmp in (one, two):
        assert tmp.name.startswith(".clip.mp4.tmp-bay-s3-a0-1-"), "readers skip `.<name><mark>...`"
        tmp.write_bytes(b"partial")
        age(tmp, fsio.STALE_TEMP_SECONDS + 1)
    live = fsio.temp_path(target)
    live.write_bytes(b"still being written")
    fsio.clean_stale_temps(tmp_path)
    assert list(tmp_path.iterdir()) == [live], "both left behind are removed, the one being written is kept"


def age(path: Path, seconds: float) -> None:
    """Sets the modification time of `path` to `seconds` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_cleaning_removes_only_temporary_files_untouched_for_a_while(tmp_path: Path) -> None:
    """A concurrent writer's temporary file is recent; a dead writer's is old. Finished files are never touched."""
    fresh, old, finished = tmp_path / ".film.mp4.tmp-a", tmp_path / ".film.mp4.tmp-b", tmp_path / "film.mp4"
    claim = tmp_path / ".film.mp4.writer"
    for path in (fresh, old, finished, claim):
        path.write_bytes(b"x")
    for path in (old, finished, claim):
        age(path, 3600)
    fsio.clean_stale_temps(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, finished.name, claim.name])

    age(fresh, 120)
    fsio.clean_stale_temps(tmp_path, older_than_seconds=300)
    assert fresh.exists(), "2 minutes old is not stale for a 5-minute limit"
    fsio.clean_stale_temps(tmp_path, older_than_seconds=60)
    assert not fresh.exists()


def test_two_writers_of_one_target_each_commit_whole_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two pods writing the same file at once (pid 1 in both): each renames its own complete temporary file."""
    monkeypatch.setattr(os, "getpid", lambda: 1)
    target = tmp_path / "reference-abc"
    with fsio.atomic_target(target) as first:
        first.write_bytes(b"first writer")
        with fsio.atomic_target(target) as second:
            second.write_bytes(b"second writer")
        assert target.read_bytes() == b"second writer"
        assert first.read_bytes() == b"first writer", "the second writer never touched the first one's file"
    assert target.read_bytes() == b"first writer"
    assert list(tmp_path.iterdir()) == [target]
