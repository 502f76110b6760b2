"""Warm hand-off (ADR 0026) on the animatic backend: phases, the early commit, the warm wait and its failures."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from chain import attempt_dir, latents_digest, render_chain, result_dir, segment_env
from conftest import SRC, run_cli

COMMON = {"LV_BACKEND": "animatic", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "17"}
CONTRACT: dict[str, Any] = json.loads((SRC / "longvideo_runtime" / "contract.json").read_text())
PHASES = {"ready", "wait", "denoise", "decode", "encode"}


def instant(text: str) -> datetime:
    """An instant as the worker writes it: ISO 8601, UTC, milliseconds."""
    assert len(text) == len("2026-12-02T14:37:58.123Z") and text.endswith("Z"), text
    return datetime.fromisoformat(text)


def segment(ws: Path, index: int, variant: str, reference: Path, **extra: str) -> dict[str, str]:
    return segment_env(
        ws,
        index,
        3,
        **COMMON,
        LV_VARIANT=variant,
        LV_PROMPT=f"clip {index}",
        LV_REFERENCE_IMAGE_PATH=str(reference),
        **extra,
    )


@contextmanager
def started(env: Mapping[str, str], tmp: Path, name: str) -> Iterator[subprocess.Popen[str]]:
    """The segment command running in the background (its termination message in tmp/<name>.json); killed after."""
    full = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(SRC),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LV_TERMINATION_LOG": str(tmp / f"{name}.json"),
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "longvideo_runtime", "segment"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


def wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def stall_line(proc: subprocess.Popen[str], stage: str) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if '"debug-stall"' in line:
            assert f'"stage": "{stage}"' in line or f'"stage":"{stage}"' in line, line
            return
    raise AssertionError(f"the worker ended without stalling at {stage}")


def warm_env(ws: Path, predecessor: Mapping[str, str], variant: str, reference: Path, **extra: str) -> dict[str, str]:
    """Segment 1 started warm after the attempt `predecessor` names."""
    source = str(attempt_dir(predecessor).relative_to(ws))
    return segment(ws, 1, variant, reference, LV_INPUT_FROM=source, **extra)


# --- phases and the early commit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["film", "pro"])
def test_every_segment_reports_its_phases_and_instants(tmp_path: Path, reference_png: Path, variant: str) -> None:
    ws = tmp_path / "ws"
    runs = render_chain(
        ws, 2, ["a sea"], tmp_path, **COMMON, LV_VARIANT=variant, LV_REFERENCE_IMAGE_PATH=str(reference_png)
    )
    for i, run in enumerate(runs):
        result = json.loads((result_dir(ws, i) / "result.json").read_text())
        assert set(result["phases"]) == PHASES and set(run.message["phases"]) == PHASES
        assert all(round(v, 3) == run.message["phases"][k] for k, v in result["phases"].items()), "ms in the message"
        assert result["phases"]["wait"] == 0, "serial: nothing to wait for"
        for phase in ("ready", "denoise", "decode", "encode"):
            assert result["phases"][phase] > 0, phase
        assert "handoffSeenAt" not in result and "handoffSeenAt" not in run.message, "serial: no commit was seen"
        assert run.message["committedAt"] == result["committedAt"]
        assert run.message["denoiseStartedAt"] == result["denoiseStartedAt"]
        marks = {k: instant(v) for k, v in result["instants"].items()}
        assert instant(result["committedAt"]) == marks["committed"]
        # Animatic: the clean frames (denoise), the commit, then captions (decode), then the clip's encode.
        order = [
            "started",
            "ready",
            "seen",
            "denoise",
            "denoised",
            "committed",
            "decode",
            "decoded",
            "encode",
            "encoded",
        ]
        assert [marks[k] for k in order] == sorted(marks[k] for k in order)
        commit = json.loads((result_dir(ws, i) / "handoff.json").read_text())
        assert commit == {"latentsDigest": result["latentsDigest"], "committedAt": result["committedAt"]}
        text = json.dumps(run.termination, separators=(",", ":"), ensure_ascii=False)
        assert len(text.encode()) <= CONTRACT["terminationMessage"]["maxBytes"]


@pytest.mark.parametrize("variant", ["film", "pro"])
def test_the_hand_off_is_committed_before_the_clip_is_encoded(
    tmp_path: Path, reference_png: Path, variant: str
) -> None:
    ws = tmp_path / "ws"
    env = segment(ws, 0, variant, reference_png, LV_DEBUG_STALL_AT="after-commit")
    with started(env, tmp_path, "stalled") as proc:
        stall_line(proc, "after-commit")
        directory = attempt_dir(env)
        commit = json.loads((directory / "handoff.json").read_text())
        assert (
            commit["latentsDigest"]
            == "sha256:" + hashlib.sha256((directory / "latents.safetensors").read_bytes()).hexdigest()
        )
        instant(commit["committedAt"])
        assert sorted(p.name for p in directory.iterdir()) == ["handoff.json", "latents.safetensors"]
    # A re-run of the same attempt replaces the commit with its own.
    again = run_cli(["segment"], {k: v for k, v in env.items() if k != "LV_DEBUG_STALL_AT"}, tmp_path)
    assert again.code == 0, again.stderr[-2000:]
    commit = json.loads((attempt_dir(env) / "handoff.json").read_text())
    assert (
        commit["committedAt"] == again.message["committedAt"]
        and commit["latentsDigest"] == again.message["latentsDigest"]
    )


# --- the warm wait ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["film", "pro"])
def test_a_warm_segment_waits_for_its_predecessors_commit_and_renders_what_serial_would(
    tmp_path: Path, reference_png: Path, variant: str
) -> None:
    ws = tmp_path / "ws"
    first = segment(ws, 0, variant, reference_png, LV_DEBUG_STALL_AT="after-commit")
    env = warm_env(ws, first, variant, reference_png)
    with started(env, tmp_path, "warm") as warm:
        # Segment 1 is up (and polling) before segment 0 has started.
        time.sleep(1.0)
        assert warm.poll() is None
        with started(first, tmp_path, "first") as predecessor:
            assert warm.wait(timeout=120) == 0, warm.stderr.read() if warm.stderr else ""
            # Segment 0 is still parked right after its commit: no clip, no result, and segment 1 is done.
            assert predecessor.poll() is None
            assert not (attempt_dir(first) / "result.json").exists()
            assert not (attempt_dir(first) / "clip.mp4").exists()
    commit = json.loads((attempt_dir(first) / "handoff.json").read_text())
    message = json.loads((tmp_path / "warm.json").read_text())
    result = json.loads((attempt_dir(env) / "result.json").read_text())
    assert message["ok"] is True and message["inputDigest"] == commit["latentsDigest"] == result["inputDigest"]
    assert instant(message["handoffSeenAt"]) >= instant(commit["committedAt"])
    assert message["handoffSeenAt"] == result["handoffSeenAt"]
    assert message["phases"]["wait"] > 0.5, "it waited for segment 0 to start and draw"
    assert result["inputFrom"] == env["LV_INPUT_FROM"]

    # The same segment rendered serially from that digest: the same hand-off, byte for byte.
    serial = segment(ws, 1, variant, reference_png, LV_INPUT_DIGEST=commit["latentsDigest"])
    assert serial["LV_SEGMENT_HASH"] == env["LV_SEGMENT_HASH"]
    # Segment 0 never finished; its committed hand-off is found from a complete directory only, so finish it first.
    finished = run_cli(["segment"], {k: v for k, v in first.items() if k != "LV_DEBUG_STALL_AT"}, tmp_path)
    assert finished.code == 0 and finished.message["latentsDigest"] == commit["latentsDigest"]
    done = run_cli(["segment"], serial, tmp_path)
    assert done.code == 0, done.stderr[-2000:]
    assert attempt_dir(serial) != attempt_dir(env)
    assert done.message["latentsDigest"] == message["latentsDigest"]
    serial_result = json.loads((attempt_dir(serial) / "result.json").read_text())
    assert serial_result["fingerprint"] == result["fingerprint"]

    # The warm attempt run again finds its own finished result.
    reused = run_cli(["segment"], env, tmp_path)
    assert reused.code == 0 and reused.message["reused"] is True
    assert reused.message["latentsDigest"] == message["latentsDigest"]
    assert reused.message["inputDigest"] == commit["latentsDigest"]


def test_a_warm_segment_whose_predecessor_never_commits_exits_waited(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    first = segment(ws, 0, "film", reference_png)
    env = warm_env(ws, first, "film", reference_png, LV_WAIT_SECONDS="0.3")
    began = time.monotonic()
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == CONTRACT["exitCodes"]["waited"] == 6
    assert time.monotonic() - began < 30
    assert run.termination == run.message
    assert run.message["reason"] == CONTRACT["failureReasons"]["waited"]
    assert set(run.message) <= set(CONTRACT["terminationMessage"]["failure"])
    assert "missingSegment" not in run.message
    error = run.message["error"]
    assert str(ws / env["LV_INPUT_FROM"]) in error and "LV_WAIT_SECONDS 0.3" in error
    assert re.search(r"in 0\.[3-9] seconds of waiting", error), error
    assert not (attempt_dir(env) / "result.json").exists()


def test_a_corrupt_committed_hand_off_is_a_handoff_failure_naming_the_predecessor(
    tmp_path: Path, reference_png: Path
) -> None:
    ws = tmp_path / "ws"
    first = segment(ws, 0, "film", reference_png)
    assert run_cli(["segment"], first, tmp_path).code == 0
    latents = attempt_dir(first) / "latents.safetensors"
    data = bytearray(latents.read_bytes())
    data[-1] ^= 0xFF
    latents.write_bytes(bytes(data))
    run = run_cli(["segment"], warm_env(ws, first, "film", reference_png, LV_WAIT_SECONDS="5"), tmp_path)
    assert run.code == CONTRACT["exitCodes"]["handoff"] == 3, run.stderr[-2000:]
    assert run.message["reason"] == "handoff" and run.message["missingSegment"] == 0
    assert str(latents) in run.message["error"] and latents_digest(ws, 0) in run.message["error"]

    # A commit that names no digest is as bad.
    (attempt_dir(first) / "handoff.json").write_text("{}")
    run = run_cli(["segment"], warm_env(ws, first, "film", reference_png, LV_WAIT_SECONDS="5"), tmp_path)
    assert run.code == 3 and run.message["missingSegment"] == 0 and "handoff.json" in run.message["error"]
