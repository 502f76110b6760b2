"""SVI's conditioning layouts, built directly (diffusers' prepare_latents hard-codes one SVI does not use).

The transformer's input is `cat([noise (16), mask (4), condition latent (16)])` along channels, all with
T = (frames - 1) / 4 + 1 latent frames at H/8 x W/8.

- Pixel protocol (SVI 1.0/2.0 on Wan 2.1: shot, film): the condition latent is the VAE encoding of a pixel video
  `[motion frames (k), padding (frames - k)]`, padding being the reference image repeated or zeros. Segment 0's
  motion frames are the reference image alone.
- Latent protocol (SVI 2.0 Pro on Wan 2.2): the condition latent is `[anchor latent (1), the previous clip's
  last m latents, zeros]` built in latent space: the previous clip is never decoded or re-encoded.
- Mask: as SVI, only the first pixel frame is marked known; it is spread over the 4 mask channels that the first
  latent frame stands for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from longvideo_runtime.variants import FRAMES_PER_LATENT, VAE_SCALE, latent_frames

if TYPE_CHECKING:
    import torch


def pixel_condition_video(
    motion: torch.Tensor,
    reference: torch.Tensor | None,
    frames: int,
    padding: Literal["reference", "zeros"],
) -> torch.Tensor:
    """[1, 3, frames, H, W] in [-1, 1]: the k motion frames [k, 3, H, W], then the padding."""
    import torch

    k = motion.shape[0]
    if k >= frames:
        raise ValueError(f"{k} motion frames leave nothing to generate in {frames}")
    rest = frames - k
    if padding == "reference":
        if reference is None:
            raise ValueError("reference padding needs the reference image")
        pad = reference[None].expand(rest, *reference.shape)
    else:
        pad = motion.new_zeros((rest, *motion.shape[1:]))
    video = torch.cat([motion, pad], dim=0)  # [frames, 3, H, W]
    return video.permute(1, 0, 2, 3)[None]


def condition_mask(frames: int, height: int, width: int, known_frames: int = 1) -> torch.Tensor:
    """[1, 4, T, H/8, W/8]: 1 where the pixel frame is given, spread the way Wan packs frames into latents."""
    import torch

    h, w = height // VAE_SCALE, width // VAE_SCALE
    mask = torch.zeros(1, frames, h, w)
    mask[:, :known_frames] = 1
    # The first latent frame stands for one pixel frame: repeat it so every latent frame has 4 mask channels.
    mask = torch.cat([mask[:, :1].repeat_interleave(FRAMES_PER_LATENT, dim=1), mask[:, 1:]], dim=1)
    mask = mask.view(1, latent_frames(frames), FRAMES_PER_LATENT, h, w)
    return mask.transpose(1, 2).contiguous()


def latent_condition(anchor: torch.Tensor, motion: torch.Tensor | None, frames: int) -> torch.Tensor:
    """[1, 16, T, h, w] = [anchor (1), motion latents (m, or none for a chain's first segment), zeros]."""
    import torch

    t = latent_frames(frames)
    parts = [anchor] if motion is None else [anchor, motion]
    used = sum(p.shape[2] for p in parts)
    if used >= t:
        raise ValueError(f"anchor and {used - 1} motion latents fill all {t} latent frames")
    parts.append(anchor.new_zeros((*anchor.shape[:2], t - used, *anchor.shape[3:])))
    return torch.cat(parts, dim=2)


def initial_noise(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    """Float32 noise from a CPU generator: the same seed gives the same noise on any device."""
    import torch

    generator = torch.Generator(device="cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, dtype=torch.float32)


def to_model_range(frames_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] -> float32 [N, 3, H, W] in [-1, 1]."""
    return frames_uint8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(video: torch.Tensor) -> torch.Tensor:
    """Decoded [1, 3, N, H, W] in [-1, 1] -> uint8 [N, H, W, 3]."""
    import torch

    return ((video[0].float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 3, 0).contiguous()
