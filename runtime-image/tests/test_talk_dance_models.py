"""SVI-Talk's audio adapter and SVI-Dance's pose encoder on diffusers' Wan transformer: keys, hooks, features."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import load_file, save_file  # noqa: E402

from longvideo_runtime.errors import BadInput  # noqa: E402
from longvideo_runtime.svi import audio_features, loudness  # noqa: E402
from longvideo_runtime.svi.dance import clip_pose, load_dance  # noqa: E402
from longvideo_runtime.svi.guidance import TalkGuidance  # noqa: E402
from longvideo_runtime.svi.multitalk import AudioConditioning, MultiTalk, load_multitalk  # noqa: E402
from longvideo_runtime.svi.pose_encoder import PoseConditioning, PoseEncoder  # noqa: E402
from longvideo_runtime.svi.talk import clip_tokens, load_talk  # noqa: E402
from longvideo_runtime.svi.tiny import AUDIO_CHANNELS, AUDIO_LAYERS, _transformer, multitalk_state  # noqa: E402

# ---------------------------------------------------------------------------------------------------------------
# Key names against SVI's own model table (docs/adr/0019): DiffSynth identifies a checkpoint by the md5 of its sorted
# keys with their shapes. SVI's diffsynth/configs/model_config.py lists 6bfcfb3b... for Wan2.1-I2V-14B and
# b6caaaa1... for that checkpoint plus multitalk.safetensors ("enable_multitalk": True).
WAN21_I2V_14B = "6bfcfb3b342cb286ce886889d519a77e"
WAN21_I2V_14B_WITH_MULTITALK = "b6caaaa1388107ec24d25592901ca489"


def diffsynth_hash(shapes: dict[str, tuple[int, ...]]) -> str:
    keys = [k for name, shape in shapes.items() for k in (name + ":" + "_".join(map(str, shape)), name)]
    return hashlib.md5(",".join(sorted(keys)).encode()).hexdigest()


def wan21_i2v_14b_keys(dim: int = 5120, ffn: int = 13824, layers: int = 40) -> dict[str, tuple[int, ...]]:
    """The original (DiffSynth-named) Wan2.1-I2V-14B checkpoint's keys and shapes."""
    keys: dict[str, tuple[int, ...]] = {}

    def linear(name: str, out: int, inp: int) -> None:
        keys[f"{name}.weight"], keys[f"{name}.bias"] = (out, inp), (out,)

    def norm(name: str, n: int, bias: bool = True) -> None:
        keys[f"{name}.weight"] = (n,)
        if bias:
            keys[f"{name}.bias"] = (n,)

    keys["patch_embedding.weight"], keys["patch_embedding.bias"] = (dim, 36, 1, 2, 2), (dim,)
    linear("text_embedding.0", dim, 4096)
    linear("text_embedding.2", dim, dim)
    linear("time_embedding.0", dim, 256)
    linear("time_embedding.2", dim, dim)
    linear("time_projection.1", 6 * dim, dim)
    linear("head.head", 64, dim)
    keys["head.modulation"] = (1, 2, dim)
    norm("img_emb.proj.0", 1280)
    linear("img_emb.proj.1", 1280, 1280)
    linear("img_emb.proj.3", dim, 1280)
    norm("img_emb.proj.4", dim)
    for i in range(layers):
        for attn in ("self_attn", "cross_attn"):
            for m in "qkvo":
                linear(f"blocks.{i}.{attn}.{m}", dim, dim)
            norm(f"blocks.{i}.{attn}.norm_q", dim, bias=False)
            norm(f"blocks.{i}.{attn}.norm_k", dim, bias=False)
        linear(f"blocks.{i}.cross_attn.k_img", dim, dim)
        linear(f"blocks.{i}.cross_attn.v_img", dim, dim)
        norm(f"blocks.{i}.cross_attn.norm_k_img", dim, bias=False)
        norm(f"blocks.{i}.norm3", dim)
        linear(f"blocks.{i}.ffn.0", ffn, dim)
        linear(f"blocks.{i}.ffn.2", dim, ffn)
        keys[f"blocks.{i}.modulation"] = (1, 6, dim)
    return keys


def test_multitalk_module_has_exactly_the_keys_of_svis_multitalk_checkpoint() -> None:
    base = wan21_i2v_14b_keys()
    assert diffsynth_hash(base) == WAN21_I2V_14B, "the base key list is the checkpoint SVI's table names"
    with torch.device("meta"):
        multitalk = MultiTalk(blocks=40, dim=5120, heads=40, layers=12, channels=768)
    ours = {k: tuple(v.shape) for k, v in multitalk.state_dict().items()}
    assert len(ours) == 10 + 40 * 8
    assert diffsynth_hash({**base, **ours}) == WAN21_I2V_14B_WITH_MULTITALK


def test_pose_encoder_has_svi_dances_keys_and_shapes() -> None:
    with torch.device("meta"):
        encoder = PoseEncoder(5120)
    shapes = {k: tuple(v.shape) for k, v in encoder.state_dict().items()}
    expected: dict[str, tuple[int, ...]] = {}
    for index, (out, inp, kernel) in enumerate(
        [(16, 3, (3, 3, 3))] + [(16, 16, (3, 3, 3))] * 5 + [(5120, 16, (1, 2, 2))]
    ):
        expected[f"{2 * index}.weight"], expected[f"{2 * index}.bias"] = (out, inp, *kernel), (out,)
    assert shapes == expected
    strides = [m.stride for m in encoder if isinstance(m, torch.nn.Conv3d)]
    assert strides == [(1, 1, 1)] * 3 + [(1, 2, 2), (2, 2, 2), (2, 2, 2), (1, 2, 2)]


# ---------------------------------------------------------------------------------------------------------------
# Loading: every key used, none missing.


@pytest.fixture
def transformer() -> torch.nn.Module:
    torch.manual_seed(0)
    return _transformer(image_dim=4).eval()


def write(path: Path, state: dict[str, torch.Tensor]) -> Path:
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def test_multitalk_loads_with_every_key_used(tmp_path: Path, transformer: torch.nn.Module) -> None:
    state = multitalk_state()
    module = load_multitalk(write(tmp_path / "m.safetensors", state), transformer, AUDIO_LAYERS, AUDIO_CHANNELS)
    for name, value in module.state_dict().items():
        assert torch.equal(value, state[name]), name


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ("drop", "blocks.1.audio_cross_attn.kv_linear.bias"),
        ("extra", "blocks.2.norm_x.weight"),
        ("extra", "blocks.0.audio_cross_attn.q_norm.weight"),
        ("reshape", "blocks.0.audio_cross_attn.proj.weight"),
    ],
)
def test_multitalk_refuses_a_missing_extra_or_misshapen_key_naming_it(
    tmp_path: Path, transformer: torch.nn.Module, change: str, named: str
) -> None:
    state = multitalk_state()
    if change == "drop":
        del state[named]
    elif change == "extra":
        state[named] = torch.ones(24)
    else:
        state[named] = torch.ones(24, 25)
    path = write(tmp_path / "multitalk.safetensors", state)
    with pytest.raises(BadInput, match=named.replace(".", r"\.")) as info:
        load_multitalk(path, transformer, AUDIO_LAYERS, AUDIO_CHANNELS)
    assert "multitalk.safetensors" in str(info.value)


def test_multitalk_takes_a_prefixed_file_but_not_one_naming_a_tensor_twice(
    tmp_path: Path, transformer: torch.nn.Module
) -> None:
    state = multitalk_state()
    prefixed = {f"diffusion_model.{k}": v for k, v in state.items()}
    load_multitalk(write(tmp_path / "p.safetensors", prefixed), transformer, AUDIO_LAYERS, AUDIO_CHANNELS)
    both = {**state, "diffusion_model.audio_proj.norm.bias": state["audio_proj.norm.bias"].clone()}
    with pytest.raises(BadInput, match=r"diffusion_model\.audio_proj\.norm\.bias"):
        load_multitalk(write(tmp_path / "b.safetensors", both), transformer, AUDIO_LAYERS, AUDIO_CHANNELS)


def test_multitalk_refuses_a_projection_that_does_not_fit_the_audio_encoder(
    tmp_path: Path, transformer: torch.nn.Module
) -> None:
    path = write(tmp_path / "m.safetensors", multitalk_state())
    with pytest.raises(BadInput, match="3 layers of 8 channels"):
        load_multitalk(path, transformer, 3, AUDIO_CHANNELS)


# ---------------------------------------------------------------------------------------------------------------
# The hooks change the output only when audio or pose is given.


def forward(model: torch.nn.Module, seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 36, 3, 8, 8, generator=generator)
    text = torch.randn(1, 7, 32, generator=generator)
    image = torch.randn(1, 5, 4, generator=generator)
    with torch.no_grad():
        out: torch.Tensor = model(
            hidden_states=x,
            timestep=torch.tensor([500.0]),
            encoder_hidden_states=text,
            encoder_hidden_states_image=image,
            return_dict=False,
        )[0]
    return out


def tokens(seed: int, frames: int = 3) -> torch.Tensor:
    return torch.randn(1, frames, 4, 8, generator=torch.Generator().manual_seed(seed))


def test_audio_attention_changes_the_output_only_while_audio_is_given(transformer: torch.nn.Module) -> None:
    plain = forward(transformer)
    audio = AudioConditioning(transformer, MultiTalk(2, 24, 2, AUDIO_LAYERS, AUDIO_CHANNELS, 16, 4, 8).eval())
    assert torch.equal(forward(transformer), plain), "attached but inert: bit-identical"
    with audio.active(tokens(2)):
        heard = forward(transformer)
    assert audio.calls == 2, "one audio attention per block"
    assert not torch.allclose(heard, plain, atol=1e-4)
    with audio.active(tokens(3)):
        other = forward(transformer)
    assert not torch.allclose(heard, other, atol=1e-4), "different audio, different output"
    assert torch.equal(forward(transformer), plain), "inert again after the pass"
    audio.remove()
    assert torch.equal(forward(transformer), plain)


def test_audio_attention_sits_after_the_cross_attention_on_the_residual(transformer: torch.nn.Module) -> None:
    """SVI: x += cross_attn(norm3(x)); x += audio(norm_x(x), tokens); then the FFN. Block 0 recomputed by hand."""
    multitalk = MultiTalk(2, 24, 2, AUDIO_LAYERS, AUDIO_CHANNELS, 16, 4, 8).eval()
    audio = AudioConditioning(transformer, multitalk)
    block = transformer.blocks[0]
    seen: dict[str, object] = {}
    block.register_forward_pre_hook(lambda _m, args: seen.setdefault("args", args))
    block.register_forward_hook(lambda _m, _a, out: seen.setdefault("out", out))
    given = tokens(5)
    with audio.active(given):
        forward(transformer)
    x, text, temb, rotary = seen["args"]  # type: ignore[misc]
    with torch.no_grad():
        shift, scale, gate, c_shift, c_scale, c_gate = (block.scale_shift_table + temb.float()).chunk(6, dim=1)
        h = x.float() + block.attn1((block.norm1(x.float()) * (1 + scale) + shift), None, None, rotary) * gate
        h = h + block.attn2(block.norm2(h), text, None, None)
        h = h + multitalk.blocks[0](h, given)
        h = h.float() + block.ffn(block.norm3(h.float()) * (1 + c_scale) + c_shift).float() * c_gate
    torch.testing.assert_close(seen["out"], h, rtol=0, atol=1e-5)


def test_zero_initialised_adapters_leave_the_output_unchanged(transformer: torch.nn.Module) -> None:
    plain = forward(transformer)
    multitalk = MultiTalk(2, 24, 2, AUDIO_LAYERS, AUDIO_CHANNELS, 16, 4, 8).eval()
    for block in multitalk.blocks:
        torch.nn.init.zeros_(block.audio_cross_attn.proj.weight)
        torch.nn.init.zeros_(block.audio_cross_attn.proj.bias)
    audio = AudioConditioning(transformer, multitalk)
    pose = PoseConditioning(transformer)
    with audio.active(tokens(2)), pose.active(torch.zeros(1, 24, 3, 4, 4)):
        out = forward(transformer)
    assert audio.calls == 2 and pose.calls == 1
    assert torch.equal(out, plain)


def test_pose_features_are_added_to_the_patch_embeddings(transformer: torch.nn.Module) -> None:
    plain = forward(transformer)
    pose = PoseConditioning(transformer)
    features = torch.randn(1, 24, 3, 4, 4, generator=torch.Generator().manual_seed(9))
    seen: list[torch.Tensor] = []
    transformer.patch_embedding.register_forward_hook(lambda _m, _a, out: seen.append(out))
    with pose.active(features):
        posed = forward(transformer)
    assert not torch.allclose(posed, plain, atol=1e-4)
    bare = transformer.patch_embedding(
        torch.randn(1, 36, 3, 8, 8, generator=torch.Generator().manual_seed(1)).to(seen[0].dtype)
    )
    torch.testing.assert_close(seen[0], bare + features, rtol=0, atol=1e-6)
    assert torch.equal(forward(transformer), plain)


# ---------------------------------------------------------------------------------------------------------------
# Guidance: SVI-Talk's three passes.


class Recorder:
    """A stand-in transformer: its prediction encodes which text and audio it was given."""

    def __init__(self, audio: AudioConditioning) -> None:
        self.audio = audio
        self.passes: list[tuple[float, float]] = []

    def __call__(self, *, encoder_hidden_states: torch.Tensor, **_: object) -> tuple[torch.Tensor]:
        text = float(encoder_hidden_states.flatten()[0])
        heard = float(self.audio.tokens.flatten()[0]) if self.audio.tokens is not None else -1.0
        self.passes.append((text, heard))
        return (torch.full((1, 1), 10 * text + heard),)


def test_talk_guidance_combines_three_passes_as_svi(transformer: torch.nn.Module) -> None:
    audio = AudioConditioning(transformer, MultiTalk(2, 24, 2, AUDIO_LAYERS, AUDIO_CHANNELS, 16, 4, 8))
    model = Recorder(audio)
    text, negative = torch.full((1, 1), 1.0), torch.full((1, 1), 0.0)
    heard, silent = torch.full((1, 1, 1, 1), 3.0), torch.full((1, 1, 1, 1), 0.5)
    guidance = TalkGuidance(text, negative, None, 2.0, 5.0, audio, heard, silent)
    pred = guidance.predict(model, torch.zeros(1), torch.zeros(1))
    assert model.passes == [(1.0, 3.0), (0.0, 0.5), (0.0, 3.0)]
    cond, uncond, drop_text = 13.0, 0.5, 3.0
    assert float(pred) == pytest.approx(uncond + 2.0 * (cond - drop_text) + 5.0 * (drop_text - uncond))
    assert audio.tokens is None
    model.passes.clear()
    assert float(TalkGuidance(text, negative, None, 1.0, 1.0, audio, heard, silent).predict(model, None, None)) == 13
    assert model.passes == [(1.0, 3.0)], "both scales 1: the conditional pass alone"


# ---------------------------------------------------------------------------------------------------------------
# Audio features: windows, grouping, wav2vec2 on the tiny model.


def test_windows_clamp_to_the_track_as_svi() -> None:
    idx = audio_features.window_indices(start=-1, frames=5, available=6)
    assert idx.tolist() == [[0, 0, 0, 0, 1], [0, 0, 0, 1, 2], [0, 0, 1, 2, 3], [0, 1, 2, 3, 4], [1, 2, 3, 4, 5]]
    assert audio_features.window_indices(4, 3, 6).tolist()[-1] == [4, 5, 5, 5, 5], "past the end: the last repeats"


def test_latent_grouping_keeps_svis_eight_entries_per_latent_frame() -> None:
    features = torch.arange(30.0)[:, None, None].expand(30, 2, 3)  # frame number as the value
    window = audio_features.window_features(features, 10, 9)  # frames 10..18, 2 latent frames after the first
    first, later = audio_features.latent_groups(window)
    assert first.shape == (1, 1, 5, 2, 3) and later.shape == (1, 2, 8, 2, 3)
    assert first[0, 0, :, 0, 0].tolist() == [8, 9, 10, 11, 12]
    # Latent frame 1 = frames 11..14: 11's window up to its centre, 12 and 13's centres, 14's window from its centre.
    assert later[0, 0, :, 0, 0].tolist() == [9, 10, 11, 12, 13, 14, 15, 16]
    assert later[0, 1, :, 0, 0].tolist() == [13, 14, 15, 16, 17, 18, 19, 20]


def test_wav2vec2_features_per_video_frame_on_the_tiny_model(tiny_models: dict[str, Path]) -> None:
    encoder = audio_features.load_audio_encoder(tiny_models["wav2vec"], torch.device("cpu"))
    track = np.sin(np.arange(16000 * 2) / 16000 * 2 * np.pi * 220).astype(np.float32)
    features = audio_features.frame_features(encoder, track, fps=25)
    assert features.shape == (50, AUDIO_LAYERS, AUDIO_CHANNELS)
    assert audio_features.frame_features(encoder, track[:16000], fps=25).shape[0] == 25
    with pytest.raises(BadInput, match="less than one video frame"):
        audio_features.frame_features(encoder, track[:100], fps=25)


def test_talk_models_from_the_model_cache_give_tokens_and_a_record(
    tiny_models: dict[str, Path], transformer: torch.nn.Module
) -> None:
    models = load_talk(transformer, tiny_models["wav2vec"].parent, torch.device("cpu"))
    track = (0.3 * np.sin(np.arange(16000 * 3) / 16000 * 2 * np.pi * 300)).astype(np.float32)
    result = clip_tokens(models, track, start=12, frames=13, fps=25)
    assert result.tokens.shape == (1, 4, 4, 8) and result.silent.shape == (1, 4, 4, 8)
    assert not torch.allclose(result.tokens, result.silent)
    assert result.record["fps"] == 25 and result.record["trackSamples"] == len(track)
    assert result.record["trackFrames"] == 75 and result.record["featureIndices"] == [10, 26]
    assert result.record["loudnessLufs"] == pytest.approx(loudness.integrated_loudness(track, 16000), abs=1e-3)
    again = clip_tokens(models, track, start=12, frames=13, fps=25)
    assert torch.equal(again.tokens, result.tokens) and again.record == result.record


# ---------------------------------------------------------------------------------------------------------------
# Loudness (BS.1770-4 as pyloudnorm measures it).


def sine(amplitude: float, seconds: float = 3.0, hz: float = 997.0) -> np.ndarray:
    return (amplitude * np.sin(np.arange(int(16000 * seconds)) / 16000 * 2 * np.pi * hz)).astype(np.float32)


def test_loudness_of_a_full_scale_sine_and_normalisation_to_minus_23() -> None:
    # BS.1770's calibration: a 0 dBFS sine near 1 kHz in one channel reads -3.01 LUFS.
    assert loudness.integrated_loudness(sine(1.0), 16000) == pytest.approx(-3.01, abs=0.1)
    quieter = loudness.integrated_loudness(sine(0.1), 16000)
    assert quieter == pytest.approx(loudness.integrated_loudness(sine(1.0), 16000) - 20, abs=1e-6)
    scaled, measured = loudness.normalized(sine(0.1), 16000)
    assert measured == pytest.approx(quieter)
    assert loudness.integrated_loudness(scaled, 16000) == pytest.approx(-23.0, abs=1e-4)


def test_silence_and_short_tracks_are_left_as_they_are() -> None:
    silent = np.zeros(16000, dtype=np.float32)
    out, measured = loudness.normalized(silent, 16000)
    assert out is silent and measured == -np.inf
    short = sine(0.5, seconds=0.2)
    assert loudness.normalized(short, 16000)[0] is short


def test_k_weighting_equals_the_recursive_biquads() -> None:
    x = np.random.default_rng(0).standard_normal(3000)
    out = loudness.k_weighted(x, 16000)
    y = x.copy()
    for b, a in (
        loudness._biquad("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0, 16000),
        loudness._biquad("high_pass", 0.0, 0.5, 38.0, 16000),
    ):
        z = np.zeros_like(y)
        for n in range(len(y)):
            z[n] = (
                b[0] * y[n]
                + (b[1] * y[n - 1] if n > 0 else 0)
                + (b[2] * y[n - 2] if n > 1 else 0)
                - (a[1] * z[n - 1] if n > 0 else 0)
                - (a[2] * z[n - 2] if n > 1 else 0)
            )
        y = z
    np.testing.assert_allclose(out, y, rtol=0, atol=1e-9)


# ---------------------------------------------------------------------------------------------------------------
# svi-dance.safetensors: LoRA plus pose encoder, every key used.


def test_dance_file_splits_into_lora_and_pose_encoder(
    tiny_models: dict[str, Path], transformer: torch.nn.Module
) -> None:
    before = {n: p.clone() for n, p in transformer.named_parameters()}
    models = load_dance(transformer, tiny_models["svi-dance"], 1.0, torch.device("cpu"))
    assert models.merged == 2 * 10
    changed = {n for n, p in transformer.named_parameters() if not torch.equal(p, before[n])}
    assert "blocks.0.attn1.to_q.weight" in changed and "patch_embedding.weight" not in changed
    state = load_file(str(tiny_models["svi-dance"]))
    assert torch.equal(models.encoder.state_dict()["12.weight"], state["dwpose_embedding.12.weight"])
    frames = np.random.default_rng(1).integers(0, 255, (13, 48, 64, 3), dtype=np.uint8)
    result = clip_pose(models, frames)
    assert result.features.shape == (1, 24, 4, 3, 4)
    assert result.record == {
        "width": 64,
        "height": 48,
        "sha256": hashlib.sha256(frames.tobytes()).hexdigest(),
        "featureShape": [1, 24, 4, 3, 4],
    }


@pytest.mark.parametrize(
    ("change", "named"),
    [("drop", "dwpose_embedding.4.bias"), ("extra", "dwpose_embedding.14.weight"), ("extra", "randomref.0.weight")],
)
def test_dance_file_refuses_a_missing_or_extra_key_naming_it(
    tmp_path: Path, tiny_models: dict[str, Path], transformer: torch.nn.Module, change: str, named: str
) -> None:
    state = load_file(str(tiny_models["svi-dance"]))
    if change == "drop":
        del state[named]
    else:
        state[named] = torch.ones(3)
    path = write(tmp_path / "svi-dance.safetensors", state)
    with pytest.raises(BadInput, match=named.replace(".", r"\.")):
        load_dance(transformer, path, 1.0, torch.device("cpu"))
