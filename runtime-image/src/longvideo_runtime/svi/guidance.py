"""Classifier-free guidance per sampler step: text CFG (shot, film, pro, dance) and SVI-Talk's three passes.

Talk (SVI's `_sample_with_multitalk`; docs/adr/0019-svi-talk-and-dance-verified.md) runs, per step,
`cond` (prompt, audio), `uncond` (negative prompt, silent audio: all-zero features through the projection) and
`drop_text` (negative prompt, audio), and combines
`uncond + text_scale * (cond - drop_text) + audio_scale * (drop_text - uncond)`; with both scales 1 it runs `cond`
alone. Dance's pose is added in every pass (SVI's `cond_wo_pose`), so it is not part of the guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import torch

from longvideo_runtime.svi.multitalk import AudioConditioning


class Guidance(Protocol):
    def predict(self, model: Any, x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor: ...


def run_pass(
    model: Any, x: torch.Tensor, timestep: torch.Tensor, text: torch.Tensor, image: torch.Tensor | None
) -> Any:
    """One transformer pass: the predicted flow in float32."""
    return model(
        hidden_states=x,
        timestep=timestep,
        encoder_hidden_states=text,
        encoder_hidden_states_image=image,
        return_dict=False,
    )[0].float()


@dataclass
class TextGuidance:
    text: torch.Tensor
    negative_text: torch.Tensor | None
    image: torch.Tensor | None
    scale: float

    def predict(self, model: Any, x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        pred: torch.Tensor = run_pass(model, x, timestep, self.text, self.image)
        if self.scale > 1.0 and self.negative_text is not None:
            uncond = run_pass(model, x, timestep, self.negative_text, self.image)
            pred = uncond + self.scale * (pred - uncond)
        return pred


@dataclass
class TalkGuidance:
    text: torch.Tensor
    negative_text: torch.Tensor
    image: torch.Tensor | None
    text_scale: float
    audio_scale: float
    audio: AudioConditioning
    tokens: torch.Tensor
    silent_tokens: torch.Tensor

    def predict(self, model: Any, x: torch.Tensor, timestep: torch.Tensor) -> torch.Tensor:
        with self.audio.active(self.tokens):
            cond: torch.Tensor = run_pass(model, x, timestep, self.text, self.image)
        if self.text_scale == 1.0 and self.audio_scale == 1.0:
            return cond
        with self.audio.active(self.silent_tokens):
            uncond: torch.Tensor = run_pass(model, x, timestep, self.negative_text, self.image)
        with self.audio.active(self.tokens):
            drop_text: torch.Tensor = run_pass(model, x, timestep, self.negative_text, self.image)
        return uncond + self.text_scale * (cond - drop_text) + self.audio_scale * (drop_text - uncond)
