"""Text classifier-free guidance with its two passes on two halves of the ranks (svi/parallel_plan.py).

Each rank runs one pass (its half's Ulysses group splits the tokens), then swaps its prediction with its partner in
the other half, so both hold the conditional and the unconditional prediction and combine them as TextGuidance
does, in the same order and precision: every rank ends the step with the same latents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from longvideo_runtime.svi.guidance import run_pass


@dataclass
class SplitTextGuidance:
    text: torch.Tensor
    negative_text: torch.Tensor
    image: torch.Tensor | None
    scale: float
    #: 0: this rank runs the conditional pass, 1: the unconditional one.
    branch: int
    #: This rank and its partner, the conditional pass's rank first.
    pair: Any

    def predict(self, model: Any, x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        prompt = self.text if self.branch == 0 else self.negative_text
        mine = run_pass(model, x, timestep, prompt, self.image).contiguous()
        both = [torch.empty_like(mine), torch.empty_like(mine)]
        dist.all_gather(both, mine, group=self.pair)
        cond, uncond = both
        return uncond + self.scale * (cond - uncond)
