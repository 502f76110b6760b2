"""Writers never collide: each attempt writes its own directory, and readers find a hand-off by its digest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chain import attempt_dir, attempt_key, complete_dirs, segment_env
from conftest import SRC, Run, run_cli

COMMON = {"LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "9"}
FILES = ["clip.mp4", "handoff.json", "latents.safetensors", "poster.png", "result.json"]


def first_env(ws: Path, reference: Path, **extra: str) -> dict[str, str]:
    return segment_env(ws, 0, 3, **{**COMMON, "LV_PROMPT": "a sea", "LV_REFERENCE_IMAGE_PATH": str(reference), **extra})


def second_env(ws: Path, digest: str, **extra: str) -> dict[str, str]:
    return segment_env(ws, 1, 3, **{**COMMON, "LV_PROMPT": "gulls", "LV_INPUT_DIGEST": digest, **extra})


def render(env: dict[str, str], tmp: Path) -> Run:
    run = run_cli(["segment"], env, tmp)
    assert run.code == 0, run.stderr[-3000:]
    return run


def stalled(env: dict[str, str], stage: str) -> subprocess.Popen[str]:
    """The segment command parked at `stage` (LV_DEBUG_STALL_AT): an attempt still running on a lost node."""
    full = {**env, "LV_DEBUG_STALL_AT": stage, "PYTHONPATH": str(SRC), "PATH": os.environ["PATH"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "longvideo_runtime", "segment"],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    for line in proc.stderr:
        if '"debug-stall"' in line:
            return proc
        if time.monotonic() > deadline:
            break
    proc.kill()
    pytest.fail(f"the worker never reached {stage}")


def snapshot(directory: Path) -> dict[str, tuple[int, bytes]]:
    """Each file's inode and bytes: a file replaced (even by equal bytes) gets another inode."""
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in sorted(directory.iterdir())}


def test_two_attempts_of_a_segment_write_separate_directories(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    # Attempt 0 wrote clip, poster and latents, then its node was lost: it still runs, its result not yet written.
    lost_env = first_env(ws, reference_png)
    lost = stalled(lost_env, "before-result")
    try:
        before = snapshot(attempt_dir(lost_env))
        assert sorted(before) == ["clip.mp4", "handoff.json", "latents.safetensors", "poster.png"]
        # Attempt 1 of the same segment (same plan hash) renders meanwhile, into a directory of its own.
        retry_env = first_env(ws, reference_png, LV_ATTEMPT="1")
        retry = render(retry_env, tmp_path)
        assert "reused" not in retry.message, "an attempt without result.json is never taken"
        assert attempt_dir(retry_env) != attempt_dir(lost_env)
        assert attempt_dir(retry_env).parent == attempt_dir(lost_env).parent == ws / "segments" / "0"
        assert attempt_dir(retry_env).name == f"{attempt_key(retry_env['LV_SEGMENT_HASH'], '')}-1"
        assert sorted(p.name for p in attempt_dir(retry_env).iterdir()) == FILES
        assert snapshot(attempt_dir(lost_env)) == before, "attempt 1 touched none of attempt 0's files"
        result = json.loads((attempt_dir(retry_env) / "result.json").read_text())
        assert (result["attempt"], result["segmentHash"]) == (1, retry_env["LV_SEGMENT_HASH"])
        assert result["latentsDigest"] == retry.message["latentsDigest"]
        assert complete_dirs(ws, 0) == [attempt_dir(retry_env)]
    finally:
        lost.send_signal(signal.SIGKILL)
        lost.wait()
    # Another plan of the same segment (an edited storyline: another hash) at attempt 0: a third directory.
    edited_env = first_env(ws, reference_png, LV_PROMPT="a calm sea")
    render(edited_env, tmp_path)
    assert len({attempt_dir(e) for e in (lost_env, retry_env, edited_env)}) == 3
    assert snapshot(attempt_dir(lost_env)) == before


def test_a_successor_finds_its_input_among_attempts_by_digest(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    # Segment 0 three times: two plans (seeds) finished, and a third killed before its result.
    a = render(first_env(ws, reference_png), tmp_path)
    b = render(first_env(ws, reference_png, LV_SEED="7"), tmp_path)
    killed = stalled(first_env(ws, reference_png, LV_SEED="9"), "before-result")
    killed.kill()
    killed.wait()
    assert a.message["latentsDigest"] != b.message["latentsDigest"]
    assert len(list((ws / "segments" / "0").iterdir())) == 3

    # One successor per predecessor, both attempt 0 of the same plan hash (the operator numbers attempts per input):
    # the input digest is part of the directory's key, so each writes its own.
    made_by = [(a, first_env(ws, reference_png)), (b, first_env(ws, reference_png, LV_SEED="7"))]
    successors: list[Path] = []
    for run, predecessor in made_by:
        env = second_env(ws, run.message["latentsDigest"])
        successors.append(attempt_dir(env))
        successor = render(env, tmp_path)
        verified = next(line for line in successor.logs if line["event"] == "handoff-verified")
        assert verified["path"] == str(attempt_dir(predecessor) / "latents.safetensors")
        assert successor.message["inputDigest"] == run.message["latentsDigest"]
        result = json.loads((attempt_dir(env) / "result.json").read_text())
        assert result["inputDigest"] == run.message["latentsDigest"]
    assert len(set(successors)) == 2 and complete_dirs(ws, 1) == sorted(successors)


def test_a_segment_rendered_again_after_its_predecessor_changed_digest_writes_another_directory(
    tmp_path: Path, reference_png: Path
) -> None:
    """The operator numbers attempts per (segment, plan hash, input digest): when segment 0 is rendered again and
    hands off another digest, segment 1 starts again at attempt 0 under the same plan hash, while the earlier
    attempt 0's pod may still run (being deleted). The input digest in the directory's key keeps the two apart."""
    ws = tmp_path / "ws"
    old_input = render(first_env(ws, reference_png), tmp_path).message["latentsDigest"]
    # The earlier attempt 0 at segment 1 has written its clip, poster and latents and still runs.
    old_env = second_env(ws, old_input)
    old = stalled(old_env, "before-result")
    try:
        before = snapshot(attempt_dir(old_env))
        assert sorted(before) == ["clip.mp4", "handoff.json", "latents.safetensors", "poster.png"]
        # Segment 0 rendered again hands off another digest (another seed stands in for a render that differs).
        new_input = render(first_env(ws, reference_png, LV_SEED="7"), tmp_path).message["latentsDigest"]
        assert new_input != old_input
        new_env = second_env(ws, new_input)
        assert (new_env["LV_SEGMENT_HASH"], new_env.get("LV_ATTEMPT", "0")) == (
            old_env["LV_SEGMENT_HASH"],
            old_env.get("LV_ATTEMPT", "0"),
        ), "same plan hash, same attempt number: only the input differs"
        new = render(new_env, tmp_path)
        assert "reused" not in new.message and new.message["inputDigest"] == new_input
        assert attempt_dir(new_env) != attempt_dir(old_env)
        assert attempt_dir(new_env).parent == attempt_dir(old_env).parent == ws / "segments" / "1"
        assert attempt_dir(new_env).name == f"{attempt_key(new_env['LV_SEGMENT_HASH'], new_input)}-0"
        assert sorted(p.name for p in attempt_dir(new_env).iterdir()) == FILES
        assert snapshot(attempt_dir(old_env)) == before, "the new attempt 0 touched none of the earlier one's files"
        result = json.loads((attempt_dir(new_env) / "result.json").read_text())
        assert (result["attempt"], result["inputDigest"]) == (0, new_input)
        assert complete_dirs(ws, 1) == [attempt_dir(new_env)]
    finally:
        old.send_signal(signal.SIGKILL)
        old.wait()
    assert snapshot(attempt_dir(old_env)) == before


def test_reuse_takes_only_a_directory_of_this_attempts_key(tmp_path: Path, reference_png: Path) -> None:
    """A complete result with this spec's fingerprint under another key's name is not this plan and input's."""
    ws = tmp_path / "ws"
    earlier = first_env(ws, reference_png)
    render(earlier, tmp_path)
    moved = attempt_dir(earlier).with_name(f"{attempt_key(earlier['LV_SEGMENT_HASH'], 'sha256:' + 'cd' * 32)}-0")
    attempt_dir(earlier).rename(moved)
    later_env = first_env(ws, reference_png, LV_ATTEMPT="1")
    later = render(later_env, tmp_path)
    assert "reused" not in later.message
    assert sorted(p.name for p in attempt_dir(later_env).iterdir()) == FILES
    # Under its own key's name, the same result is reused.
    moved.rename(attempt_dir(earlier))
    assert render(first_env(ws, reference_png, LV_ATTEMPT="2"), tmp_path).message["reused"] is True


def test_a_damaged_attempt_is_passed_over_for_an_intact_one_with_the_same_digest(
    tmp_path: Path, reference_png: Path
) -> None:
    ws = tmp_path / "ws"
    # The animatic is deterministic: two attempts at the same plan hand off equal latents.
    a_env = first_env(ws, reference_png)
    render(a_env, tmp_path)
    (attempt_dir(a_env) / "result.json").rename(tmp_path / "held.json")
    b_env = first_env(ws, reference_png, LV_ATTEMPT="1")
    b = render(b_env, tmp_path)
    (tmp_path / "held.json").rename(attempt_dir(a_env) / "result.json")
    assert json.loads((attempt_dir(a_env) / "result.json").read_text())["latentsDigest"] == b.message["latentsDigest"]
    (attempt_dir(a_env) / "latents.safetensors").write_bytes(b"damaged")
    successor = render(second_env(ws, b.message["latentsDigest"]), tmp_path)
    verified = next(line for line in successor.logs if line["event"] == "handoff-verified")
    assert verified["path"] == str(attempt_dir(b_env) / "latents.safetensors")


def test_reuse_finds_a_complete_result_of_an_earlier_attempt(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    earlier = first_env(ws, reference_png, LV_ATTEMPT="2")
    first = render(earlier, tmp_path)
    later = render(first_env(ws, reference_png, LV_ATTEMPT="5"), tmp_path)
    assert later.message["reused"] is True and later.message["latentsDigest"] == first.message["latentsDigest"]
    assert later.termination == later.message
    assert [p.name for p in (ws / "segments" / "0").iterdir()] == [attempt_dir(earlier).name]
