"""Three chained Talk and three chained Dance segments on the tiny models, through the CLI as a pod runs them.

Each segment's result must record the window it consumed, equal to the plan's, with the sha256 of the samples or
frames it was fed computed here independently (from the files as written, not through conditioning_media), and the
digest chain must hold from segment to segment.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")

from chain import FRAMES, H, W, latents_digest, result_dir, segment_env, svi_env
from conftest import Run, run_cli
from longvideo_runtime import safetensors_io
from longvideo_runtime.contract import CONTRACT

FPS = 25
SAMPLE_RATE = 16000
MOTION = CONTRACT.variants["talk"].motion_frames


def write_speech(path: Path, seconds: float = 2.2) -> np.ndarray:
    """A 16 kHz mono 16-bit WAV of a gliding, pulsing tone; returns its samples as the decoder gives them."""
    t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
    tone = 0.4 * np.sin(2 * np.pi * (180 + 60 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    pcm = np.round(tone * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return pcm.astype(np.float32) / 32768


def write_skeleton(path: Path, frames: int = 20) -> np.ndarray:
    """A lossless (rawvideo) skeleton video at the render size: a stick figure whose arm swings; returns its frames."""
    video = np.zeros((frames, H, W, 3), dtype=np.uint8)
    for n in range(frames):
        video[n, 8:40, W // 2 - 1 : W // 2 + 1] = (255, 0, 0)  # body
        arm = 10 + (n * 3) % 20
        video[n, arm : arm + 2, W // 2 : W // 2 + 20] = (0, 255, 0)
        video[n, 4:8, W // 2 - 3 : W // 2 + 3] = (0, 0, 255)  # head
    raw = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}", "-r", str(FPS), "-i", "pipe:0"]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", *raw, "-c:v", "rawvideo", "-pix_fmt", "bgr24", str(path)],
        input=video.tobytes(),
        check=True,
    )
    return video


def talk_window(index: int) -> tuple[int, int]:
    """The plan's audio window of clip `index` (issue 13: SVI's `i * frames - motionFrames`, 0 for clip 0)."""
    return (0 if index == 0 else index * FRAMES - MOTION), FRAMES


def dance_window(index: int) -> tuple[int, int]:
    """A pose window per clip, looping: each clip's first frame continues the previous clip's kept frames."""
    return index * (FRAMES - MOTION), FRAMES


def sha256(array: np.ndarray) -> str:
    """In hex, as conditioning_media records a window's digest."""
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def render(
    ws: Path, tmp: Path, env: dict[str, str], windows: list[tuple[str, str]], command: Sequence[str] | None
) -> list[Run]:
    runs: list[Run] = []
    digest = ""
    for i, (name, value) in enumerate(windows):
        seg = segment_env(ws, i, len(windows), LV_PROMPT="a person is talking", LV_INPUT_DIGEST=digest, **env)
        seg[name] = value
        seg["LV_SEGMENT_HASH"] = hashlib.sha256(json.dumps(seg, sort_keys=True).encode()).hexdigest()
        run = run_cli(["segment"], seg, tmp, command=command)
        assert run.code == 0, run.stderr[-3000:]
        runs.append(run)
        digest = str(run.message["latentsDigest"])
    return runs


def check_chain(ws: Path, runs: list[Run]) -> list[dict[str, Any]]:
    results = []
    for i, run in enumerate(runs):
        assert run.message["inputDigest"] == ("" if i == 0 else latents_digest(ws, i - 1))
        directory = result_dir(ws, i, str(run.message["latentsDigest"]))
        _, meta = safetensors_io.load(directory / "latents.safetensors")
        assert meta["consumed"] == run.message["inputDigest"]
        results.append(json.loads((directory / "result.json").read_text()))
    return results


def talk_chain(
    tmp: Path, models: dict[str, Path], reference: Path, command: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Three Talk segments through `command` (the CLI by default); checks each window and the chain."""
    inputs = tmp / "audio"
    inputs.mkdir()
    track = write_speech(inputs / "speech.wav")
    env = {
        **svi_env(models, "talk", reference),
        "LV_FPS": str(FPS),
        "LV_LORA": "svi/svi-talk.safetensors",
        "LV_AUDIO": json.dumps({"pvc": {"claimName": "inputs", "path": "speech.wav"}}),
        "LV_AUDIO_DIR": str(inputs),
    }
    ws = tmp / "ws-talk"
    windows = [talk_window(i) for i in range(3)]
    runs = render(ws, tmp, env, [("LV_AUDIO_WINDOW", f"{s}:{f}") for s, f in windows], command)
    results = check_chain(ws, runs)
    per_frame = SAMPLE_RATE // FPS
    padded = np.concatenate([track, np.zeros(FRAMES * 3 * per_frame, dtype=np.float32)])
    for i, (result, (start, frames)) in enumerate(zip(results, windows, strict=True)):
        consumed = result["audioWindow"]
        assert (consumed["startFrame"], consumed["frames"], consumed["fps"]) == (start, frames, FPS), i
        assert (consumed["sampleRate"], consumed["samples"]) == (SAMPLE_RATE, frames * SAMPLE_RATE // FPS)
        own = padded[start * per_frame : (start + frames) * per_frame]
        assert consumed["sha256"] == sha256(own), f"segment {i} was fed another window than the plan's"
        assert consumed["trackSha256"] == sha256(track), "wav2vec2 saw the whole track"
        assert consumed["trackFrames"] == int(len(track) / SAMPLE_RATE * FPS)
        assert consumed["featureIndices"] == [max(start - 2, 0), min(start + frames + 1, consumed["trackFrames"] - 1)]
        trace = next(line for line in runs[i].logs if line["event"] == "svi-trace")
        # 3 steps x 3 passes (text 2.0, audio 5.0) x 2 blocks.
        assert trace["audio_attentions"] == 3 * 3 * 2 and trace["pose_additions"] == 0
        assert result["keptFrames"] == FRAMES, "talk keeps every frame, as SVI"
    assert len({r["audioWindow"]["featuresSha256"] for r in results}) == 3
    return results


def dance_chain(
    tmp: Path, models: dict[str, Path], reference: Path, command: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Three Dance segments through `command` (the CLI by default); checks each window and the chain."""
    inputs = tmp / "pose"
    inputs.mkdir()
    skeleton = write_skeleton(inputs / "skeleton.avi")
    env = {
        **svi_env(models, "dance", reference),
        "LV_FPS": str(FPS),
        "LV_LORA": "svi/svi-dance.safetensors",
        "LV_POSE": json.dumps({"configMap": {"name": "pose", "key": "skeleton.avi"}}),
        "LV_POSE_DIR": str(inputs),
    }
    ws = tmp / "ws-dance"
    windows = [dance_window(i) for i in range(3)]
    runs = render(ws, tmp, env, [("LV_POSE_WINDOW", f"{s}:{f}:true") for s, f in windows], command)
    results = check_chain(ws, runs)
    for i, (result, (start, frames)) in enumerate(zip(results, windows, strict=True)):
        consumed = result["poseWindow"]
        assert (consumed["startFrame"], consumed["frames"], consumed["loop"]) == (start, frames, True), i
        expected = skeleton[[(start + j) % len(skeleton) for j in range(frames)]]
        assert consumed["sha256"] == sha256(expected), f"segment {i} followed other frames than the plan's"
        assert consumed["featureShape"] == [1, 24, (frames - 1) // 4 + 1, H // 16, W // 16]
        trace = next(line for line in runs[i].logs if line["event"] == "svi-trace")
        assert trace["pose_additions"] == 3 * 2 and trace["audio_attentions"] == 0, "pose in both CFG passes"
    assert results[2]["poseWindow"]["startFrame"] + FRAMES > len(skeleton), "the third window wraps around"
    return results


@pytest.mark.slow
def test_three_chained_talk_segments_record_the_audio_window_they_spoke(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    talk_chain(tmp_path, tiny_models, reference_png)


@pytest.mark.slow
def test_three_chained_dance_segments_record_the_skeleton_frames_they_followed(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    dance_chain(tmp_path, tiny_models, reference_png)
