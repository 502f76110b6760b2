"""Films of several chains (docs/adr/0025): a keyframed scene's first segment starts a chain above index 0
(LV_CHAIN_START, no input digest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chain import result_dir, segment_env
from conftest import SRC, Run, run_cli, write_reference
from longvideo_runtime import media, safetensors_io
from longvideo_runtime.animatic import caption_height

CONTRACT: dict[str, Any] = json.loads((SRC / "longvideo_runtime" / "contract.json").read_text())
W, H = 64, 48
COMMON = {"LV_BACKEND": "animatic", "LV_WIDTH": str(W), "LV_HEIGHT": str(H), "LV_FRAMES": "9", "LV_FPS": "16"}
PROMPTS = ["a lighthouse", "gulls", "a market at noon", "night falls"]


def keyframe(path: Path) -> Path:
    """An image unlike the reference: its negative."""
    negative = 255 - np.asarray(Image.open(write_reference(path)).convert("RGB"))
    Image.fromarray(negative.astype(np.uint8)).save(path)
    return path


@pytest.fixture
def keyframe_png(tmp_path: Path) -> Path:
    return keyframe(tmp_path / "keyframe.png")


def picture_diff(frame: np.ndarray, image: Path) -> float:
    """Mean difference above the animatic's caption bar between a decoded frame and an image at the render size."""
    rows = H - caption_height(H) - 2
    want = media.load_rgb(image, W, H)
    return float(np.abs(frame[:rows].astype(np.float32) - want[:rows].astype(np.float32)).mean())


def assert_shows(frame: np.ndarray, image: Path, other: Path) -> None:
    """The frame is `image` (up to h264's noise), far from `other`."""
    near, far = picture_diff(frame, image), picture_diff(frame, other)
    assert near < 6 and far > 40, (near, far)


def segment(ws: Path, index: int, image: Path, digest: str, tmp: Path, variant: str = "film", **extra: str) -> Run:
    """Segment `index` of a 4-segment film, from `image`: its chain's reference image (or keyframe)."""
    env = segment_env(
        ws,
        index,
        4,
        **COMMON,
        LV_VARIANT=variant,
        LV_PROMPT=PROMPTS[index],
        LV_INPUT_DIGEST=digest,
        LV_REFERENCE_IMAGE_PATH=str(image),
        **extra,
    )
    return run_cli(["segment"], env, tmp)


@pytest.mark.parametrize(("variant", "kept"), [("film", 4), ("pro", 9)])
def test_a_chain_start_renders_from_its_keyframe_with_no_predecessor(
    tmp_path: Path, reference_png: Path, keyframe_png: Path, variant: str, kept: int
) -> None:
    ws = tmp_path / "ws"
    # Default trims: a film clip before the film's last drops its tail; a pro chain start keeps its head.
    run = segment(ws, 2, keyframe_png, "", tmp_path, variant=variant, LV_CHAIN_START="true")
    assert run.code == 0, run.stderr[-3000:]
    assert sorted(p.name for p in (ws / "segments").iterdir()) == ["2"], "nothing of segments 0 and 1 was read"
    assert run.termination == run.message
    assert set(run.message) == set(CONTRACT["terminationMessage"]["segment"]) - {"reused"}
    assert (run.message["segment"], run.message["inputDigest"], run.message["keptFrames"]) == (2, "", kept)
    assert not [line for line in run.logs if line["event"] == "handoff-verified"]
    directory = result_dir(ws, 2)
    result = json.loads((directory / "result.json").read_text())
    assert (result["chainStart"], result["inputDigest"], result["trimHead"]) == (True, "", 0)
    _, meta = safetensors_io.load(directory / "latents.safetensors")
    assert (meta["consumed"], meta["segment"]) == ("", "2")
    # The clip opens on the keyframe, not on the film's reference image.
    opening = media.decode_frames(directory / "clip.mp4")[0]
    assert_shows(opening, keyframe_png, reference_png)

    # The next segment continues the chain start's hand-off, as any segment continues its predecessor's.
    after = segment(ws, 3, keyframe_png, str(run.message["latentsDigest"]), tmp_path, variant=variant)
    assert after.code == 0, after.stderr[-3000:]
    assert json.loads((result_dir(ws, 3) / "result.json").read_text())["chainStart"] is False
    assert any(line["event"] == "handoff-verified" for line in after.logs)


def test_a_segment_above_0_starts_a_chain_only_when_told(
    tmp_path: Path, keyframe_png: Path, reference_png: Path
) -> None:
    ws = tmp_path / "ws"
    unmarked = segment(ws, 2, keyframe_png, "", tmp_path)
    assert (
        unmarked.code == 2 and "segment 2 continues segment 1: LV_INPUT_DIGEST is required" in unmarked.message["error"]
    )
    first = segment(ws, 0, reference_png, "", tmp_path)
    consuming = segment(ws, 1, keyframe_png, str(first.message["latentsDigest"]), tmp_path, LV_CHAIN_START="true")
    assert consuming.code == 2 and "segment 1 starts a chain" in consuming.message["error"]
    assert "LV_INPUT_DIGEST must be empty" in consuming.message["error"]
    bad = segment(ws, 2, keyframe_png, "", tmp_path, LV_CHAIN_START="yes")
    assert bad.code == 2 and "LV_CHAIN_START must be true or false" in bad.message["error"]
    assert not (ws / "segments" / "1").exists() and not (ws / "segments" / "2").exists()
