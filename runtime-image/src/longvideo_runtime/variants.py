"""Per-variant SVI facts (reference/svi-protocol.md), mirrored from the operator's src/api/variant-profiles.ts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Variant = Literal["shot", "film", "pro"]
Padding = Literal["reference", "zeros", "anchor"]
Protocol = Literal["pixel", "latent"]

VARIANTS: tuple[Variant, ...] = ("shot", "film", "pro")
PADDINGS: tuple[Padding, ...] = ("reference", "zeros", "anchor")

#: Decoded frames one latent frame stands for, after the first (Wan's VAE packs 4 frames per latent frame).
FRAMES_PER_LATENT = 4
#: Spatial downsampling of Wan's VAE.
VAE_SCALE = 8


@dataclass(frozen=True)
class VariantProfile:
    protocol: Protocol
    motion_frames: int
    padding: Padding
    trim: Literal["head", "tail"]
    #: Base model directory under the models cache (diffusers layout), and the SVI LoRA file(s) under it: `svi/` holds
    #: vita-video-gen/svi-model's tree as published (version-1.0/, version-2.0/); lora_2 is the low-noise expert's.
    model: str
    lora: str
    lora_2: str = ""


PROFILES: dict[Variant, VariantProfile] = {
    "shot": VariantProfile(
        "pixel", 1, "reference", "tail", "Wan2.1-I2V-14B-480P-Diffusers", "svi/version-1.0/svi-shot.safetensors"
    ),
    "film": VariantProfile(
        "pixel",
        5,
        "zeros",
        "tail",
        "Wan2.1-I2V-14B-480P-Diffusers",
        "svi/version-1.0/svi-film-opt-10212025.safetensors",
    ),
    "pro": VariantProfile(
        "latent",
        1,
        "anchor",
        "head",
        "Wan2.2-I2V-A14B-Diffusers",
        "svi/version-2.0/SVI_Wan2.2-I2V-A14B_high_noise_lora_v2.0_pro.safetensors",
        "svi/version-2.0/SVI_Wan2.2-I2V-A14B_low_noise_lora_v2.0_pro.safetensors",
    ),
}


def overlap_frames(profile: VariantProfile, motion_frames: int) -> int:
    """Decoded frames two consecutive clips share: k pixel frames, or the anchor frame plus 4 per motion latent."""
    return motion_frames if profile.protocol == "pixel" else 1 + FRAMES_PER_LATENT * motion_frames


def latent_frames(frames: int) -> int:
    return (frames - 1) // FRAMES_PER_LATENT + 1
