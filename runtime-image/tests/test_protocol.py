"""SVI condition layouts per variant, built without a model: mask, padding, anchor, motion counts, seeds."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from longvideo_runtime.svi import protocol  # noqa: E402


def test_mask_marks_only_the_first_frame_known_across_four_channels() -> None:
    mask = protocol.condition_mask(frames=13, height=48, width=64)
    assert tuple(mask.shape) == (1, 4, 4, 6, 8)
    assert torch.all(mask[:, :, 0] == 1)
    assert torch.all(mask[:, :, 1:] == 0)


def test_mask_for_several_known_frames_follows_wan_packing() -> None:
    mask = protocol.condition_mask(frames=13, height=16, width=16, known_frames=5)
    # Pixel frames 1-4 form latent frame 1: all four of its channels are known.
    assert torch.all(mask[:, :, :2] == 1) and torch.all(mask[:, :, 2:] == 0)


def test_pixel_condition_with_reference_padding() -> None:
    motion = torch.full((5, 3, 16, 16), 0.5)
    reference = torch.full((3, 16, 16), -0.25)
    video = protocol.pixel_condition_video(motion, reference, frames=13, padding="reference")
    assert tuple(video.shape) == (1, 3, 13, 16, 16)
    assert torch.all(video[:, :, :5] == 0.5) and torch.all(video[:, :, 5:] == -0.25)


def test_pixel_condition_with_zero_padding() -> None:
    motion = torch.full((1, 3, 16, 16), 0.5)
    video = protocol.pixel_condition_video(motion, None, frames=9, padding="zeros")
    assert torch.all(video[:, :, :1] == 0.5) and torch.all(video[:, :, 1:] == 0)
    with pytest.raises(ValueError, match="reference padding"):
        protocol.pixel_condition_video(motion, None, frames=9, padding="reference")


def test_pro_condition_is_anchor_then_motion_latents_then_zeros() -> None:
    anchor = torch.full((1, 16, 1, 6, 8), 2.0)
    motion = torch.full((1, 16, 1, 6, 8), -3.0)
    cond = protocol.latent_condition(anchor, motion, frames=13)
    assert tuple(cond.shape) == (1, 16, 4, 6, 8)
    assert torch.all(cond[:, :, 0] == 2.0) and torch.all(cond[:, :, 1] == -3.0) and torch.all(cond[:, :, 2:] == 0)
    first = protocol.latent_condition(anchor, None, frames=13)
    assert torch.all(first[:, :, 0] == 2.0) and torch.all(first[:, :, 1:] == 0)
    with pytest.raises(ValueError, match="fill all"):
        protocol.latent_condition(anchor, torch.zeros(1, 16, 3, 6, 8), frames=13)


def test_noise_is_seeded_and_differs_per_clip() -> None:
    shape = (1, 16, 4, 6, 8)
    assert torch.equal(protocol.initial_noise(42, shape), protocol.initial_noise(42, shape))
    assert not torch.equal(protocol.initial_noise(0, shape), protocol.initial_noise(42, shape))


def test_pixel_range_round_trip() -> None:
    frames = torch.randint(0, 256, (3, 4, 4, 3), dtype=torch.uint8)
    video = protocol.to_model_range(frames).permute(1, 0, 2, 3)[None]
    assert torch.equal(protocol.to_uint8(video), frames)
