"""Bad input and broken handoffs: the right exit code and message, and nothing that looks finished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chain import latents_digest, render_chain, segment_env
from conftest import SRC, run_cli
from longvideo_runtime import safetensors_io
from longvideo_runtime.cli import compact

COMMON = {"LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "9"}


@pytest.fixture
def chain(tmp_path: Path, reference_png: Path) -> Path:
    ws = tmp_path / "ws"
    render_chain(ws, 1, ["a sea"], tmp_path, **COMMON, LV_REFERENCE_IMAGE_PATH=str(reference_png))
    return ws


def next_env(ws: Path, **extra: str) -> dict[str, str]:
    env = segment_env(ws, 1, 3, **COMMON, LV_PROMPT="gulls", LV_INPUT_DIGEST=latents_digest(ws, 0))
    env.update(extra)
    return env


def assert_not_finished(ws: Path, index: int = 1) -> None:
    assert not (ws / "segments" / str(index) / "result.json").exists()


def test_missing_latents_exit_3(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain)
    (chain / "segments" / "0" / "latents.safetensors").unlink()
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 3 and "missing" in run.message["error"]
    assert run.termination == run.message and run.message["reason"] == "handoff"
    assert run.message["segment"] == 1 and run.message["inputDigest"] == env["LV_INPUT_DIGEST"]
    assert_not_finished(chain)


def test_corrupt_latents_exit_3(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain)
    path = chain / "segments" / "0" / "latents.safetensors"
    path.write_bytes(path.read_bytes()[:-100])
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 3 and "has digest" in run.message["error"]
    assert_not_finished(chain)


def test_digest_mismatch_exit_3(tmp_path: Path, chain: Path) -> None:
    run = run_cli(["segment"], next_env(chain, LV_INPUT_DIGEST="sha256:" + "0" * 64), tmp_path)
    assert run.code == 3 and "not the sha256:0000" in run.message["error"]
    assert_not_finished(chain)


def test_valid_file_that_is_not_a_handoff_exit_3(tmp_path: Path, chain: Path) -> None:
    path = chain / "segments" / "0" / "latents.safetensors"
    path.write_bytes(safetensors_io.dumps({"x": np.zeros(3, np.float32)}))
    digest = "sha256:" + __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    run = run_cli(["segment"], next_env(chain, LV_INPUT_DIGEST=digest), tmp_path)
    assert run.code == 3 and "not a LongVideo handoff" in run.message["error"]


def test_wrong_shape_exit_2(tmp_path: Path, chain: Path) -> None:
    run = run_cli(["segment"], next_env(chain, LV_WIDTH="80"), tmp_path)
    assert run.code == 2 and "does not fit this segment" in run.message["error"]
    assert_not_finished(chain)


def test_bad_environment_exit_2(tmp_path: Path) -> None:
    run = run_cli(["segment"], {"LV_WORKSPACE": str(tmp_path), "LV_SEGMENT_INDEX": "0", "LV_FRAMES": "10"}, tmp_path)
    assert run.code == 2 and run.message == run.termination
    assert "4n+1" in run.message["error"] and run.message["reason"] == "bad-input"
    usage = run_cli(["segment", "--no-such-option"], {}, tmp_path)
    assert usage.code == 2 and "unrecognized arguments" in usage.message["error"]


def test_unwritable_workspace_exit_5(tmp_path: Path, reference_png: Path) -> None:
    blocker = tmp_path / "ws"
    blocker.mkdir()
    (blocker / "segments").write_text("a file where a directory belongs")
    env = segment_env(blocker, 0, 1, **COMMON, LV_PROMPT="x", LV_REFERENCE_IMAGE_PATH=str(reference_png))
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 5 and run.message["reason"] == "workspace" and "cannot write" in run.message["error"]
    if os.geteuid() != 0:
        readonly = tmp_path / "ro"
        readonly.mkdir(mode=0o555)
        env["LV_WORKSPACE"] = str(readonly)
        assert run_cli(["segment"], env, tmp_path).code == 5


@pytest.mark.parametrize("stage", ["after-clip", "before-result"])
def test_killed_mid_write_leaves_no_result_and_a_retry_finishes(tmp_path: Path, chain: Path, stage: str) -> None:
    # A finished earlier attempt with other inputs must not survive next to half-written new files.
    assert run_cli(["segment"], next_env(chain, LV_SEED="1"), tmp_path).code == 0
    env = {**next_env(chain), "LV_DEBUG_STALL_AT": stage, "PYTHONPATH": str(SRC), "PATH": os.environ["PATH"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "longvideo_runtime", "segment"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if '"debug-stall"' in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert_not_finished(chain)
    env.pop("LV_DEBUG_STALL_AT")
    retry = run_cli(["segment"], env, tmp_path)
    assert retry.code == 0, retry.stderr
    names = sorted(p.name for p in (chain / "segments" / "1").iterdir())
    assert names == ["clip.mp4", "latents.safetensors", "poster.png", "result.json"], "stale temporaries are removed"


def test_sigterm_reports_terminated(tmp_path: Path, chain: Path) -> None:
    term = tmp_path / "term.json"
    env = {
        **next_env(chain),
        "LV_DEBUG_STALL_AT": "after-clip",
        "PYTHONPATH": str(SRC),
        "PATH": os.environ["PATH"],
        "LV_TERMINATION_LOG": str(term),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "longvideo_runtime", "segment"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if '"debug-stall"' in line:
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 143
    assert json.loads(term.read_text())["reason"] == "terminated"
    assert_not_finished(chain)


def test_finished_segment_is_reused_not_rendered_twice(tmp_path: Path, chain: Path) -> None:
    first = run_cli(["segment"], next_env(chain), tmp_path)
    again = run_cli(["segment"], next_env(chain, LV_ATTEMPT="1"), tmp_path)
    assert again.code == 0 and again.message.get("reused") is True
    assert again.message["latentsDigest"] == first.message["latentsDigest"]
    assert not any(line["event"] == "render-start" for line in again.logs)
    (chain / "segments" / "1" / "clip.mp4").write_bytes(b"damaged")
    third = run_cli(["segment"], next_env(chain), tmp_path)
    assert third.code == 0 and "reused" not in third.message


def test_termination_message_stays_under_the_kubernetes_limit() -> None:
    text = compact({"ok": False, "error": "x" * 10_000, "segment": 3})
    assert len(text.encode()) <= 4096 and json.loads(text)["segment"] == 3
