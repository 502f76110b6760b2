"""Draws the demo's reference image: a harbour at dawn (sky, sun, sea, a breakwater with a lighthouse, boats).

The first frame of the example film (manifests/examples/film.yaml), so the animatic preview of its harbour
storyline starts from a harbour rather than a test pattern. Deterministic: the same size gives the same PNG.

    python3 scripts/draw-reference-image.py OUT.png [WIDTHxHEIGHT]     # default 832x480

Needs numpy and Pillow (Debian's python3-numpy and python3-pil, or the runtime's virtualenv).
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _gradient(top: tuple[int, int, int], bottom: tuple[int, int, int], height: int, width: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    colours = (1 - t) * np.array(top, dtype=float) + t * np.array(bottom, dtype=float)
    return np.repeat(colours, width, axis=1)


def harbour(width: int, height: int) -> Image.Image:
    horizon = int(height * 0.55)
    sky = _gradient((70, 96, 150), (246, 190, 140), horizon, width)
    sea = _gradient((72, 110, 140), (22, 48, 72), height - horizon, width)
    rng = np.random.default_rng(7)
    # Waves: horizontal streaks of light on the water, thinner and denser towards the horizon.
    rows = np.arange(height - horizon)[:, None]
    cols = np.arange(width)[None, :]
    waves = np.sin(cols / (6 + rows * 0.4) + rows * 1.7) * np.sin(rows * 0.9)
    sea += (waves * 12)[:, :, None] + rng.normal(0, 3, sea.shape)
    pixels = np.clip(np.concatenate([sky, sea], axis=0), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)

    # The low sun and its glitter path on the water.
    sun_x, sun_r = int(width * 0.68), max(6, height // 18)
    draw.ellipse((sun_x - sun_r, horizon - sun_r * 2, sun_x + sun_r, horizon), fill=(255, 226, 170))
    for i in range(90):
        depth = rng.uniform(0.02, 1.0)
        y = horizon + 3 + int(depth * (height - horizon - 6))
        spread = sun_r * (0.4 + depth * 1.6)
        x = sun_x + rng.normal(0, spread * 0.5)
        half = rng.uniform(2, 6 + depth * 14)
        draw.line((x - half, y, x + half, y), fill=(250, 205, 150), width=1 + int(depth * 2))

    # Hills behind the harbour.
    hill = [(0, horizon)] + [
        (x, horizon - int(height * 0.07 * (1 + np.sin(x / width * 5.0 + 1.0)))) for x in range(0, width + 1, 8)
    ]
    draw.polygon(hill + [(width, horizon)], fill=(96, 104, 120))

    # The breakwater from the left, a lighthouse at its end.
    wall_top = horizon + int(height * 0.06)
    wall_end = int(width * 0.42)
    draw.polygon(
        [(0, wall_top), (wall_end, wall_top + 4), (wall_end, wall_top + 14), (0, wall_top + 26)], fill=(92, 84, 78)
    )
    lh_w, lh_h = max(8, width // 60), int(height * 0.2)
    lx = wall_end - lh_w * 2
    draw.polygon(
        [(lx, wall_top + 4), (lx + lh_w, wall_top + 4), (lx + lh_w * 0.8, wall_top - lh_h), (lx + lh_w * 0.2, wall_top - lh_h)],
        fill=(236, 232, 226),
    )
    for k in range(1, 4):
        y = wall_top - lh_h * k // 4
        draw.rectangle((lx + lh_w * 0.15, y - 5, lx + lh_w * 0.85, y + 2), fill=(190, 48, 44))
    draw.rectangle((lx + lh_w * 0.1, wall_top - lh_h - 10, lx + lh_w * 0.9, wall_top - lh_h), fill=(255, 236, 150))

    # Fishing boats: hulls, cabins and masts, two by the breakwater, one further out.
    for bx, by, scale, hull in [(0.18, 0.74, 1.0, (40, 80, 150)), (0.3, 0.8, 1.2, (170, 60, 50)), (0.82, 0.66, 0.6, (230, 230, 220))]:
        x, y, s = int(width * bx), int(height * by), scale * width / 832
        draw.polygon([(x - 40 * s, y), (x + 40 * s, y), (x + 30 * s, y + 14 * s), (x - 30 * s, y + 14 * s)], fill=hull)
        draw.rectangle((x - 12 * s, y - 16 * s, x + 10 * s, y), fill=(240, 236, 226))
        draw.line((x + 20 * s, y, x + 20 * s, y - 46 * s), fill=(50, 44, 40), width=max(1, int(2 * s)))

    # Gulls.
    for gx, gy in [(0.5, 0.18), (0.55, 0.22), (0.36, 0.26)]:
        x, y = int(width * gx), int(height * gy)
        draw.line((x - 8, y, x, y + 4, x + 8, y), fill=(60, 60, 70), width=2)
    return image.filter(ImageFilter.SMOOTH)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__ or "")
        return 2
    width, height = (int(n) for n in (argv[2] if len(argv) == 3 else "832x480").split("x"))
    harbour(width, height).save(argv[1], format="PNG", optimize=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
