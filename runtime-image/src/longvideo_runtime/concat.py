"""The concat command: the film from the clips of the chains ending as LV_FINAL_DIGEST says, in index order, by
stream copy, checked against the plan (film_chain.py finds and checks the chains). It claims the output first and
writes it only while the claim stands, so a stale concatenation still running never overwrites a newer film
(output_claim.py)."""

from __future__ import annotations

import contextlib
import math
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from longvideo_runtime import conditioning_media, film_chain, fsio, media, output_claim
from longvideo_runtime.errors import BadInput
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import ConcatSpec
from longvideo_runtime.workspace_layout import CONDITIONING_FILE


def contact_sheet(
    posters: list[Path],
    target: Path,
    claim: output_claim.OutputClaim,
    thumb_width: int = 240,
    strips: list[Path] | None = None,
) -> None:
    """One poster per segment in a grid, numbered, each over its clip's conditioning strip when given (the waveform
    of a talk clip's audio window, a dance clip's skeleton frames). Written only while `claim` stands, like the film
    it goes with."""
    images = [Image.open(p).convert("RGB") for p in posters]
    w = min(thumb_width, images[0].width)
    h = max(1, round(images[0].height * w / images[0].width))
    below = [Image.open(p).convert("RGB") for p in strips] if strips else []
    sh = max(1, round(below[0].height * w / below[0].width)) if below else 0
    columns = min(len(images), 6)
    rows = math.ceil(len(images) / columns)
    pad = 4
    cell = h + sh + (2 if below else 0)
    sheet = Image.new("RGB", (columns * (w + pad) + pad, rows * (cell + pad) + pad), (16, 16, 16))
    draw = ImageDraw.Draw(sheet)
    for i, image in enumerate(images):
        x, y = pad + (i % columns) * (w + pad), pad + (i // columns) * (cell + pad)
        sheet.paste(image.resize((w, h), Image.Resampling.BILINEAR), (x, y))
        if below:
            sheet.paste(below[i].resize((w, sh), Image.Resampling.BILINEAR), (x, y + h + 2))
        draw.text((x + 3, y + 2), str(i + 1), fill=(255, 214, 90))
    with claim.atomic_target(target) as tmp, fsio.workspace_errors(target):
        sheet.save(tmp, format="PNG")


#: The film's audio rate: AAC's usual 48 kHz, so a frame at 16, 24 or 25 fps is a whole number of samples.
FILM_AUDIO_RATE = 48000


@dataclass(frozen=True)
class FilmAudio:
    """The film's audio track (LV_AUDIO, LV_AUDIO_WINDOW): the source's samples from the window's start, exactly as
    many as the film's frames last, silence after the source's end; AAC beside the copied video."""

    path: Path
    #: First sample and sample count at FILM_AUDIO_RATE.
    start: int
    samples: int

    def ffmpeg_args(self) -> list[str]:
        # atrim counts samples after resampling: sample-exact whatever the source's rate or container; apad fills
        # a source that ends before the film, and whole_len makes the track exactly the film's length.
        chain = (
            f"aresample={FILM_AUDIO_RATE},atrim=start_sample={self.start}:end_sample={self.start + self.samples},"
            f"asetpts=N/SR/TB,apad=whole_len={self.samples}"
        )
        return [
            "-i",
            str(self.path),
            "-map",
            "0:v:0",
            "-map",
            "1:a:0",
            "-c:v",
            "copy",
            "-af",
            chain,
            "-c:a",
            "aac",
            "-b:a",
            "160k",
            "-ar",
            str(FILM_AUDIO_RATE),
        ]

    def check(self, film: Path) -> None:
        """The muxed track starts with the video and lasts as long, within one AAC frame (1024 samples)."""
        streams = media.stream_timings(film)
        audio, video = streams.get("audio"), streams.get("video")
        if audio is None or video is None:
            raise RuntimeError(f"the film has no {'audio' if audio is None else 'video'} stream after muxing")
        tolerance = 1024 / FILM_AUDIO_RATE + 1e-3
        if abs(audio.start - video.start) > tolerance or abs(audio.duration - video.duration) > tolerance:
            raise RuntimeError(
                f"the audio ({audio.start:.3f}+{audio.duration:.3f} s) is not in step with the video "
                f"({video.start:.3f}+{video.duration:.3f} s)"
            )


def film_audio(spec: ConcatSpec, frames: int) -> FilmAudio | None:
    """The film's audio track to mux, its source located (fetched once for a url), or None when the film has none."""
    if spec.audio is None:
        return None
    if spec.audio.frames != frames:
        raise BadInput(f"LV_AUDIO_WINDOW covers {spec.audio.frames} frames, but the film has {frames}")
    if spec.audio.start_frame < 0:
        raise BadInput(f"LV_AUDIO_WINDOW starts before the audio: {spec.audio.start_frame}")
    path = conditioning_media.locate_source(
        spec.audio.source, spec.audio_dir, spec.workspace, spec.fetch_policy, "audio"
    )
    return FilmAudio(
        path=path,
        start=round(spec.audio.start_frame * FILM_AUDIO_RATE / spec.fps),
        samples=round(frames * FILM_AUDIO_RATE / spec.fps),
    )


def run_concat(spec: ConcatSpec, log: Logger) -> dict[str, Any]:
    started = time.perf_counter()
    # Claimed first of all: the later a concatenation starts, the later it claims, so the newest one wins.
    fsio.ensure_dir(spec.output_path.parent)
    claim = output_claim.claim(spec.output_path, owner=spec.claim_owner)
    log.info("output-claimed", path=str(spec.output_path), owner=spec.claim_owner, chains=len(spec.chains))
    links = film_chain.walk(spec.workspace, spec.chains)
    log.info("chain-verified", directories=[str(link.directory) for link in links])
    results = [link.result for link in links]
    planned = sum(int(r["keptFrames"]) for r in results)
    if spec.expected_frames is not None and planned != spec.expected_frames:
        raise BadInput(f"the segments keep {planned} frames but the plan expects {spec.expected_frames}")
    if any(int(r["fps"]) != spec.fps for r in results):
        raise BadInput(f"segments were rendered at {sorted({r['fps'] for r in results})} fps, the film is {spec.fps}")
    # A hand-off holds one size through a chain, but chains are rendered apart, and stream copy cannot mix sizes.
    sizes = sorted({f"{r['width']}x{r['height']}" for r in results})
    if len(sizes) > 1:
        raise BadInput(f"segments were rendered at sizes {', '.join(sizes)}: the clips of one film share one size")
    if spec.audio_path is not None and not spec.audio_path.is_file():
        raise BadInput(f"audio track {spec.audio_path} does not exist")
    track = film_audio(spec, planned)
    fsio.clean_stale_temps(spec.output_path.parent)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise RuntimeError("ffmpeg is not on PATH")

    with tempfile.TemporaryDirectory(prefix="lv-concat-") as scratch, claim.atomic_target() as tmp:
        listing = Path(scratch) / "clips.txt"
        lines = []
        for link in links:
            clip = link.clip.resolve()
            lines.append("file '" + str(clip).replace("'", "'\\''") + "'")
        listing.write_text("\n".join(lines) + "\n")
        args = [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
            str(listing),
        ]
        if track is not None:
            args += track.ffmpeg_args()
        elif spec.audio_path is not None:
            # Video is copied; the audio is encoded, padded with silence and cut to the film's length.
            args += [
                "-i",
                str(spec.audio_path),
                "-map",
                "0:v:0",
                "-map",
                "1:a:0",
                "-c:v",
                "copy",
                "-c:a",
                "aac",
                "-b:a",
                "160k",
                "-af",
                "apad",
                "-shortest",
            ]
        else:
            args += ["-map", "0:v:0", "-c", "copy"]
        args += ["-movflags", "+faststart", "-f", "mp4", str(tmp)]
        with fsio.workspace_errors(spec.output_path):
            done = subprocess.run(args, capture_output=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg concat failed: {done.stderr.decode(errors='replace').strip()[-400:]}")
        probe = media.probe(tmp)
        if probe.frames != planned:
            raise RuntimeError(f"the film has {probe.frames} frames, the segments keep {planned}")
        expected_seconds = planned / spec.fps
        if abs(probe.seconds - expected_seconds) > 1.5 / spec.fps:
            raise RuntimeError(
                f"the film lasts {probe.seconds:.3f}s, {planned} frames at {spec.fps} fps is {expected_seconds:.3f}s"
            )
        if track is not None:
            track.check(tmp)
        # Of the file this concatenation wrote: once renamed, the path may already hold a newer claimant's film.
        digest = fsio.sha256_file(tmp)

    sheet = spec.output_path.with_name(spec.output_path.stem + ".contact.png")
    posters = [link.poster for link in links]
    strips = [link.directory / CONDITIONING_FILE for link in links]
    with contextlib.suppress(FileNotFoundError):
        if all(p.is_file() for p in posters):
            if all(s.is_file() for s in strips):
                contact_sheet(posters, sheet, claim, strips=strips)
            else:
                contact_sheet(posters, sheet, claim)
    result = {
        "kind": "concat",
        "ok": True,
        "path": str(spec.output_path),
        "frames": probe.frames,
        "seconds": round(probe.seconds, 3),
        "segments": len(results),
        "audio": probe.has_audio,
        "digest": digest,
        "contactSheet": str(sheet) if sheet.is_file() else None,
        "elapsed": round(time.perf_counter() - started, 3),
    }
    log.info("film-written", **{k: v for k, v in result.items() if k != "ok"})
    return result
