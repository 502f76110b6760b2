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


def test_pro_condition_with_mask_matches_svi_pro_layout() -> None:
    """SVI 2.0 Pro: y = [mask (4) | anchor latent, last m latents of the previous clip, zero latents] (ADR 0005)."""
    frames, height, width = 81, 48, 64
    t, h, w = 21, height // 8, width // 8
    anchor = torch.randn(1, 16, 1, h, w)
    previous = torch.randn(1, 16, t, h, w)
    for m in (1, 2):
        cond = protocol.latent_condition(anchor, previous[:, :, -m:], frames)
        mask = protocol.condition_mask(frames, height, width)
        y = torch.cat([mask, cond], dim=1)
        assert tuple(y.shape) == (1, 20, t, h, w)
        # Only the anchor frame is marked known; the motion latents are not (SVI's mask is the plain I2V one).
        assert torch.all(y[:, :4, 0] == 1) and torch.all(y[:, :4, 1:] == 0)
        assert torch.equal(y[:, 4:, :1], anchor)
        assert torch.equal(y[:, 4:, 1 : 1 + m], previous[:, :, -m:])
        assert torch.all(y[:, 4:, 1 + m :] == 0), "zero latents, not the encoding of zero pixels"


def test_expert_switch_is_high_noise_at_and_above_the_boundary() -> None:
    from longvideo_runtime.svi.sampler import ExpertSwitch

    high, low = object(), object()
    switch = ExpertSwitch(high, low, boundary_ratio=0.875, device=torch.device("cpu"))
    assert switch.pick(1000.0) is high and switch.pick(875.0) is high
    assert switch.pick(874.99) is low and switch.pick(0.0) is low
    assert switch.used == ["high", "high", "low", "low"]
    single = ExpertSwitch(high, None, boundary_ratio=0.875, device=torch.device("cpu"))
    assert single.pick(1.0) is high


def test_fifty_steps_give_svi_pro_its_21_high_noise_steps() -> None:
    """At shift 5 and boundary 0.875, SVI's Wan schedule (sigmas linspace(1, 0, 51)[:-1], shifted) runs 21 of 50
    steps on the high-noise expert; the diffusers scheduler the sampler uses switches at the same step."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    steps, shift, boundary = 50, 5.0, 0.875 * 1000
    sigmas = torch.linspace(1, 0, steps + 1)[:-1]
    svi_timesteps = shift * sigmas / (1 + (shift - 1) * sigmas) * 1000
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
    scheduler.set_timesteps(steps)
    assert int((svi_timesteps >= boundary).sum()) == 21
    assert int((scheduler.timesteps >= boundary).sum()) == 21
