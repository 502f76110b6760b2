"""Video and image files: h264 encoding through ffmpeg, frame counting through ffprobe, PNG posters."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from longvideo_runtime import fsio
from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput

# Every clip is encoded with the same settings so that the film can be concatenated with stream copy.
_X264 = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-bf", "0", "-g", "32"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not on PATH")
    return path


def _run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    result = subprocess.run(args, input=stdin, capture_output=True, check=False)
    if result.returncode != 0:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"{Path(args[0]).name} failed ({result.returncode}): {' | '.join(tail)}")
    return result


def encode_h264(frames: Array, fps: int, target: Path) -> None:
    """Writes uint8 frames [N, H, W, 3] to an mp4 (h264, yuv420p, constant frame rate), atomically."""
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 [N, H, W, 3], got {frames.dtype} {frames.shape}")
    n, h, w, _ = frames.shape
    with fsio.atomic_target(target) as tmp:
        args = [
            _tool("ffmpeg"),
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{w}x{h}",
            "-r",
            str(fps),
            "-i",
            "pipe:0",
            *_X264,
            "-r",
            str(fps),
            "-video_track_timescale",
            str(fps * 1000),
            "-frames:v",
            str(n),
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
            str(tmp),
        ]
        with fsio.workspace_errors(target):
            _run(args, stdin=np.ascontiguousarray(frames).tobytes())


@dataclass(frozen=True)
class Probe:
    frames: int
    seconds: float
    width: int
    height: int
    codec: str
    fps: float
    has_audio: bool


def probe(path: Path) -> Probe:
    """Counts the video stream's packets (one per frame for h264 without B-frame reordering issues)."""
    out = _run(
        [
            _tool("ffprobe"),
            "-v",
            "error",
            "-count_packets",
            "-show_entries",
            "stream=codec_type,codec_name,width,height,nb_read_packets,avg_frame_rate:format=duration",
            "-of",
            "json",
            str(path),
        ]
    )
    info = json.loads(out.stdout)
    video = next((s for s in info.get("streams", []) if s.get("codec_type") == "video"), None)
    if video is None:
        raise RuntimeError(f"{path} has no video stream")
    num, _, den = str(video.get("avg_frame_rate", "0/1")).partition("/")
    fps = float(num) / float(den or 1) if float(den or 1) else 0.0
    return Probe(
        frames=int(video.get("nb_read_packets", 0)),
        seconds=float(info.get("format", {}).get("duration", 0.0)),
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        codec=str(video.get("codec_name", "")),
        fps=fps,
        has_audio=any(s.get("codec_type") == "audio" for s in info.get("streams", [])),
    )


@dataclass(frozen=True)
class StreamTiming:
    """Where a stream starts and how long it lasts, in seconds, as the container says."""

    start: float
    duration: float


def stream_timings(path: Path) -> dict[str, StreamTiming]:
    """The first video and audio streams' start times and durations (ffprobe), keyed by codec type."""
    out = _run(
        [
            _tool("ffprobe"),
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,start_time,duration",
            "-of",
            "json",
            str(path),
        ]
    )
    timings: dict[str, StreamTiming] = {}
    for stream in json.loads(out.stdout).get("streams", []):
        kind = stream.get("codec_type")
        if kind in ("audio", "video") and kind not in timings:
            timings[kind] = StreamTiming(
                start=float(stream.get("start_time", 0) or 0), duration=float(stream.get("duration", 0) or 0)
            )
    return timings


def decode_frames(path: Path) -> Array:
    """All frames of a video as uint8 [N, H, W, 3] (tests and tools; the worker never decodes a previous clip)."""
    p = probe(path)
    out = _run([_tool("ffmpeg"), "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"])
    return np.frombuffer(out.stdout, dtype=np.uint8).reshape(-1, p.height, p.width, 3)


def write_png(image: Array, target: Path) -> None:
    with fsio.atomic_target(target) as tmp, fsio.workspace_errors(target):
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, format="PNG")


def load_rgb(path: Path, width: int, height: int) -> Array:
    """An image file as uint8 [H, W, 3], scaled to cover width x height and centre-cropped (aspect kept)."""
    try:
        with Image.open(path) as img:
            img.load()
            rgb = img.convert("RGB")
    except (OSError, ValueError) as e:
        raise BadInput(f"cannot read the reference image {path}: {e}") from e
    scale = max(width / rgb.width, height / rgb.height)
    size = (max(width, round(rgb.width * scale)), max(height, round(rgb.height * scale)))
    rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - width) // 2, (size[1] - height) // 2
    return np.array(rgb.crop((left, top, left + width, top + height)), dtype=np.uint8)
