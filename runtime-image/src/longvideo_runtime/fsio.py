"""Atomic file output: write to a temporary name in the same directory, fsync, rename into place."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from longvideo_runtime.errors import WorkspaceError
from longvideo_runtime.workspace_layout import TEMPORARY_MARK

TMP_MARK = TEMPORARY_MARK


def writer_token() -> str:
    """A name part no other writer uses: host and pid (for people reading a directory) and a random token.

    The pid alone is not enough: it is 1 in every container, so two pods writing the same target would share a
    temporary file; pod hostnames differ, but a pod restarted in place keeps its name, so the token decides.
    """
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())[:64] or "host"
    return f"{host}-{os.getpid()}-{secrets.token_hex(8)}"


def temp_path(target: Path) -> Path:
    """A sibling name that never looks finished and that no other writer uses: `.name.tmp-<host>-<pid>-<token>`."""
    return target.with_name(f".{target.name}{TMP_MARK}{writer_token()}")


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: Path, target: Path) -> None:
    """fsync `tmp` and rename it over `target` (atomic on one filesystem), then fsync the directory."""
    with workspace_errors(target):
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
        _fsync_dir(target.parent)


def write_bytes(target: Path, data: bytes) -> None:
    tmp = temp_path(target)
    with workspace_errors(target):
        tmp.write_bytes(data)
    commit(tmp, target)


@contextlib.contextmanager
def atomic_target(target: Path) -> Iterator[Path]:
    """Yields a temporary path to fill; commits it to `target` on success, removes it on failure."""
    tmp = temp_path(target)
    try:
        yield tmp
        commit(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def remove(target: Path) -> None:
    with workspace_errors(target):
        try:
            target.unlink()
        except FileNotFoundError:
            return
        _fsync_dir(target.parent)


#: How long a temporary file must sit unmodified before clean_stale_temps takes it for a dead writer's.
STALE_TEMP_SECONDS = 600.0


def clean_stale_temps(directory: Path, older_than_seconds: float = STALE_TEMP_SECONDS) -> None:
    """Removes temporary files a killed attempt left behind: those not modified for `older_than_seconds`.

    Only old ones: another writer may still be filling its own temporary file in the same directory (a concat
    pod that is being superseded, or a pod of the same job still running on a partitioned node). Removing that
    file would make its commit fail. A live writer's file is written in one burst, from start to rename, so its
    mtime stays recent. A dead writer's file is left for a few more minutes, which does no harm: its name never
    looks finished.
    """
    if not directory.is_dir():
        return
    cutoff = time.time() - older_than_seconds
    for entry in directory.iterdir():
        if entry.name.startswith(".") and TMP_MARK in entry.name:
            with contextlib.suppress(FileNotFoundError):
                if entry.lstat().st_mtime <= cutoff:
                    entry.unlink()


def ensure_dir(directory: Path) -> None:
    with workspace_errors(directory):
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".probe{TMP_MARK}{writer_token()}"
        probe.write_bytes(b"")
        probe.unlink()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


@contextlib.contextmanager
def workspace_errors(path: Path) -> Iterator[None]:
    """Turns storage failures (read-only, permissions, full disk, not a directory) into WorkspaceError."""
    try:
        yield
    except OSError as e:
        storage = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST}
        if e.errno in storage:
            raise WorkspaceError(f"cannot write {path}: {e.strerror or e}") from e
        raise
