"""Bad input and broken handoffs: the right exit code and message, and nothing that looks finished."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from chain import attempt_dir, latents_digest, render_chain, result_dir, segment_env
from conftest import SRC, Run, run_cli
from longvideo_runtime import safetensors_io
from longvideo_runtime.cli import compact

COMMON = {"LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "9"}


@pytest.fixture
def chain(tmp_path: Path, reference_png: Path) -> Path:
    ws = tmp_path / "ws"
    render_chain(ws, 1, ["a sea"], tmp_path, **COMMON, LV_REFERENCE_IMAGE_PATH=str(reference_png))
    return ws


def next_env(ws: Path, **extra: str) -> dict[str, str]:
    """Segment 1 of 3 after the fixture's segment 0; `extra` changes its inputs (and so its plan hash)."""
    return segment_env(ws, 1, 3, **{**COMMON, "LV_PROMPT": "gulls", "LV_INPUT_DIGEST": latents_digest(ws, 0), **extra})


def assert_not_finished(env: dict[str, str]) -> None:
    """The attempt with this environment left nothing that looks complete."""
    assert not (attempt_dir(env) / "result.json").exists()


def assert_handoff_failure(run: Run, env: dict[str, str], *wanted: str) -> None:
    """Exit 3, reason handoff, segment 0 to render again, the directory searched and the digest wanted named."""
    assert run.code == 3, run.stderr[-2000:]
    assert run.termination == run.message and run.message["reason"] == "handoff"
    assert run.message["segment"] == 1 and run.message["inputDigest"] == env["LV_INPUT_DIGEST"]
    assert run.message["missingSegment"] == 0
    error = run.message["error"]
    assert f"{env['LV_WORKSPACE']}/segments/0/*/" in error and env["LV_INPUT_DIGEST"] in error
    for text in wanted:
        assert text in error
    assert_not_finished(env)


def test_missing_latents_exit_3(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain)
    latents = result_dir(chain, 0) / "latents.safetensors"
    latents.unlink()
    assert_handoff_failure(run_cli(["segment"], env, tmp_path), env, f"{latents} is missing")


def test_corrupt_latents_exit_3(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain)
    path = result_dir(chain, 0) / "latents.safetensors"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte of the tensors changed, the size kept
    path.write_bytes(bytes(data))
    assert_handoff_failure(run_cli(["segment"], env, tmp_path), env, f"{path} has digest", "(corrupt)")


def test_missing_predecessor_exit_3(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain)
    shutil.rmtree(chain / "segments" / "0")
    assert_handoff_failure(run_cli(["segment"], env, tmp_path), env, "no complete attempt's result.json records it")


def test_an_unfinished_predecessor_is_not_read(tmp_path: Path, chain: Path) -> None:
    """Latents with the right digest in a directory without result.json: an attempt that may still be writing."""
    env = next_env(chain)
    (result_dir(chain, 0) / "result.json").unlink()
    assert_handoff_failure(run_cli(["segment"], env, tmp_path), env, "no complete attempt")


def test_digest_mismatch_exit_3(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain, LV_INPUT_DIGEST="sha256:" + "0" * 64)
    assert_handoff_failure(run_cli(["segment"], env, tmp_path), env)


def test_valid_file_that_is_not_a_handoff_exit_3(tmp_path: Path, chain: Path) -> None:
    directory = result_dir(chain, 0)
    path = directory / "latents.safetensors"
    path.write_bytes(safetensors_io.dumps({"x": np.zeros(3, np.float32)}))
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    result = json.loads((directory / "result.json").read_text())
    (directory / "result.json").write_text(json.dumps({**result, "latentsDigest": digest}))
    run = run_cli(["segment"], next_env(chain, LV_INPUT_DIGEST=digest), tmp_path)
    assert run.code == 3 and "not a LongVideo handoff" in run.message["error"]
    assert run.message["missingSegment"] == 0


def test_wrong_shape_exit_2(tmp_path: Path, chain: Path) -> None:
    env = next_env(chain, LV_WIDTH="80")
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and "does not fit this segment" in run.message["error"]
    assert "missingSegment" not in run.message, "only hand-off failures name a segment to render again"
    assert_not_finished(env)


def test_bad_environment_exit_2(tmp_path: Path) -> None:
    env = segment_env(tmp_path, 0, 1, LV_FRAMES="10")
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and run.message == run.termination
    assert "4n+1" in run.message["error"] and run.message["reason"] == "bad-input"
    for bad in ("", "../up", "a/b", "-rf", "x" * 129, "sha256:" + "0" * 64):
        run = run_cli(["segment"], segment_env(tmp_path, 0, 1, **COMMON, LV_SEGMENT_HASH=bad), tmp_path)
        assert run.code == 2 and "LV_SEGMENT_HASH" in run.message["error"], bad
    assert not (tmp_path / "segments").exists(), "nothing is written for a bad spec"
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
    # A finished attempt with other inputs (another plan) stays as it is, beside the killed one's directory.
    other = next_env(chain, LV_SEED="1")
    assert run_cli(["segment"], other, tmp_path).code == 0
    other_files = {p.name: p.read_bytes() for p in attempt_dir(other).iterdir()}
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
    assert_not_finished(env)
    env.pop("LV_DEBUG_STALL_AT")
    # The same attempt run again (the Job's pod replaced after a disruption) finishes in its own directory.
    retry = run_cli(["segment"], env, tmp_path)
    assert retry.code == 0, retry.stderr
    names = sorted(p.name for p in attempt_dir(env).iterdir())
    assert names == ["clip.mp4", "handoff.json", "latents.safetensors", "poster.png", "result.json"], (
        "stale temporaries are removed"
    )
    assert {p.name: p.read_bytes() for p in attempt_dir(other).iterdir()} == other_files
    assert attempt_dir(other) != attempt_dir(env)


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
    assert_not_finished(env)


def test_finished_segment_is_reused_not_rendered_twice(tmp_path: Path, chain: Path) -> None:
    first_env = next_env(chain)
    first = run_cli(["segment"], first_env, tmp_path)
    # Attempt 1 finds attempt 0's complete result (the operator never recorded it) and reports it, writing nothing.
    again = run_cli(["segment"], next_env(chain, LV_ATTEMPT="1"), tmp_path)
    assert again.code == 0 and again.message.get("reused") is True
    assert again.message["latentsDigest"] == first.message["latentsDigest"]
    assert not any(line["event"] == "render-start" for line in again.logs)
    reused = next(line for line in again.logs if line["event"] == "segment-reused")
    assert reused["directory"] == str(attempt_dir(first_env))
    assert [p.name for p in (chain / "segments" / "1").iterdir()] == [attempt_dir(first_env).name]
    # A damaged result is never reused, nor repaired: attempt 2 renders into its own directory.
    (attempt_dir(first_env) / "clip.mp4").write_bytes(b"damaged")
    third_env = next_env(chain, LV_ATTEMPT="2")
    third = run_cli(["segment"], third_env, tmp_path)
    assert third.code == 0 and "reused" not in third.message
    assert (attempt_dir(first_env) / "clip.mp4").read_bytes() == b"damaged"
    assert (attempt_dir(third_env) / "result.json").is_file()
    # Another plan's result (another hash) with the same inputs otherwise is not this segment's: rendered anew.
    other_plan = run_cli(["segment"], next_env(chain, LV_SEGMENT_HASH="f" * 64), tmp_path)
    assert other_plan.code == 0 and "reused" not in other_plan.message


def test_termination_message_stays_under_the_kubernetes_limit() -> None:
    text = compact({"ok": False, "error": "x" * 10_000, "segment": 3})
    assert len(text.encode()) <= 4096 and json.loads(text)["segment"] == 3
