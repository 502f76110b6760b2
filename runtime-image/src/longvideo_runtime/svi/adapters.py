"""SVI's weights on top of the base experts: the variant's LoRA(s) and the film's extra LoRAs (LV_LORAS) merged,
and Dance's pose encoder hooked in.

Every rank of a segment merges the same files into its own copy of the experts, so this is shared by the backend
(rank 0, or the only process) and the other ranks (svi/parallel_render.py).
"""

from __future__ import annotations

from typing import Any

import torch

from longvideo_runtime.errors import BadInput
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.svi.dance import DanceModels, load_dance
from longvideo_runtime.svi.lora import merge_extra_loras, merge_lora


def merge_adapters(
    spec: SegmentSpec, transformer: Any, transformer_2: Any | None, device: torch.device
) -> tuple[int, DanceModels | None]:
    """(Linear modules the LoRA files merged into, Dance's models for the dance variant)."""
    settings = spec.svi
    merged = 0
    dance: DanceModels | None = None
    if spec.variant == "dance":
        if settings.lora is None:
            raise BadInput("the dance variant needs svi-dance.safetensors (LoRA and pose encoder): LV_LORA is empty")
        dance = load_dance(transformer, settings.lora, settings.lora_scale, device)
        merged += dance.merged
    elif settings.lora is not None:
        merged += merge_lora(transformer, settings.lora, settings.lora_scale)
    if settings.lora_2 is not None:
        if transformer_2 is None:
            raise BadInput("LV_LORA_2 is for Wan 2.2's low-noise expert; this model has one expert")
        merged += merge_lora(transformer_2, settings.lora_2, settings.lora_scale)
    merged += merge_extra_loras(transformer, transformer_2, settings.extra_loras)
    return merged, dance
