"""Tiny random-weight Wan checkpoints in diffusers' layout, built from configs (tests and benchmarks; no download).

`python -m longvideo_runtime.svi.tiny DIR` writes DIR/wan21-i2v (Wan 2.1 image-to-video: CLIP image encoder, one
expert) and DIR/wan22-i2v (Wan 2.2: two experts, no image encoder), each with a word-level tokenizer and a
2-layer UMT5 text encoder, plus SVI-style LoRA files under DIR/svi/ (svi-talk: a LoRA; svi-dance: a LoRA and the
pose encoder), a 2-layer wav2vec2 (chinese-wav2vec2-base's layout) and MultiTalk's audio adapter under its real key
names (MeiGen-MultiTalk/multitalk.safetensors).

`python -m longvideo_runtime.svi.tiny --layout model-cache DIR` writes the same files under the names the worker
uses when the operator sets no LV_MODEL or LV_LORA (variants.PROFILES): DIR is then a model cache to mount at
LV_MODELS_DIR (/models in a render pod) for any variant, e.g. a PVC named by spec.storage.models.claimName.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from longvideo_runtime.variants import MULTITALK_FILE, PROFILES, WAV2VEC_DIR

#: Where each tiny file goes, relative to the output directory: the tests' short names, or the model cache's.
#: An extra LoRA a film or scene may name (spec.render.loras, a scene's loras), under the cache as users keep theirs.
STYLE_LORA = "loras/tiny-style.safetensors"

LAYOUTS: dict[str, dict[str, str]] = {
    "tests": {
        "wan21": "wan21-i2v",
        "wan22": "wan22-i2v",
        "svi-shot": "svi/svi-shot.safetensors",
        "svi-film": "svi/svi-film.safetensors",
        "svi-pro-high": "svi/svi-pro-high.safetensors",
        "svi-pro-low": "svi/svi-pro-low.safetensors",
        "svi-talk": "svi/svi-talk.safetensors",
        "svi-dance": "svi/svi-dance.safetensors",
        "wav2vec": WAV2VEC_DIR,
        "multitalk": MULTITALK_FILE,
        "style": STYLE_LORA,
    },
    "model-cache": {
        "wan21": PROFILES["film"].model,
        "wan22": PROFILES["pro"].model,
        "svi-shot": PROFILES["shot"].lora,
        "svi-film": PROFILES["film"].lora,
        "svi-pro-high": PROFILES["pro"].lora,
        "svi-pro-low": PROFILES["pro"].lora_2,
        "svi-talk": PROFILES["talk"].lora,
        "svi-dance": PROFILES["dance"].lora,
        "wav2vec": WAV2VEC_DIR,
        "multitalk": MULTITALK_FILE,
        "style": STYLE_LORA,
    },
}

TEXT_DIM = 32
#: The tiny transformer: 2 blocks, 2 heads of 12 (width 24); the tiny wav2vec2: 2 layers of 8 channels.
TINY_BLOCKS, TINY_HEADS, TINY_DIM = 2, 2, 24
AUDIO_LAYERS, AUDIO_CHANNELS = 2, 8
_VOCABULARY = (
    "a the of and in on at with to from over under sea lighthouse waves gulls sky night dusk dawn boat city street "
    "rain sun forest cat dog runs walks flies camera slowly light dark red blue"
)
WORDS = tuple(_VOCABULARY.split())


def _tokenizer(target: Path) -> None:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )
    fast.save_pretrained(target)


def _text_encoder() -> torch.nn.Module:
    from transformers import UMT5Config, UMT5EncoderModel

    config = UMT5Config(
        vocab_size=len(WORDS) + 3,
        d_model=TEXT_DIM,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        pad_token_id=0,
        eos_token_id=1,
    )
    model: torch.nn.Module = UMT5EncoderModel(config)
    return model


def _transformer(image_dim: int | None) -> torch.nn.Module:
    return transformer(image_dim, TINY_HEADS)


def transformer(image_dim: int | None, heads: int) -> torch.nn.Module:
    """The tiny Wan transformer with `heads` heads of 12 (the checkpoints' have TINY_HEADS; 4 lets 4 ranks split
    attention, tests/test_sequence_parallel.py)."""
    from diffusers import WanTransformer3DModel

    model: torch.nn.Module = WanTransformer3DModel(
        patch_size=(1, 2, 2),
        num_attention_heads=heads,
        attention_head_dim=TINY_DIM // TINY_HEADS,
        in_channels=36,
        out_channels=16,
        text_dim=TEXT_DIM,
        freq_dim=256,
        ffn_dim=32,
        num_layers=2,
        cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",
        # Wan's own value: rotary positions for up to 1024 latent patches per axis, so any frame size the API allows
        # works (the table is computed at load, not stored; a shorter one gives the same values for small sizes).
        rope_max_seq_len=1024,
        image_dim=image_dim,
    )
    return model


def _vae() -> torch.nn.Module:
    from diffusers import AutoencoderKLWan

    model: torch.nn.Module = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    return model


def build(directory: Path, seed: int = 0, layout: str = "tests") -> dict[str, Path]:
    """Writes both tiny checkpoints and the LoRA files under `directory`, named as LAYOUTS[layout] says.

    Returns their paths by short name (wan21, wan22, svi-shot, svi-film, svi-pro-high, svi-pro-low).
    """
    from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModel

    names = LAYOUTS[layout]
    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tok_dir:
        _tokenizer(Path(tok_dir))
        tokenizer = AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    scheduler = FlowMatchEulerDiscreteScheduler(shift=5.0)

    wan21 = directory / names["wan21"]
    image_encoder = CLIPVisionModel(
        CLIPVisionConfig(
            hidden_size=4,
            projection_dim=4,
            num_hidden_layers=2,
            num_attention_heads=2,
            image_size=32,
            intermediate_size=16,
            patch_size=1,
        )
    )
    WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(),
        vae=_vae(),
        scheduler=scheduler,
        image_processor=CLIPImageProcessor(crop_size=32, size=32),
        image_encoder=image_encoder,
        transformer=_transformer(image_dim=4),
    ).save_pretrained(wan21)

    wan22 = directory / names["wan22"]
    WanImageToVideoPipeline(
        tokenizer=tokenizer,
        text_encoder=_text_encoder(),
        vae=_vae(),
        scheduler=scheduler,
        image_processor=None,
        image_encoder=None,
        transformer=_transformer(None),
        transformer_2=_transformer(None),
        boundary_ratio=0.875,
    ).save_pretrained(wan22)

    paths = {"wan21": wan21, "wan22": wan22}
    for number, name in enumerate(("svi-shot", "svi-film", "svi-pro-high", "svi-pro-low")):
        path = directory / names[name]
        path.parent.mkdir(parents=True, exist_ok=True)
        save_svi_lora(path, layers=2, seed=number)
        paths[name] = path
    paths["svi-talk"] = _save(directory / names["svi-talk"], svi_lora_state(TINY_BLOCKS, seed=4, prefix="pipe.dit."))
    dance = {**svi_lora_state(TINY_BLOCKS, seed=5, prefix="pipe.dit."), **pose_encoder_state(seed=6)}
    paths["svi-dance"] = _save(directory / names["svi-dance"], dance)
    paths["wav2vec"] = save_wav2vec(directory / names["wav2vec"])
    paths["multitalk"] = _save(directory / names["multitalk"], multitalk_state(seed=7))
    paths["style"] = _save(directory / names["style"], style_lora_state(seed=8))
    return paths


def _save(path: Path, state: dict[str, torch.Tensor]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


def save_wav2vec(target: Path) -> Path:
    """A 2-layer wav2vec2 with chinese-wav2vec2-base's options (group-norm conv stack at 320x downsampling)."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    config = Wav2Vec2Config(
        vocab_size=8,
        hidden_size=AUDIO_CHANNELS,
        num_hidden_layers=AUDIO_LAYERS,
        num_attention_heads=2,
        intermediate_size=16,
        conv_dim=(8,) * 7,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        feat_extract_norm="group",
        do_stable_layer_norm=False,
    )
    Wav2Vec2Model(config).save_pretrained(target)
    Wav2Vec2FeatureExtractor(
        feature_size=1, sampling_rate=16000, padding_value=0.0, do_normalize=True, return_attention_mask=False
    ).save_pretrained(target)
    return target


def _randomised(module: torch.nn.Module, seed: int, spread: float = 0.2) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=generator) * spread for k, v in module.state_dict().items()}


def multitalk_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """multitalk.safetensors for the tiny transformer and wav2vec2: the real keys, small random values."""
    from longvideo_runtime.svi.multitalk import MultiTalk

    module = MultiTalk(
        TINY_BLOCKS, TINY_DIM, TINY_HEADS, AUDIO_LAYERS, AUDIO_CHANNELS, intermediate=16, tokens=4, token_channels=8
    )
    return _randomised(module, seed)


def pose_encoder_state(seed: int = 0, prefix: str = "") -> dict[str, torch.Tensor]:
    """The pose encoder's tensors as svi-dance.safetensors names them (`dwpose_embedding.<i>.*`), for the tiny DiT."""
    from longvideo_runtime.svi.pose_encoder import MARKER, PoseEncoder

    return {f"{prefix}{MARKER}{k}": v for k, v in _randomised(PoseEncoder(TINY_DIM, hidden=4), seed).items()}


def svi_lora_state(
    layers: int,
    rank: int = 2,
    seed: int = 0,
    dim: int = 24,
    ffn: int = 32,
    prefix: str = "",
    peft_default: bool = True,
) -> dict[str, torch.Tensor]:
    """A LoRA laid out as SVI's files are: peft keys on the DiffSynth modules SVI trains, sized for the tiny model.

    `prefix` ("", "diffusion_model.", "pipe.dit.") and `peft_default` (the `.default` adapter segment) give the
    variants SVI's loaders accept.
    """
    from longvideo_runtime.svi.lora import SVI_BLOCK_TARGETS

    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    shapes = {"ffn.0": (ffn, dim), "ffn.2": (dim, ffn)}
    adapter = ".default" if peft_default else ""
    for i in range(layers):
        for module in SVI_BLOCK_TARGETS:
            out_f, in_f = shapes.get(module, (dim, dim))
            base = f"{prefix}blocks.{i}.{module}"
            state[f"{base}.lora_A{adapter}.weight"] = torch.randn(rank, in_f, generator=generator) * 0.1
            state[f"{base}.lora_B{adapter}.weight"] = torch.randn(out_f, rank, generator=generator) * 0.1
    return state


def style_lora_state(seed: int = 8, rank: int = 4, alpha: float = 2.0) -> dict[str, torch.Tensor]:
    """A style LoRA in the kohya form community LoRAs use: `diffusion_model.` keys, lora_down / lora_up, an alpha.

    Larger values than SVI's tiny LoRAs, so merging it visibly changes a tiny clip.
    """
    peft = svi_lora_state(TINY_BLOCKS, rank=rank, seed=seed, prefix="diffusion_model.", peft_default=False)
    state: dict[str, torch.Tensor] = {}
    for key, tensor in peft.items():
        module, _, part = key.rpartition(".lora_")
        if part == "A.weight":
            state[f"{module}.lora_down.weight"] = tensor * 5
            state[f"{module}.alpha"] = torch.tensor(alpha)
        else:
            state[f"{module}.lora_up.weight"] = tensor * 5
    return state


def save_svi_lora(path: Path, layers: int, seed: int = 0) -> None:
    from safetensors.torch import save_file

    save_file(svi_lora_state(layers, seed=seed), str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument(
        "--layout",
        choices=sorted(LAYOUTS),
        default="tests",
        help="tests: short names (wan21-i2v, svi/svi-film.safetensors, ...); model-cache: the worker's defaults",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    args = parser.parse_args()
    for name, path in build(args.directory, seed=args.seed, layout=args.layout).items():
        print(f"{name}\t{path}")


if __name__ == "__main__":
    main()
