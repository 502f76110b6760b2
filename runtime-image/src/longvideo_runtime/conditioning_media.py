"""A film's audio track and skeleton video: where they are, how long they are, and the window a segment reads.

Sources have the reference image's shape (`{"configMap": {"name", "key"}}`, `{"pvc": {"claimName", "path"}}` or
`{"url": ...}`): a volume source is read under its mount (LV_AUDIO_DIR, LV_POSE_DIR), a url is fetched once under
LV_FETCH_POLICY into `<workspace>/inputs/<kind>-<hash>` and reused by every later pod of the film.

Windows count frames at the film's fps on the input's own timeline (spec.ConditioningWindow): audio frame n starts
at n / fps seconds; pose frame n is the skeleton video's n-th decoded frame, whatever that video's own frame rate.
Everything is decoded with ffmpeg, sample- and frame-exactly (atrim and select by index, never a seek by time).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from longvideo_runtime import workspace_layout
from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput
from longvideo_runtime.guarded_fetch import FetchedMedia, FetchPolicy, guarded_fetch
from longvideo_runtime.rendering import AUDIO_SAMPLE_RATE, Conditioning
from longvideo_runtime.spec import ConditioningWindow, SegmentSpec

Kind = Literal["audio", "pose"]

#: The spec field each kind of input comes from: what a failure names.
FIELDS: dict[Kind, str] = {"audio": "spec.audio", "pose": "spec.pose"}
_SUBJECTS: dict[Kind, str] = {"audio": "the audio", "pose": "the skeleton video"}


class UnreadableInput(BadInput):
    """An audio track or skeleton video that cannot be found, fetched or decoded: `field` names its spec field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not on PATH")
    return path


def _inside(base: Path, relative: str, kind: Kind) -> Path:
    candidate = (base / relative).resolve()
    if not candidate.is_relative_to(base.resolve()):
        raise UnreadableInput(FIELDS[kind], f"{relative!r} points outside its volume")
    return candidate


def locate_source(source: str, mount_dir: Path, workspace: Path, policy: FetchPolicy, kind: Kind) -> Path:
    """The input's file: under its volume mount, or fetched from its url into the workspace (once)."""
    try:
        value = json.loads(source)
    except json.JSONDecodeError:
        raise UnreadableInput(FIELDS[kind], "its source is not JSON") from None
    if not isinstance(value, dict) or len(value) != 1:
        raise UnreadableInput(FIELDS[kind], "name exactly one of configMap, pvc, url")
    place, detail = next(iter(value.items()))
    if place == "pvc" and isinstance(detail, dict) and isinstance(detail.get("path"), str):
        path = _inside(mount_dir, detail["path"], kind)
    elif place == "configMap" and isinstance(detail, dict) and isinstance(detail.get("key"), str):
        path = _inside(mount_dir, detail["key"], kind)
    elif place == "url" and isinstance(detail, str):
        key = hashlib.sha256(detail.encode()).hexdigest()[:16]
        path = workspace / workspace_layout.INPUTS_DIR / f"{kind}-{key}"
        if not path.is_file():
            try:
                guarded_fetch(detail, path, policy, _fetched(kind))
            except BadInput as e:
                raise UnreadableInput(FIELDS[kind], e.message) from None
        return path
    else:
        raise UnreadableInput(FIELDS[kind], "has an unknown or malformed source")
    if not path.is_file():
        raise UnreadableInput(FIELDS[kind], f"{_SUBJECTS[kind]} file {place} {_named(detail)!r} does not exist")
    return path


def _named(detail: dict[str, str]) -> str:
    return detail.get("path") or detail.get("key") or ""


def locate_conditioning(spec: SegmentSpec, window: ConditioningWindow, kind: Kind) -> Path:
    """The file a segment's audio or pose window reads."""
    mount = spec.audio_dir if kind == "audio" else spec.pose_dir
    return locate_source(window.source, mount, spec.workspace, spec.fetch_policy, kind)


def _fetched(kind: Kind) -> FetchedMedia:
    accept = "audio/*, video/*" if kind == "audio" else "video/*"
    return FetchedMedia(subject=_SUBJECTS[kind], accept=accept, check=lambda data: _check_bytes(data, kind))


def _check_bytes(data: bytes, kind: Kind) -> None:
    """Refuses fetched bytes ffprobe finds no audio (or video) stream in, before they are written anywhere."""
    with tempfile.TemporaryDirectory(prefix="lv-probe-") as scratch:
        path = Path(scratch) / "input"
        path.write_bytes(data)
        if kind == "audio":
            media_duration_seconds(path, kind)
        else:
            video_frame_count(path)


def _probe(path: Path, stream: str, entries: str, *, count_frames: bool = False) -> dict[str, object]:
    args = [_tool("ffprobe"), "-v", "error", "-select_streams", stream, "-show_entries", entries, "-of", "json"]
    if count_frames:
        args.insert(1, "-count_frames")
    result = subprocess.run([*args, str(path)], capture_output=True, check=False)
    if result.returncode != 0:
        return {}
    try:
        parsed = json.loads(result.stdout or b"{}")
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def media_duration_seconds(path: Path, kind: Kind = "audio") -> float:
    """The duration of the file's first audio stream (pose: first video stream), in seconds, by ffprobe.

    Raises UnreadableInput naming the input's spec field when there is no such stream or no duration.
    """
    stream = "a:0" if kind == "audio" else "v:0"
    info = _probe(path, stream, "stream=duration:format=duration")
    streams = info.get("streams")
    if not isinstance(streams, list) or not streams:
        raise UnreadableInput(
            FIELDS[kind], f"{_SUBJECTS[kind]} has no {'audio' if kind == 'audio' else 'video'} stream"
        )
    for candidate in (streams[0], info.get("format")):
        if isinstance(candidate, dict):
            try:
                seconds = float(candidate.get("duration", "nan"))
            except (TypeError, ValueError):
                continue
            if seconds > 0:
                return seconds
    raise UnreadableInput(FIELDS[kind], f"{_SUBJECTS[kind]}'s duration cannot be read")


@dataclass(frozen=True)
class VideoFrames:
    """A skeleton video's decoded frame count and its own frame rate (reported; windows count frames, not time)."""

    frames: int
    fps: float


def video_frame_count(path: Path) -> VideoFrames:
    """Frames of the file's first video stream, counted by decoding (ffprobe -count_frames)."""
    info = _probe(path, "v:0", "stream=nb_read_frames,avg_frame_rate", count_frames=True)
    streams = info.get("streams")
    stream = streams[0] if isinstance(streams, list) and streams and isinstance(streams[0], dict) else None
    if stream is None:
        raise UnreadableInput(FIELDS["pose"], "the skeleton video has no video stream")
    try:
        frames = int(str(stream.get("nb_read_frames", "0")))
    except ValueError:
        frames = 0
    if frames < 1:
        raise UnreadableInput(FIELDS["pose"], "the skeleton video has no decodable frames")
    num, _, den = str(stream.get("avg_frame_rate", "0/1")).partition("/")
    try:
        fps = float(num) / float(den or "1")
    except (ValueError, ZeroDivisionError):
        fps = 0.0
    return VideoFrames(frames=frames, fps=fps)


def window_samples(window: ConditioningWindow, fps: int, sample_rate: int) -> tuple[int, int]:
    """The window's first sample (may be negative) and its length, at `sample_rate`: round(frames / fps * rate)."""
    start = round(window.start_frame * sample_rate / fps)
    return start, round(window.frames * sample_rate / fps)


def audio_window_samples(path: Path, window: ConditioningWindow, fps: int, sample_rate: int = 16000) -> Array:
    """float32 mono samples in [-1, 1] of the window, exactly round(frames / fps * sample_rate) of them.

    Decoded and resampled by ffmpeg (downmixed to mono); where the window lies before the audio's start or past its
    end, the samples are zeros (silence).
    """
    start, length = window_samples(window, fps, sample_rate)
    first = max(start, 0)
    end = start + length
    decoded: Array = np.zeros(0, dtype=np.float32)
    if end > first:
        args = [
            _tool("ffmpeg"),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-vn",
            "-af",
            f"aresample={sample_rate},atrim=start_sample={first}:end_sample={end}",
            "-ac",
            "1",
            "-ar",
            str(sample_rate),
            "-f",
            "f32le",
            "pipe:1",
        ]
        result = subprocess.run(args, capture_output=True, check=False)
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise UnreadableInput(FIELDS["audio"], f"the audio cannot be decoded ({' '.join(tail)[:200]})")
        decoded = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    out = np.zeros(length, dtype=np.float32)
    offset = first - start
    take = min(len(decoded), length - offset)
    if take > 0:
        out[offset : offset + take] = decoded[:take]
    return np.clip(out, -1.0, 1.0)


def pose_indices(window: ConditioningWindow, video_frames: int) -> list[int | None]:
    """The skeleton frame each of the window's frames shows: looping modulo the video's length, else None past it."""
    indices: list[int | None] = []
    for j in range(window.frames):
        n = window.start_frame + j
        if window.loop:
            indices.append(n % video_frames)
        else:
            indices.append(n if 0 <= n < video_frames else None)
    return indices


def pose_window_frames(path: Path, window: ConditioningWindow, width: int, height: int) -> Array:
    """uint8 [frames, height, width, 3]: the window's skeleton frames, resized keeping their aspect and padded with
    black (as SVI's `resize_and_pad_to_target`: nearest neighbour, centred), looping when `window.loop`; black
    frames past a non-looping end.
    """
    total = video_frame_count(path).frames
    indices = pose_indices(window, total)
    wanted = sorted({i for i in indices if i is not None})
    out = np.zeros((window.frames, height, width, 3), dtype=np.uint8)
    if not wanted:
        return out
    decoded = _decode_frames(path, wanted, width, height)
    position = {index: k for k, index in enumerate(wanted)}
    for j, index in enumerate(indices):
        if index is not None:
            out[j] = decoded[position[index]]
    return out


def _decode_frames(path: Path, wanted: list[int], width: int, height: int) -> Array:
    """The frames of the given (sorted, distinct) indices, scaled into width x height and padded."""
    ranges = _ranges(wanted)
    select = "+".join(f"between(n\\,{a}\\,{b})" for a, b in ranges)
    scale = (
        f"select='{select}',scale={width}:{height}:force_original_aspect_ratio=decrease:flags=neighbor,"
        f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:black,format=rgb24"
    )
    args = [
        _tool("ffmpeg"),
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-i",
        str(path),
        "-an",
        "-vf",
        scale,
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "pipe:1",
    ]
    result = subprocess.run(args, capture_output=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
        raise UnreadableInput(FIELDS["pose"], f"the skeleton video cannot be decoded ({' '.join(tail)[:200]})")
    frame_bytes = width * height * 3
    count = len(result.stdout) // frame_bytes
    if count != len(wanted):
        raise UnreadableInput(FIELDS["pose"], f"the skeleton video gave {count} of the {len(wanted)} frames asked for")
    return np.frombuffer(result.stdout, dtype=np.uint8).reshape(count, height, width, 3)


def _ranges(sorted_indices: list[int]) -> list[tuple[int, int]]:
    """Consecutive runs of sorted distinct indices, as inclusive (first, last) pairs."""
    runs: list[tuple[int, int]] = []
    for index in sorted_indices:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def load_conditioning(spec: SegmentSpec) -> Conditioning:
    """The segment's audio and pose windows, decoded (the backend, the animatic drawing and result.json read them)."""
    audio = pose = None
    if spec.audio is not None:
        path = locate_conditioning(spec, spec.audio, "audio")
        audio = audio_window_samples(path, spec.audio, spec.fps, AUDIO_SAMPLE_RATE)
    if spec.pose is not None:
        path = locate_conditioning(spec, spec.pose, "pose")
        pose = pose_window_frames(path, spec.pose, spec.width, spec.height)
    return Conditioning(audio=audio, pose=pose)


def consumed_windows(spec: SegmentSpec, conditioning: Conditioning) -> dict[str, dict[str, object]]:
    """result.json's record of the windows consumed: where they start, how long, and a sha256 of what was decoded."""
    out: dict[str, dict[str, object]] = {}
    if spec.audio is not None and conditioning.audio is not None:
        out["audioWindow"] = {
            "startFrame": spec.audio.start_frame,
            "frames": spec.audio.frames,
            "sampleRate": AUDIO_SAMPLE_RATE,
            "samples": len(conditioning.audio),
            "sha256": hashlib.sha256(np.ascontiguousarray(conditioning.audio, dtype="<f4").tobytes()).hexdigest(),
        }
    if spec.pose is not None and conditioning.pose is not None:
        out["poseWindow"] = {
            "startFrame": spec.pose.start_frame,
            "frames": spec.pose.frames,
            "loop": spec.pose.loop,
            "sha256": hashlib.sha256(np.ascontiguousarray(conditioning.pose).tobytes()).hexdigest(),
        }
    return out
