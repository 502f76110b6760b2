"""Audio and pose inputs: locating them, their durations, and the exact window a segment reads.

Inputs are generated here: audio by ffmpeg's lavfi sources (sine, anoisesrc), a skeleton video by the repository's
scripts/draw-skeleton-video.py, whose frames carry their own index in a binary strip.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from longvideo_runtime.conditioning_media import (
    UnreadableInput,
    audio_window_samples,
    locate_source,
    media_duration_seconds,
    pose_indices,
    pose_window_frames,
    video_frame_count,
)
from longvideo_runtime.errors import BadInput
from longvideo_runtime.guarded_fetch import parse_policy
from longvideo_runtime.spec import ConditioningWindow, parse_probe, parse_segment, parse_window

SKELETON_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "draw-skeleton-video.py"
RATE = 16000


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("media")
    # 2 s: a 440 Hz tone for the first second, then 1 s of noise, at 16 kHz mono, lossless.
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=1",
        "-f", "lavfi", "-i", "anoisesrc=color=white:sample_rate=16000:duration=1:amplitude=0.5:seed=7",
        "-filter_complex", "[0:a][1:a]concat=n=2:v=0:a=1", "-c:a", "pcm_f32le", str(root / "voice.wav"),
    )  # fmt: skip
    # The same track at 44.1 kHz stereo in a compressed container, as users upload it.
    ffmpeg("-i", str(root / "voice.wav"), "-ar", "44100", "-ac", "2", "-c:a", "flac", str(root / "voice.flac"))
    subprocess.run(
        [sys.executable, str(SKELETON_SCRIPT), str(root / "pose.mp4"), "--frames", "30", "--size", "96x64"],
        check=True,
    )
    (root / "not-media.wav").write_bytes(b"RIFF but not really a wave file")
    return root


def window(start: int, frames: int, loop: bool = False, source: str = '{"pvc":{}}') -> ConditioningWindow:
    return ConditioningWindow(source=source, start_frame=start, frames=frames, loop=loop)


def test_the_audio_duration_is_read_by_ffprobe(media: Path) -> None:
    assert media_duration_seconds(media / "voice.wav") == pytest.approx(2.0, abs=1e-3)
    assert media_duration_seconds(media / "voice.flac") == pytest.approx(2.0, abs=1e-3)


def test_an_unreadable_audio_names_the_field(media: Path) -> None:
    with pytest.raises(UnreadableInput) as caught:
        media_duration_seconds(media / "not-media.wav")
    assert caught.value.field == "spec.audio"
    assert caught.value.message.startswith("spec.audio: ")
    assert isinstance(caught.value, BadInput)


def test_a_window_is_exactly_as_long_as_its_frames_at_the_film_fps(media: Path) -> None:
    samples = audio_window_samples(media / "voice.wav", window(0, 25), fps=25)
    assert samples.dtype == np.float32
    assert samples.shape == (RATE,)
    samples = audio_window_samples(media / "voice.wav", window(3, 7), fps=25)
    assert samples.shape == (round(7 / 25 * RATE),)


def test_a_window_holds_the_samples_at_its_own_place_in_the_track(media: Path) -> None:
    whole = audio_window_samples(media / "voice.wav", window(0, 50), fps=25)
    # Clip 1 of a talk film with 20-frame clips and 1 motion frame starts at frame 20 - 1 = 19 (SVI's slicing).
    part = audio_window_samples(media / "voice.wav", window(19, 20), fps=25)
    first = 19 * RATE // 25
    np.testing.assert_array_equal(part, whole[first : first + len(part)])
    # The tone is where the tone is, the noise where the noise is.
    assert np.abs(whole[: RATE // 2]).max() == pytest.approx(0.125, abs=0.01)  # lavfi sine's amplitude is 1/8
    assert np.abs(whole[RATE + 100 :]).max() > 0.3


def test_a_resampled_stereo_track_gives_the_same_window(media: Path) -> None:
    wav = audio_window_samples(media / "voice.wav", window(5, 10), fps=25)
    flac = audio_window_samples(media / "voice.flac", window(5, 10), fps=25)
    assert flac.shape == wav.shape
    # Through 44.1 kHz and back: the tone survives within resampling error.
    assert np.abs(flac - wav).max() < 0.02


def test_silence_pads_a_window_before_the_start_and_past_the_end(media: Path) -> None:
    early = audio_window_samples(media / "voice.wav", window(-2, 4), fps=25)
    assert early.shape == (4 * RATE // 25,)
    assert not early[: 2 * RATE // 25].any()
    assert early[2 * RATE // 25 + 10 :].any()
    late = audio_window_samples(media / "voice.wav", window(45, 10), fps=25)
    assert late.shape == (10 * RATE // 25,)
    assert late[: 5 * RATE // 25 - 1].any()
    assert not late[5 * RATE // 25 :].any()
    beyond = audio_window_samples(media / "voice.wav", window(100, 5), fps=25)
    assert beyond.shape == (5 * RATE // 25,) and not beyond.any()


def test_the_skeleton_video_frames_are_counted(media: Path) -> None:
    counted = video_frame_count(media / "pose.mp4")
    assert counted.frames == 30
    assert counted.fps == pytest.approx(25)


def strip_index(frame: np.ndarray) -> int:
    """The frame index draw-skeleton-video.py wrote into the bottom strip (8 cells, least significant first)."""
    height, width, _ = frame.shape
    cell = width // 8
    row = frame[height - 2]
    return sum(1 << bit for bit in range(8) if row[bit * cell + cell // 2].mean() > 127)


def test_pose_frames_are_the_window_s_frames_in_order(media: Path) -> None:
    frames = pose_window_frames(media / "pose.mp4", window(4, 9), width=96, height=64)
    assert frames.shape == (9, 64, 96, 3) and frames.dtype == np.uint8
    assert [strip_index(f) for f in frames] == list(range(4, 13))


def test_pose_frames_loop_when_the_film_outlasts_the_video(media: Path) -> None:
    frames = pose_window_frames(media / "pose.mp4", window(25, 13, loop=True), width=96, height=64)
    assert [strip_index(f) for f in frames] == [25, 26, 27, 28, 29, 0, 1, 2, 3, 4, 5, 6, 7]
    # Longer than the whole video: it wraps more than once.
    assert pose_indices(window(0, 65, loop=True), 30)[60:] == [0, 1, 2, 3, 4]


def test_pose_frames_past_a_non_looping_end_are_black(media: Path) -> None:
    frames = pose_window_frames(media / "pose.mp4", window(28, 5), width=96, height=64)
    assert [strip_index(f) for f in frames[:2]] == [28, 29]
    assert not frames[2:].any()


def test_pose_frames_keep_their_aspect_and_are_padded(media: Path) -> None:
    # 96x64 into 96x96: scaled to fit (96x64), padded above and below with black.
    frames = pose_window_frames(media / "pose.mp4", window(0, 1), width=96, height=96)
    assert frames.shape == (1, 96, 96, 3)
    assert not frames[0, :15].any() and not frames[0, -15:].any()
    assert frames[0, 16:80].any()


def test_volume_sources_are_found_under_their_mount_and_kept_inside_it(media: Path, tmp_path: Path) -> None:
    policy = parse_policy(None)
    found = locate_source('{"pvc":{"claimName":"a","path":"voice.wav"}}', media, tmp_path, policy, "audio")
    assert found == (media / "voice.wav").resolve()
    found = locate_source('{"configMap":{"name":"a","key":"pose.mp4"}}', media, tmp_path, policy, "pose")
    assert found == (media / "pose.mp4").resolve()
    with pytest.raises(UnreadableInput, match=r"^spec.audio: .*outside its volume"):
        locate_source('{"pvc":{"claimName":"a","path":"../etc/passwd"}}', media, tmp_path, policy, "audio")
    with pytest.raises(UnreadableInput, match=r"^spec.pose: the skeleton video file pvc 'gone.mp4' does not exist"):
        locate_source('{"pvc":{"claimName":"a","path":"gone.mp4"}}', media, tmp_path, policy, "pose")


def test_a_refused_url_names_the_field_and_the_input(tmp_path: Path) -> None:
    with pytest.raises(UnreadableInput, match=r"^spec.audio: the audio URL's host resolves to a refused"):
        locate_source('{"url":"http://127.0.0.1:9/voice.wav"}', tmp_path, tmp_path, parse_policy(None), "audio")


BASE_ENV = {
    "LV_SEGMENT_INDEX": "1",
    "LV_SEGMENT_COUNT": "3",
    "LV_SEGMENT_HASH": "h1",
    "LV_INPUT_DIGEST": "sha256:" + "0" * 64,
    "LV_FRAMES": "81",
    "LV_BACKEND": "animatic",
    "LV_WORKSPACE": "/tmp/ws",
}
AUDIO = json.dumps({"url": "https://example.com/voice.wav"})
POSE = json.dumps({"pvc": {"claimName": "poses", "path": "skeleton.mp4"}})


def test_a_talk_segment_reads_its_audio_window() -> None:
    spec = parse_segment({**BASE_ENV, "LV_VARIANT": "talk", "LV_AUDIO": AUDIO, "LV_AUDIO_WINDOW": "80:81"})
    assert spec.audio == ConditioningWindow(source=AUDIO, start_frame=80, frames=81, loop=False)
    assert spec.pose is None
    assert spec.trim_tail == 0 and spec.trim_head == 0  # talk keeps whole clips
    assert spec.audio_guidance_scale == 5.0 and spec.guidance_scale == 2.0


def test_the_windows_are_part_of_the_fingerprint() -> None:
    env = {**BASE_ENV, "LV_VARIANT": "talk", "LV_AUDIO": AUDIO}
    one = parse_segment({**env, "LV_AUDIO_WINDOW": "80:81"})
    two = parse_segment({**env, "LV_AUDIO_WINDOW": "81:81"})
    assert one.fingerprint() != two.fingerprint()


def test_a_dance_segment_reads_its_pose_window() -> None:
    spec = parse_segment({**BASE_ENV, "LV_VARIANT": "dance", "LV_POSE": POSE, "LV_POSE_WINDOW": "80:81:true"})
    assert spec.pose == ConditioningWindow(source=POSE, start_frame=80, frames=81, loop=True)
    assert spec.trim_tail == 1


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LV_VARIANT": "talk"}, "LV_AUDIO and LV_AUDIO_WINDOW are required"),
        ({"LV_VARIANT": "dance"}, "LV_POSE and LV_POSE_WINDOW are required"),
        ({"LV_VARIANT": "film", "LV_AUDIO": AUDIO, "LV_AUDIO_WINDOW": "0:81"}, "not conditioned on audio"),
        ({"LV_VARIANT": "talk", "LV_AUDIO": AUDIO}, "LV_AUDIO is set but LV_AUDIO_WINDOW is not"),
        ({"LV_VARIANT": "talk", "LV_AUDIO": AUDIO, "LV_AUDIO_WINDOW": "0:77"}, "covers 77 frames"),
        ({"LV_VARIANT": "talk", "LV_AUDIO": "[]", "LV_AUDIO_WINDOW": "0:81"}, "exactly one of configMap, pvc, url"),
        ({"LV_VARIANT": "dance", "LV_POSE": POSE, "LV_POSE_WINDOW": "0:81"}, "start:frames:loop"),
        ({"LV_VARIANT": "dance", "LV_POSE": POSE, "LV_POSE_WINDOW": "0:81:yes"}, "loop must be true or false"),
    ],
)
def test_inconsistent_windows_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_segment({**BASE_ENV, **env})


def test_window_text_round_trips() -> None:
    assert parse_window("LV_AUDIO_WINDOW", "-1:81", AUDIO, with_loop=False).start_frame == -1
    assert parse_window("LV_POSE_WINDOW", "159:81:false", POSE, with_loop=True).loop is False


def test_the_probe_spec_needs_an_input() -> None:
    with pytest.raises(BadInput, match="LV_AUDIO, LV_POSE or LV_CHECK_MODELS, and none is set"):
        parse_probe({"LV_WORKSPACE": "/tmp/ws"})
    probe = parse_probe({"LV_WORKSPACE": "/tmp/ws", "LV_POSE": POSE})
    assert probe.pose == POSE and probe.audio is None and probe.check_models is None
    # An svi film's probe may check the model cache alone (a film without audio or pose).
    models = parse_probe({"LV_CHECK_MODELS": "pro", "LV_MODELS_DIR": "/mnt/models"})
    assert (models.check_models, models.models_dir, models.audio, models.pose) == (
        "pro",
        Path("/mnt/models"),
        None,
        None,
    )
    assert parse_probe({"LV_CHECK_MODELS": "talk", "LV_AUDIO": AUDIO}).models_dir == Path("/models")
