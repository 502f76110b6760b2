"""The animatic backend: a storyboard preview on CPU (numpy + Pillow), with the real backend's timing.

Each clip starts where the previous one left off, as SVI does: its first frames are the carried frames from the
handoff (the frames the real model regenerates and stitching drops), then a slow camera move (zoom and pan,
chosen from the clip's seed) over the last carried frame. A caption bar names the clip and its prompt; the
handoff keeps clean frames, so captions never pile up from clip to clip.

Talk and Dance previews also draw what the model would be conditioned on, frame by frame: a waveform of the clip's
audio window above the caption with a cursor at the frame's moment, or the skeleton frame that drives the frame,
inset in the top right corner. So a dry run shows the timing (lip sync, the dance's beat) without a GPU.
"""

from __future__ import annotations

import functools
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from longvideo_runtime.arrays import Array
from longvideo_runtime.conditioning_views import waveform, with_cursor
from longvideo_runtime.rendering import Conditioning, RenderInput, RenderOutput
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.variants import FRAMES_PER_LATENT

#: Height of the caption bar as a fraction of the frame; the picture above it is what continues across clips.
CAPTION_FRACTION = 0.2


def caption_height(height: int) -> int:
    return max(8, int(height * CAPTION_FRACTION))


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default()


def placeholder(width: int, height: int, text: str) -> Array:
    """A neutral gradient standing in for a reference image the preview could not read."""
    y = np.linspace(40, 110, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 50, width, dtype=np.float32)[None, :]
    r, g, b = np.broadcast_arrays(y + x, y + x * 0.5, y * 1.4 + x * 0.0)
    image = np.stack([r, g, b], axis=-1).clip(0, 255).astype(np.uint8)
    pil = Image.fromarray(image)
    ImageDraw.Draw(pil).text((4, 4), text, fill=(230, 230, 230), font=_font(max(8, height // 16)))
    return np.asarray(pil)


class Camera:
    """A zoom-in with a drift, both from the seed; frame t of the move is computed from the base image directly."""

    def __init__(self, seed: int, width: int, height: int, frames: int) -> None:
        rng = np.random.default_rng(seed)
        self.width, self.height = width, height
        # About 15% zoom over an 81-frame clip: visible motion in a preview, slow enough to keep detail a while.
        self.zoom_per_frame = float(rng.uniform(0.0015, 0.0025))
        angle = float(rng.uniform(0, 2 * np.pi))
        self.direction = (np.cos(angle), np.sin(angle))
        self.frames = frames

    def view(self, base: Image.Image, t: int) -> Array:
        if t == 0:
            return np.asarray(base)
        scale = (1.0 + self.zoom_per_frame) ** t
        # The drift uses half of the margin the zoom frees, so the view never leaves the image.
        margin_x = self.width / 2 * (1 - 1 / scale) * 0.5
        margin_y = self.height / 2 * (1 - 1 / scale) * 0.5
        cx = self.width / 2 * (1 - 1 / scale) + self.direction[0] * margin_x
        cy = self.height / 2 * (1 - 1 / scale) + self.direction[1] * margin_y
        data = (1 / scale, 0.0, cx, 0.0, 1 / scale, cy)
        moved = base.transform((self.width, self.height), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
        return np.asarray(moved)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> str:
    words, line = text.split(), ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) > width and line:
            return line + " …"
        line = candidate
    return line


def caption(frame: Array, spec: SegmentSpec, number: int) -> Array:
    """The frame with a caption bar at the bottom: clip number, scene, frame, prompt."""
    h, w = frame.shape[:2]
    bar = caption_height(h)
    pil = Image.fromarray(frame)
    band = np.asarray(pil.crop((0, h - bar, w, h))).astype(np.float32) * 0.25
    pil.paste(Image.fromarray(band.astype(np.uint8)), (0, h - bar))
    draw = ImageDraw.Draw(pil)
    size = max(7, bar // 3)
    font = _font(size)
    total = f"/{spec.segment_count}" if spec.segment_count else ""
    head = f"clip {spec.index + 1}{total}  scene {spec.scene + 1}  frame {number + 1}/{spec.frames}"
    draw.text((4, h - bar + 1), head, fill=(255, 214, 90), font=font)
    draw.text((4, h - bar + 1 + size + 2), _wrap(draw, spec.prompt, font, w - 8), fill=(240, 240, 240), font=font)
    return np.asarray(pil)


def wave_band(conditioning: Conditioning, width: int, height: int) -> Array | None:
    """The audio window's waveform as a band as wide as the frame, drawn once per clip; None without audio."""
    if conditioning.audio is None:
        return None
    return waveform(conditioning.audio, width, max(8, height // 10))


def conditioned(frame: Array, conditioning: Conditioning, band: Array | None, index: int, frames: int) -> Array:
    """The frame with what drives it drawn in: the audio window's waveform (cursor at this frame) or its skeleton."""
    h, w = frame.shape[:2]
    out = frame.copy()
    if band is not None:
        top = h - caption_height(h) - len(band)
        out[top : top + len(band)] = with_cursor(band, (index + 0.5) / frames)
    if conditioning.pose is not None and index < len(conditioning.pose):
        inset = Image.fromarray(conditioning.pose[index])
        inset.thumbnail((max(1, w // 3), max(1, h // 3)), Image.Resampling.BILINEAR)
        x, y = w - inset.width - 2, 2
        out[y : y + inset.height, x : x + inset.width] = np.asarray(inset)
    return out


class AnimaticBackend:
    """Its phases (phases.py): nothing to load, so `ready` is the process's start-up; `denoise` draws the clean frames
    (the camera move: what the successor's hand-off is made of), and the hand-off is committed right after; `decode`
    draws the captions and the conditioning overlays onto them (the frames of the clip)."""

    def render(self, request: RenderInput) -> RenderOutput:
        spec, stages = request.spec, request.stages
        w, h = spec.width, spec.height
        previous = stages.previous()
        stages.mark("denoise")
        started = time.perf_counter()
        carried: Array
        if previous is not None:
            carried = previous.tensors["motion_frames"]
        else:
            if request.reference is None:
                request.log.warning("reference-unavailable", detail="animatic draws a placeholder first frame")
                first = placeholder(w, h, "reference image unavailable")
            else:
                first = request.reference
            carried = first[None]
        lead = len(carried)
        if previous is not None and spec.protocol == "latent":
            # Pro: frame 0 is the anchor frame, then the frames the motion latents stand for; both are trimmed.
            lead = 1 + len(carried)
            carried = np.concatenate([carried[:1], carried])
        if previous is None:
            lead = 1
        base = Image.fromarray(carried[-1])
        camera = Camera(spec.seed, w, h, spec.frames)
        clean = np.empty((spec.frames, h, w, 3), dtype=np.uint8)
        clean[:lead] = carried[:lead]
        for t in range(lead, spec.frames):
            clean[t] = camera.view(base, t - lead + 1)
        count = spec.motion_frames if spec.protocol == "pixel" else FRAMES_PER_LATENT * spec.motion_frames
        handoff = {"motion_frames": np.ascontiguousarray(clean[-count:])}
        drawn = time.perf_counter()
        stages.mark("denoised")
        stages.commit(handoff)
        stages.mark("decode")
        captioned = time.perf_counter()
        band = wave_band(request.conditioning, w, h)
        frames = np.stack(
            [
                caption(conditioned(clean[i], request.conditioning, band, i, spec.frames), spec, i)
                for i in range(spec.frames)
            ]
        )
        stages.mark("decoded")
        return RenderOutput(
            frames=frames,
            handoff=handoff,
            timings={
                "draw_seconds": drawn - started,
                "caption_seconds": time.perf_counter() - captioned,
            },
        )
