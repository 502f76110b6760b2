"""UniAnimate-DiT's pose encoder (`dwpose_embedding`), as SVI-Dance uses it, and where its output goes.

From SVI's dance pipeline (docs/adr/0019-svi-talk-and-dance-verified.md): seven Conv3d layers with SiLU between
them, 3 -> 16 -> 16 -> 16 -> 16 (stride 1,2,2) -> 16 (stride 2) -> 16 (stride 2) -> DiT width (kernel and stride
1,2,2), Sequential indices 0, 2, ..., 12. The skeleton frames [F, H, W, 3] in [0, 1], with the first frame repeated
three more times in front (F + 3 = 4 x latent frames), become [dim, T, H/16, W/16]: one vector per DiT patch token,
added to the patch embeddings before the first block, in every pass of the guidance (SVI's `cond_wo_pose`).

The weights ship inside svi-dance.safetensors beside the LoRA, as `dwpose_embedding.<i>.{weight,bias}` (SVI takes
whatever precedes `dwpose_embedding.` as a prefix); `split_pose_state` takes them out so that the rest is the LoRA.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput
from longvideo_runtime.svi.weights_file import listed, refuse_unmatched

MARKER = "dwpose_embedding."
HIDDEN = 16
#: Frames the encoder prepends (copies of the first): F + 3 frames halve twice to (F - 1) / 4 + 1 latent frames.
LEAD_FRAMES = 3


class PoseEncoder(nn.Sequential):
    def __init__(self, dim: int, hidden: int = HIDDEN) -> None:
        strides = [(1, 1, 1), (1, 1, 1), (1, 1, 1), (1, 2, 2), (2, 2, 2), (2, 2, 2)]
        layers: list[nn.Module] = []
        channels = 3
        for stride in strides:
            layers += [nn.Conv3d(channels, hidden, 3, stride=stride, padding=1), nn.SiLU()]
            channels = hidden
        layers.append(nn.Conv3d(hidden, dim, (1, 2, 2), stride=(1, 2, 2)))
        super().__init__(*layers)


def split_pose_state(
    state: dict[str, torch.Tensor], path: Path
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(the pose encoder's tensors by their Sequential names, every other tensor of the file)."""
    pose: dict[str, torch.Tensor] = {}
    source: dict[str, str] = {}
    rest: dict[str, torch.Tensor] = {}
    duplicates: list[str] = []
    for key, tensor in state.items():
        if MARKER not in key:
            rest[key] = tensor
            continue
        name = key.split(MARKER, 1)[1]
        if name in source:
            duplicates.append(f"{source[name]} / {key}")
        source[name] = key
        pose[name] = tensor
    if duplicates:
        raise BadInput(f"{path.name}: pose-encoder keys name one tensor twice: {listed(sorted(duplicates))}")
    return pose, rest


def load_pose_encoder(pose: dict[str, torch.Tensor], path: Path, dim: int, device: torch.device) -> PoseEncoder:
    """The encoder from its tensors: every key used, every parameter given, its output as wide as the DiT."""
    if "0.weight" not in pose:
        raise BadInput(f"{path.name} holds no pose encoder ({MARKER}0.weight): not an SVI-Dance file")
    encoder = PoseEncoder(dim, hidden=pose["0.weight"].shape[0])
    expected = encoder.state_dict()
    refuse_unmatched(path, {MARKER + k for k in pose}, {MARKER + k for k in expected}, "the pose encoder")
    for name, tensor in pose.items():
        if tensor.shape != expected[name].shape:
            raise BadInput(
                f"{path.name}: {MARKER}{name} has shape {tuple(tensor.shape)}, a pose encoder for a DiT of width "
                f"{dim} needs {tuple(expected[name].shape)}"
            )
    encoder.load_state_dict(pose, strict=True)
    return encoder.to(device, torch.float32).eval()


@torch.no_grad()
def encode_pose(encoder: PoseEncoder, frames_uint8: Array, device: torch.device) -> torch.Tensor:
    """uint8 [F, H, W, 3] skeleton frames -> [1, dim, (F-1)/4+1, H/16, W/16] float32."""
    video = torch.from_numpy(frames_uint8).to(device).permute(3, 0, 1, 2)[None].float() / 255.0
    video = torch.cat([video[:, :, :1].repeat(1, 1, LEAD_FRAMES, 1, 1), video], dim=2)
    features: torch.Tensor = encoder(video)
    return features


class PoseConditioning:
    """Adds pose features to the transformer's patch embeddings; inert unless features are set."""

    def __init__(self, transformer: Any) -> None:
        self.features: torch.Tensor | None = None
        self.calls = 0
        self._handle = transformer.patch_embedding.register_forward_hook(self._add)

    def _add(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
        if self.features is None:
            return None
        if self.features.shape[1:] != output.shape[1:]:
            raise ValueError(f"pose features {tuple(self.features.shape)} do not fit patches {tuple(output.shape)}")
        self.calls += 1
        return output + self.features.to(output.dtype)

    @contextmanager
    def active(self, features: torch.Tensor | None) -> Iterator[None]:
        self.features = features
        try:
            yield
        finally:
            self.features = None

    def remove(self) -> None:
        self._handle.remove()
