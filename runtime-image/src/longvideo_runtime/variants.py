"""Per-variant SVI facts (reference/svi-protocol.md), from the runtime contract's variant profiles.

contract.json is generated from the operator's src/api/variant-profiles.ts, so the worker's defaults (motion
frames, padding, trim, guidance, weights) are the operator's by construction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import get_args

from longvideo_runtime.contract import CONTRACT, ContractError, MotionUnit, Padding, Trim, VariantFacts, VariantName

Variant = VariantName
#: How motion crosses from clip to clip: decoded pixel frames or latent frames (the contract's motionUnit).
Protocol = MotionUnit

VARIANTS: tuple[Variant, ...] = tuple(CONTRACT.variants)
#: Every padding LV_PADDING accepts; which fit a variant is checked against its protocol (anchor iff latent).
PADDINGS: tuple[Padding, ...] = get_args(Padding)

#: Decoded frames one latent frame stands for, after the first (Wan's VAE packs 4 frames per latent frame).
FRAMES_PER_LATENT = CONTRACT.frames_per_latent
#: Spatial downsampling of Wan's VAE.
VAE_SCALE = 8
#: Where the model cache holds talk's audio models, as their publishers lay them out (TencentGameMate/
#: chinese-wav2vec2-base; MeiGen-AI/MeiGen-MultiTalk), beside the Wan directories. Here, not in svi/talk.py, so that
#: the model cache check reads them without importing torch.
WAV2VEC_DIR = "chinese-wav2vec2-base"
MULTITALK_FILE = "MeiGen-MultiTalk/multitalk.safetensors"


@dataclass(frozen=True)
class VariantProfile:
    protocol: Protocol
    motion_frames: int
    padding: Padding
    trim: Trim
    #: Base model directory under the models cache (diffusers layout), and the SVI LoRA file(s) under it: `svi/` holds
    #: vita-video-gen/svi-model's tree as published (version-1.0/, version-2.0/); lora_2 is the low-noise expert's.
    model: str
    lora: str
    lora_2: str
    #: Text classifier-free guidance when LV_GUIDANCE_SCALE is unset.
    guidance_scale: float


def _profile(name: Variant, facts: VariantFacts) -> VariantProfile:
    if (facts.padding == "anchor") != (facts.motion_unit == "latent"):
        raise ContractError(f"variant {name}: padding {facts.padding!r} does not fit motion unit {facts.motion_unit!r}")
    return VariantProfile(
        protocol=facts.motion_unit,
        motion_frames=facts.motion_frames,
        padding=facts.padding,
        trim=facts.trim,
        model=facts.weights.model,
        lora=facts.weights.lora,
        lora_2=facts.weights.lora_2,
        guidance_scale=facts.guidance_scale,
    )


PROFILES: Mapping[Variant, VariantProfile] = MappingProxyType(
    {name: _profile(name, facts) for name, facts in CONTRACT.variants.items()}
)


def overlap_frames(profile: VariantProfile, motion_frames: int) -> int:
    """Decoded frames two consecutive clips share: k pixel frames, or the anchor frame plus 4 per motion latent."""
    return motion_frames if profile.protocol == "pixel" else 1 + FRAMES_PER_LATENT * motion_frames


def latent_frames(frames: int) -> int:
    return (frames - 1) // FRAMES_PER_LATENT + 1
