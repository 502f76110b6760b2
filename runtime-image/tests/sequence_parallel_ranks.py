"""The cases of tests/test_sequence_parallel.py, and one rank of them when run as a script.

`python sequence_parallel_ranks.py OUT CASE...` (with RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) joins a gloo
group and denoises each case with svi/parallel_render.denoise, as a segment's rank does, on tiny transformers built
from the same seed in every process; it saves the latents and the rank's logged attention record to
OUT/<case>-<world>-<rank>.pt. The test runs the same cases in one process with the sampler alone.
"""

from __future__ import annotations

import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SegmentSpec, parse_segment
from longvideo_runtime.svi import tiny
from longvideo_runtime.svi.sampler import ExpertSwitch

#: Latent frames, height and width: 3 x 3 x 5 = 45 patch tokens, which neither 2 nor 4 ranks divide (padding).
LATENT = (3, 6, 10)
STEPS = 4
IMAGE_TOKENS = 9


@dataclass(frozen=True)
class Case:
    #: Wan 2.2's two experts (pro) or Wan 2.1 with CLIP image features (shot, film).
    two_experts: bool
    heads: int
    guidance: float


CASES: dict[str, Case] = {
    "wan21-guided": Case(two_experts=False, heads=2, guidance=5.0),
    "wan21-unguided": Case(two_experts=False, heads=2, guidance=1.0),
    "wan21-4heads-unguided": Case(two_experts=False, heads=4, guidance=1.0),
    "wan22-guided": Case(two_experts=True, heads=2, guidance=5.0),
    "wan22-unguided": Case(two_experts=True, heads=2, guidance=1.0),
    "wan22-4heads-unguided": Case(two_experts=True, heads=4, guidance=1.0),
}


def experts(case: Case) -> ExpertSwitch:
    torch.manual_seed(case.heads)
    image_dim = None if case.two_experts else 4
    high = tiny.transformer(image_dim, case.heads).eval()
    low = tiny.transformer(image_dim, case.heads).eval() if case.two_experts else None
    return ExpertSwitch(high, low, 0.875, torch.device("cpu"))


def job(case: Case) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(7)
    frames, h, w = LATENT
    return {
        "noise": torch.randn(1, 16, frames, h, w, generator=generator),
        "condition": torch.randn(1, 20, frames, h, w, generator=generator),
        "text": torch.randn(1, 512, tiny.TEXT_DIM, generator=generator),
        "negative": torch.randn(1, 512, tiny.TEXT_DIM, generator=generator),
        "image": None if case.two_experts else torch.randn(1, IMAGE_TOKENS, 4, generator=generator),
        "pose": None,
    }


def spec(case: Case, world: int) -> SegmentSpec:
    return parse_segment(
        {
            "LV_SEGMENT_INDEX": "0",
            "LV_SEGMENT_HASH": "sp",
            "LV_BACKEND": "svi",
            "LV_VARIANT": "pro" if case.two_experts else "film",
            "LV_PROMPT": "a boat",
            "LV_STEPS": str(STEPS),
            "LV_GUIDANCE_SCALE": str(case.guidance),
            "LV_GPU_COUNT": str(world),
            "LV_DEVICE": "cpu",
            # Never loaded: the experts are built here. parallel_plan skips the head check without a config.
            "LV_MODELS_DIR": "/nonexistent",
        }
    )


def main(out: Path, names: list[str]) -> None:
    import torch.distributed as dist

    from longvideo_runtime.svi.parallel_group import make_ranks
    from longvideo_runtime.svi.parallel_plan import plan_for
    from longvideo_runtime.svi.parallel_render import denoise

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method="env://", rank=rank, world_size=world)
    for name in names:
        case = CASES[name]
        ranks = make_ranks(rank, plan_for(world, case.guidance > 1), torch.device("cpu"))
        switch = experts(case)
        stream = io.StringIO()
        latents = denoise(ranks, spec(case, world), switch, job(case), torch.float32, None, Logger(stream))
        record = next(json.loads(line) for line in stream.getvalue().splitlines() if '"rank-denoised"' in line)
        torch.save({"latents": latents, "record": record, "experts": switch.used}, out / f"{name}-{world}-{rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
