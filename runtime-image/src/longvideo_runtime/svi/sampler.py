"""Flow-matching sampling (Euler, shifted sigmas) with a guidance (guidance.py) and Wan 2.2's two experts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from longvideo_runtime.svi.guidance import Guidance

NUM_TRAIN_TIMESTEPS = 1000


@dataclass
class ExpertSwitch:
    """High-noise expert while t >= boundary, low-noise expert after; only the active one sits on the GPU."""

    high: Any
    low: Any | None
    boundary_ratio: float
    device: torch.device
    used: list[str] = field(default_factory=list)

    def pick(self, timestep: float) -> Any:
        if self.low is None or timestep >= self.boundary_ratio * NUM_TRAIN_TIMESTEPS:
            name, active, idle = "high", self.high, self.low
        else:
            name, active, idle = "low", self.low, self.high
        if self.device.type == "cuda" and (not self.used or self.used[-1] != name):
            if idle is not None:
                idle.to("cpu")
            active.to(self.device)
        self.used.append(name)
        return active


@torch.no_grad()
def sample(
    experts: ExpertSwitch,
    noise: torch.Tensor,
    condition: torch.Tensor,
    guidance: Guidance,
    steps: int,
    shift: float,
    dtype: torch.dtype,
    on_step: Callable[[int, float], None] | None = None,
) -> torch.Tensor:
    """Denoises `noise` [1, 16, T, h, w] given `condition` [1, 20, T, h, w] (mask + condition latent)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=NUM_TRAIN_TIMESTEPS, shift=shift)
    scheduler.set_timesteps(steps, device=noise.device)
    latents = noise.to(experts.device, torch.float32)
    condition = condition.to(experts.device, dtype)
    for i, t in enumerate(scheduler.timesteps):
        model = experts.pick(float(t))
        x = torch.cat([latents.to(dtype), condition], dim=1)
        timestep = t.expand(x.shape[0]).to(experts.device)
        pred = guidance.predict(model, x, timestep)
        latents = scheduler.step(pred, t, latents, return_dict=False)[0]
        if on_step is not None:
            on_step(i, float(t))
    return latents
