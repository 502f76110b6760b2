"""Talk and Dance through the CLI with the animatic backend: each segment reads its window, records what it consumed,
draws it; concat muxes the audio in step with the film (checked with ffprobe and by matching the samples); the
probe reports durations, or names the field it cannot read.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chain import result_dir, segment_env
from conftest import Run, run_cli, write_reference
from longvideo_runtime import media
from longvideo_runtime.animatic import caption_height
from longvideo_runtime.conditioning_media import audio_window_samples, pose_window_frames
from longvideo_runtime.conditioning_views import WAVE_COLOUR
from longvideo_runtime.spec import ConditioningWindow

W, H, FPS, FRAMES = 96, 64, 25, 21
SKELETON_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "draw-skeleton-video.py"
COMMON = {
    "LV_BACKEND": "animatic",
    "LV_WIDTH": str(W),
    "LV_HEIGHT": str(H),
    "LV_FPS": str(FPS),
    "LV_FRAMES": str(FRAMES),
    "LV_MOTION_FRAMES": "1",
}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    # 3 s of seeded white noise at 44.1 kHz stereo: every stretch of it is unlike every other, so where a piece of
    # the film's audio came from in the source is found by correlation, to the sample.
    ffmpeg(
        "-f", "lavfi", "-i", "anoisesrc=color=white:sample_rate=44100:duration=3:amplitude=0.4:seed=11",
        "-ac", "2", "-c:a", "flac", str(root / "voice.flac"),
    )  # fmt: skip
    subprocess.run(
        [sys.executable, str(SKELETON_SCRIPT), str(root / "pose.mp4"), "--frames", "30", "--size", "64x64"],
        check=True,
    )
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing after it")
    return root


def source(path: str) -> str:
    return json.dumps({"pvc": {"claimName": "inputs", "path": path}})


def render(ws: Path, tmp: Path, variant: str, windows: list[str], reference: Path, **extra: str) -> list[Run]:
    """Segments 0..n-1 of a film, each with its own window (LV_AUDIO_WINDOW for talk, LV_POSE_WINDOW for dance)."""
    runs: list[Run] = []
    digest = ""
    kind = "AUDIO" if variant == "talk" else "POSE"
    for i, window in enumerate(windows):
        env = segment_env(
            ws,
            i,
            len(windows),
            **COMMON,
            **extra,
            LV_VARIANT=variant,
            LV_PROMPT=f"clip {i}",
            LV_INPUT_DIGEST=digest,
            LV_REFERENCE_IMAGE_PATH=str(reference),
            **{f"LV_{kind}_WINDOW": window},
        )
        run = run_cli(["segment"], env, tmp)
        assert run.code == 0, run.stderr[-3000:]
        runs.append(run)
        digest = str(run.message["latentsDigest"])
    return runs


def window(text: str, src: str, loop: bool = False) -> ConditioningWindow:
    start, frames = (int(v) for v in text.split(":")[:2])
    return ConditioningWindow(source=src, start_frame=start, frames=frames, loop=loop)


def mono(path: Path, rate: int = 48000) -> np.ndarray:
    out = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-vn", "-ac", "1", "-ar", str(rate), "-f", "f32le", "pipe:1"],
        capture_output=True,
        check=True,
    )
    return np.frombuffer(out.stdout, dtype="<f4")


def stream_timings(path: Path) -> dict[str, dict[str, float]]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "stream=codec_type,codec_name,start_time,duration",
         "-of", "json", str(path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return {
        s["codec_type"]: {"start": float(s["start_time"]), "duration": float(s["duration"]), "codec": s["codec_name"]}
        for s in json.loads(out.stdout)["streams"]
    }


def lag_of(piece: np.ndarray, track: np.ndarray, around: int, search: int = 480) -> int:
    """The offset (in samples) from `around` at which `piece` best matches `track`."""
    best, best_lag = -np.inf, 0
    for lag in range(-search, search + 1):
        start = around + lag
        if start < 0 or start + len(piece) > len(track):
            continue
        score = float(np.dot(piece, track[start : start + len(piece)]))
        if score > best:
            best, best_lag = score, lag
    return best_lag


TALK_WINDOWS = ["0:21", "20:21", "41:21"]


@pytest.fixture(scope="module")
def talk_film(tmp_path_factory: pytest.TempPathFactory, inputs: Path) -> tuple[Path, list[Run]]:
    tmp = tmp_path_factory.mktemp("talk")
    ws = tmp / "ws"
    env = {"LV_AUDIO": source("voice.flac"), "LV_AUDIO_DIR": str(inputs)}
    return ws, render(ws, tmp, "talk", TALK_WINDOWS, write_reference(tmp / "face.png"), **env)


def test_talk_segments_keep_whole_clips_and_record_the_audio_they_consumed(
    talk_film: tuple[Path, list[Run]], inputs: Path
) -> None:
    ws, runs = talk_film
    for i, run in enumerate(runs):
        assert run.message["keptFrames"] == FRAMES
        directory = result_dir(ws, i)
        result = json.loads((directory / "result.json").read_text())
        expected = audio_window_samples(inputs / "voice.flac", window(TALK_WINDOWS[i], ""), FPS)
        assert result["audioWindow"] == {
            "startFrame": int(TALK_WINDOWS[i].split(":")[0]),
            "frames": FRAMES,
            "sampleRate": 16000,
            "samples": round(FRAMES / FPS * 16000),
            "sha256": hashlib.sha256(expected.astype("<f4").tobytes()).hexdigest(),
        }
        assert "conditioning_seconds" in result["timings"]
        assert (directory / "conditioning.png").is_file()


def test_the_talk_animatic_draws_the_audio_window_with_a_moving_cursor(talk_film: tuple[Path, list[Run]]) -> None:
    ws, _ = talk_film
    frames = media.decode_frames(result_dir(ws, 1) / "clip.mp4")
    band = max(8, H // 10)
    top = H - caption_height(H) - band
    blue = np.array(WAVE_COLOUR, dtype=np.float32)

    def wave_columns(frame: np.ndarray) -> int:
        strip = frame[top : top + band].astype(np.float32)
        return int((np.abs(strip - blue).sum(axis=-1) < 90).any(axis=0).sum())

    assert wave_columns(frames[5]) > W // 2  # noise fills the window: the envelope spans the band's width

    def cursor(frame: np.ndarray) -> int:
        # Red is what the yellow cursor has and the blue envelope and the dark band lack.
        return int(np.argmax(frame[top : top + band, :, 0].astype(np.float32).mean(axis=0)))

    assert cursor(frames[2]) < cursor(frames[10]) < cursor(frames[18])


@pytest.mark.parametrize("offset", [0, 10])
def test_concat_muxes_the_audio_in_step_with_the_film(
    talk_film: tuple[Path, list[Run]], inputs: Path, tmp_path: Path, offset: int
) -> None:
    ws, runs = talk_film
    total = FRAMES * len(runs)
    output = ws / f"talk-{offset}.mp4"
    env = {
        "LV_WORKSPACE": str(ws),
        "LV_SEGMENT_COUNT": str(len(runs)),
        "LV_FINAL_DIGEST": str(runs[-1].message["latentsDigest"]),
        "LV_FPS": str(FPS),
        "LV_EXPECTED_FRAMES": str(total),
        "LV_OUTPUT_PATH": str(output),
        "LV_AUDIO": source("voice.flac"),
        "LV_AUDIO_DIR": str(inputs),
        "LV_AUDIO_WINDOW": f"{offset}:{total}",
    }
    run = run_cli(["concat"], env, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    assert run.message["audio"] is True and run.message["frames"] == total

    streams = stream_timings(output)
    assert streams["audio"]["codec"] == "aac"
    assert streams["audio"]["start"] == pytest.approx(streams["video"]["start"], abs=1e-3)
    assert streams["video"]["duration"] == pytest.approx(total / FPS, abs=1e-3)
    assert streams["audio"]["duration"] == pytest.approx(total / FPS, abs=1024 / 48000 + 1e-3)

    # At each clip's first frame the film plays the source from offset + that frame: found by matching samples.
    film, original = mono(output), mono(inputs / "voice.flac")
    for i in range(len(runs)):
        at = round(i * FRAMES / FPS * 48000)
        piece = film[at + 100 : at + 100 + 2400]
        expected = round((offset + i * FRAMES) / FPS * 48000) + 100
        assert abs(lag_of(piece, original, expected)) <= 2, f"clip {i}"


def test_concat_refuses_a_window_that_is_not_the_film(
    talk_film: tuple[Path, list[Run]], inputs: Path, tmp_path: Path
) -> None:
    ws, runs = talk_film
    env = {
        "LV_WORKSPACE": str(ws),
        "LV_SEGMENT_COUNT": str(len(runs)),
        "LV_FINAL_DIGEST": str(runs[-1].message["latentsDigest"]),
        "LV_FPS": str(FPS),
        "LV_OUTPUT_PATH": str(ws / "wrong.mp4"),
        "LV_AUDIO": source("voice.flac"),
        "LV_AUDIO_DIR": str(inputs),
        "LV_AUDIO_WINDOW": "0:10",
    }
    run = run_cli(["concat"], env, tmp_path)
    assert run.code == 2 and "covers 10 frames, but the film has 63" in run.message["error"]


DANCE_WINDOWS = ["0:21:true", "20:21:true", "40:21:true"]


def test_dance_segments_follow_their_skeleton_frames_looping_and_concat_with_music(
    tmp_path: Path, inputs: Path, reference_png: Path
) -> None:
    ws = tmp_path / "ws"
    env = {"LV_POSE": source("pose.mp4"), "LV_POSE_DIR": str(inputs)}
    runs = render(ws, tmp_path, "dance", DANCE_WINDOWS, reference_png, **env)
    assert [r.message["keptFrames"] for r in runs] == [20, 20, 21]
    for i in range(3):
        directory = result_dir(ws, i)
        result = json.loads((directory / "result.json").read_text())
        expected = pose_window_frames(inputs / "pose.mp4", window(DANCE_WINDOWS[i], "", loop=True), W, H)
        assert result["poseWindow"] == {
            "startFrame": 20 * i,
            "frames": FRAMES,
            "loop": True,
            "sha256": hashlib.sha256(expected.tobytes()).hexdigest(),
        }
        # The inset in the top right corner is the skeleton frame driving each frame: not the picture's own.
        frames = media.decode_frames(directory / "clip.mp4")
        inset = frames[3, 2 : 2 + H // 3, W - W // 3 - 2 : W - 2].astype(np.float32)
        assert float(inset.mean()) < 80  # a skeleton on black

    base = {
        "LV_WORKSPACE": str(ws),
        "LV_SEGMENT_COUNT": "3",
        "LV_FINAL_DIGEST": str(runs[-1].message["latentsDigest"]),
        "LV_FPS": str(FPS),
        "LV_EXPECTED_FRAMES": "61",
    }
    silent = run_cli(["concat"], {**base, "LV_OUTPUT_PATH": str(ws / "silent.mp4")}, tmp_path)
    assert silent.code == 0 and silent.message["audio"] is False
    music = {"LV_AUDIO": source("voice.flac"), "LV_AUDIO_DIR": str(inputs), "LV_AUDIO_WINDOW": "25:61"}
    scored = run_cli(["concat"], {**base, **music, "LV_OUTPUT_PATH": str(ws / "scored.mp4")}, tmp_path)
    assert scored.code == 0, scored.stderr[-2000:]
    assert stream_timings(ws / "scored.mp4")["audio"]["duration"] == pytest.approx(61 / FPS, abs=1024 / 48000 + 1e-3)

    # The contact sheet puts each clip's skeleton strip under its thumbnail.
    from PIL import Image

    with_strips = Image.open(ws / "scored.contact.png")
    strip = Image.open(result_dir(ws, 0) / "conditioning.png")
    thumb_h = round(H * min(240, W) / W)
    strip_h = round(strip.height * min(240, W) / strip.width)
    assert with_strips.height == 4 + thumb_h + strip_h + 2 + 4


def test_the_probe_reports_durations(inputs: Path, tmp_path: Path) -> None:
    env = {
        "LV_WORKSPACE": str(tmp_path),
        "LV_AUDIO": source("voice.flac"),
        "LV_AUDIO_DIR": str(inputs),
        "LV_POSE": source("pose.mp4"),
        "LV_POSE_DIR": str(inputs),
    }
    run = run_cli(["probe"], env, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    assert run.termination == run.message
    assert run.message["kind"] == "probe"
    assert run.message["audioSeconds"] == pytest.approx(3.0, abs=1e-3)
    assert (run.message["poseFrames"], run.message["poseFps"]) == (30, 25)


@pytest.mark.parametrize(
    ("env", "field", "error"),
    [
        ({"LV_POSE": source("broken.mp4")}, "spec.pose", "spec.pose: the skeleton video has no video stream"),
        ({"LV_AUDIO": source("pose.mp4")}, "spec.audio", "spec.audio: the audio has no audio stream"),
        ({"LV_AUDIO": source("gone.wav")}, "spec.audio", "spec.audio: the audio file pvc 'gone.wav' does not exist"),
    ],
)
def test_the_probe_names_the_field_it_cannot_read(
    inputs: Path, tmp_path: Path, env: dict[str, str], field: str, error: str
) -> None:
    run = run_cli(["probe"], {"LV_AUDIO_DIR": str(inputs), "LV_POSE_DIR": str(inputs), **env}, tmp_path)
    assert run.code == 2
    assert run.message["reason"] == "bad-input" and run.message["field"] == field
    assert run.message["error"] == error
