#!/usr/bin/env python3
"""Draws a dancing stick figure, DWPose-style (coloured limbs on black), as an h264 mp4: a Dance film's pose input.

Standard library and ffmpeg only, so tests, examples and the end-to-end suite can make one anywhere:

    python3 scripts/draw-skeleton-video.py out.mp4 --frames 60 --size 320x320 --fps 25

Frame n's pose depends only on n (arms and legs swing with the frame index), and frame n carries n in a binary
strip of 8 cells along its bottom edge (white = 1, least significant bit on the left), so a test can read back
which skeleton frame a clip was given.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys

#: (joint a, joint b, RGB) as DWPose colours its body limbs, roughly.
LIMBS = (
    ("neck", "head", (255, 0, 85)),
    ("neck", "hip", (255, 85, 0)),
    ("neck", "l_elbow", (170, 255, 0)),
    ("l_elbow", "l_hand", (85, 255, 0)),
    ("neck", "r_elbow", (255, 170, 0)),
    ("r_elbow", "r_hand", (255, 255, 0)),
    ("hip", "l_knee", (0, 255, 85)),
    ("l_knee", "l_foot", (0, 255, 170)),
    ("hip", "r_knee", (0, 170, 255)),
    ("r_knee", "r_foot", (0, 85, 255)),
)
INDEX_BITS = 8


def joints(n: int, period: int) -> dict[str, tuple[float, float]]:
    """Joint positions in unit coordinates (0..1) for frame n of a dance that repeats every `period` frames."""
    phase = 2 * math.pi * n / period
    swing = math.sin(phase)
    bob = 0.02 * math.cos(2 * phase)
    neck = (0.5, 0.3 + bob)
    hip = (0.5, 0.6 + bob)

    def limb(origin: tuple[float, float], angle: float, length: float) -> tuple[float, float]:
        return (origin[0] + length * math.sin(angle), origin[1] + length * math.cos(angle))

    l_elbow = limb(neck, -1.2 - 0.8 * swing, 0.15)
    r_elbow = limb(neck, 1.2 - 0.8 * swing, 0.15)
    l_knee = limb(hip, -0.3 + 0.3 * swing, 0.16)
    r_knee = limb(hip, 0.3 + 0.3 * swing, 0.16)
    return {
        "head": (0.5, 0.18 + bob),
        "neck": neck,
        "hip": hip,
        "l_elbow": l_elbow,
        "l_hand": limb(l_elbow, -2.0 - swing, 0.13),
        "r_elbow": r_elbow,
        "r_hand": limb(r_elbow, 2.0 - swing, 0.13),
        "l_knee": l_knee,
        "l_foot": limb(l_knee, -0.1, 0.16),
        "r_knee": r_knee,
        "r_foot": limb(r_knee, 0.1, 0.16),
    }


def draw_frame(n: int, width: int, height: int, period: int) -> bytes:
    frame = bytearray(width * height * 3)
    thickness = max(2, width // 80)

    def dot(x: int, y: int, colour: tuple[int, int, int]) -> None:
        for dy in range(-thickness, thickness + 1):
            for dx in range(-thickness, thickness + 1):
                px, py = x + dx, y + dy
                if 0 <= px < width and 0 <= py < height and dx * dx + dy * dy <= thickness * thickness:
                    i = (py * width + px) * 3
                    frame[i : i + 3] = bytes(colour)

    points = joints(n, period)
    for a, b, colour in LIMBS:
        (ax, ay), (bx, by) = points[a], points[b]
        steps = int(max(abs(bx - ax) * width, abs(by - ay) * height)) + 1
        for s in range(0, steps + 1, max(1, thickness // 2)):
            t = s / steps
            dot(int((ax + (bx - ax) * t) * width), int((ay + (by - ay) * t) * height), colour)
    cell = width // INDEX_BITS
    strip = max(4, height // 24)
    for bit in range(INDEX_BITS):
        value = 255 if (n >> bit) & 1 else 0
        for y in range(height - strip, height):
            start = (y * width + bit * cell) * 3
            frame[start : start + cell * 3] = bytes([value]) * (cell * 3)
    return bytes(frame)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--size", default="320x320", help="WIDTHxHEIGHT, even numbers")
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--period", type=int, default=40, help="frames per dance move")
    args = parser.parse_args(argv)
    width, height = (int(v) for v in args.size.split("x"))
    ffmpeg = subprocess.Popen(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(args.fps), "-i", "pipe:0",
            "-c:v", "libx264", "-preset", "veryfast", "-qp", "0", "-pix_fmt", "yuv444p", "-g", "1",
            args.output,
        ],
        stdin=subprocess.PIPE,
    )  # fmt: skip
    assert ffmpeg.stdin is not None
    for n in range(args.frames):
        ffmpeg.stdin.write(draw_frame(n, width, height, args.period))
    ffmpeg.stdin.close()
    return ffmpeg.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
