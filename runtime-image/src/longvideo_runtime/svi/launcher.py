"""LV_GPU_COUNT > 1: the segment command starts one process per GPU, watches them and speaks for them.

This process (the pod's, without torch) checks the split first (svi/parallel_plan.py: a count the model's heads do
not allow is bad input before anything starts), then starts ranks 0..P-1 as `python -m longvideo_runtime segment`
with torch.distributed's variables set (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, a free MASTER_PORT):
rank 0 is the segment command as in one process (it writes every output), the others denoise only
(svi/parallel_render.py). Each rank writes its own termination message into a scratch directory.

How it ends:
- rank 0 exits 0: the segment is done; its message is this command's, byte for byte. Ranks still running are
  stopped (they have nothing left to do once rank 0 is past the last collective).
- a rank fails: the others are stopped at once (SIGTERM, then SIGKILL after a grace period), and the segment fails
  with the failing rank's exit code and message, its error prefixed with the rank. When a rank dies, its peers'
  next collective fails too, a moment later; of the ranks seen failing first, one with a specific code (bad input,
  hand-off, out of memory, ...) is preferred over an internal error, since that is what a broken collective is.
- a rank killed by a signal leaves no message: the failure is internal and names the signal.
- this process is stopped (SIGTERM): the ranks are stopped, and the segment reports Terminated as in one process.

Each rank leads its own process group (so stopping it stops what it started, e.g. ffmpeg) and is killed by the
kernel if this process dies first (PR_SET_PDEATHSIG): no rank outlives the launch.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvideo_runtime.errors import (
    BadInput,
    ExitCode,
    HandoffError,
    OutOfMemory,
    Terminated,
    Waited,
    WorkerError,
    WorkspaceError,
)
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.svi.parallel_plan import plan_segment

POLL_SECONDS = 0.05
#: How long a stopped rank gets to end by itself (SIGTERM) before it is killed.
GRACE_SECONDS = 10.0
#: How long ranks 1..P-1 may take to end after rank 0 has finished; they are then stopped.
AFTER_RANK_0_SECONDS = 10.0
_PR_SET_PDEATHSIG = 1
_REASONS: dict[int, str] = {
    int(error.code): error.kind
    for error in (WorkerError, BadInput, HandoffError, OutOfMemory, WorkspaceError, Waited, Terminated)
}


def launched_rank() -> tuple[int, int, int] | None:
    """(rank, world size, local rank) when this process is a rank of a launch, else None."""
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank is None or world is None:
        return None
    return int(rank), int(world), int(os.environ.get("LOCAL_RANK", rank))


def wanted(spec: SegmentSpec) -> bool:
    """Whether this segment command launches ranks (rather than render, or be one)."""
    return spec.backend == "svi" and spec.svi.gpu_count > 1 and launched_rank() is None


@dataclass(frozen=True)
class Outcome:
    code: int
    #: Rank 0's message as it wrote it (success), or the message to write (failure).
    text: str | None = None
    message: dict[str, Any] | None = None


@dataclass
class _Rank:
    index: int
    process: subprocess.Popen[bytes]
    termination: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _die_with(parent: int) -> None:
    """In the child, before exec: the kernel kills it when the launcher dies (Linux; elsewhere a no-op)."""
    if sys.platform != "linux":
        return
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(int(ExitCode.TERMINATED))


def _start(index: int, env: Mapping[str, str], scratch: Path) -> _Rank:
    termination = scratch / f"rank-{index}.json"
    parent = os.getpid()
    with open(scratch / f"rank-{index}.out", "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "longvideo_runtime", "--termination-log", str(termination), "segment"],
            env={**env, "RANK": str(index), "LOCAL_RANK": str(index)},
            stdin=subprocess.DEVNULL,
            stdout=out,
            process_group=0,
            # The launcher has no threads, so running Python between fork and exec is safe here.
            preexec_fn=lambda: _die_with(parent),  # noqa: PLW1509
        )
    return _Rank(index, process, termination)


def _signal(rank: _Rank, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(rank.process.pid, signum)


def _stop(ranks: list[_Rank]) -> None:
    """Every rank and what it started: SIGTERM, then SIGKILL after GRACE_SECONDS. Not interrupted by SIGTERM."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        for rank in ranks:
            _signal(rank, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for rank in ranks:
            with contextlib.suppress(subprocess.TimeoutExpired):
                rank.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for rank in ranks:
            # Also the group of a rank that has exited: what it started may still run.
            _signal(rank, signal.SIGKILL)
            rank.process.wait()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


def _message(rank: _Rank, code: int, world: int) -> dict[str, Any]:
    """The failing rank's termination message, its error prefixed with the rank; made up if it left none."""
    try:
        message = json.loads(rank.termination.read_text())
        if not isinstance(message, dict) or not isinstance(message.get("error"), str):
            raise ValueError("not a failure message")
    except (OSError, ValueError):
        if code < 0:
            error = f"killed by {signal.Signals(-code).name}"
            code = int(ExitCode.INTERNAL)
        else:
            error = f"exited with code {code} without a message"
        message = {
            "ok": False,
            "exitCode": code,
            "reason": _REASONS.get(code, _REASONS[ExitCode.INTERNAL]),
            "error": error,
        }
    message["error"] = f"rank {rank.index} of {world}: {message['error']}"
    return message


def _first_failure(failed: list[tuple[_Rank, int]]) -> tuple[_Rank, int]:
    specific = [f for f in failed if f[1] > 0 and f[1] != ExitCode.INTERNAL]
    return min(specific or failed, key=lambda f: f[0].index)


def _supervise(ranks: list[_Rank], log: Logger) -> Outcome:
    world = len(ranks)
    finished_at: float | None = None
    while True:
        codes = [(rank, rank.process.poll()) for rank in ranks]
        if codes[0][1] == 0:
            text = ranks[0].termination.read_text() if ranks[0].termination.exists() else ""
            if not text:
                return Outcome(int(ExitCode.INTERNAL), message=_message(ranks[0], int(ExitCode.INTERNAL), world))
            finished_at = finished_at if finished_at is not None else time.monotonic()
            waiting = [rank.index for rank, code in codes if code is None]
            if not waiting or time.monotonic() - finished_at > AFTER_RANK_0_SECONDS:
                if waiting:
                    log.warning("ranks-stopped-after-rank-0", ranks=waiting)
                return Outcome(int(ExitCode.OK), text=text)
        else:
            failed = [(rank, code) for rank, code in codes if code is not None and code != 0]
            if failed:
                rank, code = _first_failure(failed)
                log.error("rank-failed", rank=rank.index, code=code, failed=[r.index for r, _ in failed])
                message = _message(rank, code, world)
                return Outcome(int(message["exitCode"]), message=message)
        time.sleep(POLL_SECONDS)


def launch(spec: SegmentSpec, overrides: Mapping[str, str | None], log_level: str, log: Logger) -> Outcome:
    """Runs the segment on LV_GPU_COUNT ranks; `overrides` are the command line's LV_* options, passed on."""
    plan = plan_segment(spec)
    env = {
        **os.environ,
        **{name: value for name, value in overrides.items() if value is not None},
        "LV_LOG_LEVEL": log_level,
        "WORLD_SIZE": str(plan.ranks),
        "LOCAL_WORLD_SIZE": str(plan.ranks),
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(_free_port()),
    }
    with tempfile.TemporaryDirectory(prefix="lv-ranks-") as scratch:
        ranks: list[_Rank] = []
        try:
            for index in range(plan.ranks):
                ranks.append(_start(index, env, Path(scratch)))
            log.info(
                "ranks-started",
                ranks=plan.ranks,
                cfg_parallel=plan.cfg,
                ulysses=plan.ulysses,
                pids=[rank.process.pid for rank in ranks],
            )
            return _supervise(ranks, log)
        finally:
            _stop(ranks)
