"""Pictures of what a segment is conditioned on: a waveform of its audio window, a strip of its skeleton frames.

The animatic backend draws them into its frames (so a preview shows the timing without a GPU), every segment
leaves a strip beside its clip (conditioning.png), and the contact sheet puts it under each clip's thumbnail.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from longvideo_runtime.arrays import Array

WAVE_COLOUR = (90, 200, 255)
CURSOR_COLOUR = (255, 214, 90)
BACKGROUND = (16, 16, 16)


def waveform(samples: Array, width: int, height: int, cursor: float | None = None) -> Array:
    """uint8 [height, width, 3]: the peak envelope of `samples` (in [-1, 1]) across the width, with an optional
    cursor at `cursor` (0..1 of the way through), on a dark background."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[:] = BACKGROUND
    if len(samples) > 0 and width > 0:
        columns = np.array_split(np.abs(samples.astype(np.float32)), width)
        peaks = np.array([float(c.max()) if len(c) else 0.0 for c in columns])
        scale = max(float(peaks.max()), 1e-6)
        middle = height / 2
        for x, peak in enumerate(peaks):
            half = round(peak / scale * (middle - 1))
            top, bottom = int(middle) - half, int(middle) + half + 1
            image[max(top, 0) : min(bottom, height), x] = WAVE_COLOUR
    return image if cursor is None else with_cursor(image, cursor)


def with_cursor(image: Array, cursor: float) -> Array:
    """A copy of a waveform with a vertical cursor `cursor` (0..1) of the way across."""
    out = image.copy()
    width = out.shape[1]
    # Wide enough to survive a video encoder's chroma subsampling.
    half = max(1, width // 96)
    x = min(width - 1, max(0, round(cursor * (width - 1))))
    out[:, max(0, x - half) : x + half + 1] = CURSOR_COLOUR
    return out


def pose_strip(frames: Array, width: int, height: int, count: int = 4) -> Array:
    """uint8 [height, width, 3]: `count` evenly spaced skeleton frames side by side, each fitted into its cell."""
    image = Image.new("RGB", (width, height), BACKGROUND)
    if len(frames) == 0:
        return np.asarray(image)
    count = max(1, min(count, len(frames)))
    cell = width // count
    picks = np.linspace(0, len(frames) - 1, count).round().astype(int)
    for k, index in enumerate(picks):
        thumb = Image.fromarray(frames[index])
        thumb.thumbnail((max(1, cell - 2), max(1, height - 2)), Image.Resampling.BILINEAR)
        x = k * cell + (cell - thumb.width) // 2
        image.paste(thumb, (x, (height - thumb.height) // 2))
    draw = ImageDraw.Draw(image)
    for k in range(1, count):
        draw.line([(k * cell, 0), (k * cell, height)], fill=(60, 60, 60))
    return np.asarray(image)
