"""SVI-Dance's pose stage: svi-dance.safetensors split into its LoRA and its pose encoder, the clip's skeleton
frames encoded and added to the patch embeddings. The segment's result (`poseWindow`) records the window and the
sha256 of the uint8 frames fed to the encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from longvideo_runtime.arrays import Array
from longvideo_runtime.svi.lora import merge_lora_state
from longvideo_runtime.svi.pose_encoder import (
    PoseConditioning,
    PoseEncoder,
    encode_pose,
    load_pose_encoder,
    split_pose_state,
)
from longvideo_runtime.svi.talk import sha256_hex
from longvideo_runtime.svi.weights_file import read_state


@dataclass
class DanceModels:
    encoder: PoseEncoder
    pose: PoseConditioning
    #: Linear modules the file's LoRA merged into.
    merged: int


def load_dance(transformer: Any, path: Path, scale: float, device: torch.device) -> DanceModels:
    """Merges svi-dance's LoRA into `transformer` and hooks its pose encoder in (inert until used)."""
    pose_state, lora_state = split_pose_state(read_state(path, "SVI-Dance"), path)
    config = transformer.config
    encoder = load_pose_encoder(pose_state, path, config.num_attention_heads * config.attention_head_dim, device)
    merged = merge_lora_state(transformer, lora_state, path, scale)
    return DanceModels(encoder, PoseConditioning(transformer), merged)


@dataclass(frozen=True)
class PoseFeatures:
    features: torch.Tensor
    record: dict[str, Any]


def clip_pose(models: DanceModels, frames_uint8: Array) -> PoseFeatures:
    """Pose features of the clip's skeleton frames (uint8 [F, H, W, 3], already at the render size)."""
    features = encode_pose(models.encoder, frames_uint8, next(models.encoder.parameters()).device)
    record = {
        "width": int(frames_uint8.shape[2]),
        "height": int(frames_uint8.shape[1]),
        "sha256": sha256_hex(frames_uint8),
        "featureShape": list(features.shape),
    }
    return PoseFeatures(features, record)
