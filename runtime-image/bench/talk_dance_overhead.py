"""Per-segment cost of SVI-Talk's audio stage and SVI-Dance's pose stage on the tiny models, on CPU.

Talk: loading wav2vec2 and MultiTalk (once per segment), then loudness normalisation, wav2vec2 over the whole track
(SVI does this for every clip), the window and the projection (speech and silence). Dance: splitting svi-dance into
LoRA and pose encoder and merging the LoRA, then encoding the clip's skeleton frames. Also one denoising step's
transformer passes with and without the stage's hooks, to show what the audio attention and the third pass add.

Usage: python bench/talk_dance_overhead.py [--repeat N]   (run-bench.sh sets up the venv and PYTHONPATH)
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from longvideo_runtime.svi.dance import clip_pose, load_dance
from longvideo_runtime.svi.talk import clip_tokens, load_talk
from longvideo_runtime.svi.tiny import _transformer, build

CPU = torch.device("cpu")


def timed(repeat: int, action: Callable[[], Any]) -> float:
    """Median seconds of `repeat` runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def forward(model: Any, frames: int, height: int, width: int) -> None:
    t = (frames - 1) // 4 + 1
    with torch.no_grad():
        model(
            hidden_states=torch.zeros(1, 36, t, height // 8, width // 8),
            timestep=torch.tensor([500.0]),
            encoder_hidden_states=torch.zeros(1, 16, 32),
            encoder_hidden_states_image=torch.zeros(1, 5, 4),
            return_dict=False,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    torch.manual_seed(0)
    figures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lv-bench-td-") as tmp:
        models = build(Path(tmp) / "models")
        root = models["wav2vec"].parent
        for seconds in (10, 60, 300):
            track = (0.3 * np.sin(np.arange(16000 * seconds) / 16000 * 2 * np.pi * 220)).astype(np.float32)
            transformer = _transformer(image_dim=4).eval()
            load = timed(args.repeat, lambda: load_talk(_transformer(image_dim=4).eval(), root, CPU))
            talk = load_talk(transformer, root, CPU)
            stage = timed(args.repeat, partial(clip_tokens, talk, track, 80, 81, 25))
            figures.append(
                f"talk audio stage, {seconds:>3} s track, 81-frame window: load {load * 1000:.0f} ms, "
                f"loudness + wav2vec2 + window + projection {stage * 1000:.0f} ms"
            )
        for size, frames in (((48, 64), 13), ((256, 256), 81)):
            load = timed(
                args.repeat, lambda: load_dance(_transformer(image_dim=4).eval(), models["svi-dance"], 1.0, CPU)
            )
            dance = load_dance(_transformer(image_dim=4).eval(), models["svi-dance"], 1.0, CPU)
            skeleton = np.random.default_rng(0).integers(0, 255, (frames, *size, 3), dtype=np.uint8)
            stage = timed(args.repeat, partial(clip_pose, dance, skeleton))
            figures.append(
                f"dance pose stage, {frames} frames at {size[1]}x{size[0]}: load + LoRA merge {load * 1000:.0f} ms, "
                f"encode {stage * 1000:.0f} ms"
            )
        transformer = _transformer(image_dim=4).eval()
        plain = timed(args.repeat, lambda: forward(transformer, 17, 256, 256))
        talk = load_talk(transformer, root, CPU)
        track = np.zeros(16000 * 2, dtype=np.float32)
        tokens = clip_tokens(talk, track, 0, 17, 25).tokens
        with talk.audio.active(tokens):
            heard = timed(args.repeat, lambda: forward(transformer, 17, 256, 256))
        figures.append(
            f"tiny transformer pass at 256x256x17: {plain * 1000:.0f} ms plain, {heard * 1000:.0f} ms with audio "
            f"attention; a Talk step runs 3 such passes where text CFG runs 2"
        )
    print()
    for line in figures:
        print(line)


if __name__ == "__main__":
    main()
