"""The model cache check on a cache of the real models' size: every file the variants read, with the 14B models'
configs and their full lists of tensors (shapes from diffusers' and transformers' own modules built on the meta
device, bf16, sharded as the published checkpoints are), written as sparse files (a header, then a hole of the
data's size), so nothing of the tens of GB is on disk. Times `check-models` per variant in a fresh process, as the
probe's pod runs it (imports included), and the check alone.

Usage: python bench/model_cache_check_full_size.py   (run-bench.sh sets up the venv and PYTHONPATH)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from longvideo_runtime.model_cache_check import (
    check_model_cache,
    multitalk_shapes,
    pose_encoder_shapes,
    transformer_linears,
)
from longvideo_runtime.svi.lora import SVI_BLOCK_TARGETS, diffusers_module
from longvideo_runtime.variants import MULTITALK_FILE, PROFILES, VARIANTS, WAV2VEC_DIR

SRC = Path(__file__).resolve().parents[1] / "src"
SHARD_BYTES = 5 * 1024**3
#: Sizes of the published configs (Wan2.1-I2V-14B-480P-Diffusers, Wan2.2-I2V-A14B-Diffusers, umt5-xxl, CLIP ViT-H/14,
#: wav2vec2-base); only the sizes matter here.
TRANSFORMER_21 = {
    "added_kv_proj_dim": 5120,
    "attention_head_dim": 128,
    "cross_attn_norm": True,
    "eps": 1e-06,
    "ffn_dim": 13824,
    "freq_dim": 256,
    "image_dim": 1280,
    "in_channels": 36,
    "num_attention_heads": 40,
    "num_layers": 40,
    "out_channels": 16,
    "patch_size": [1, 2, 2],
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 1024,
    "text_dim": 4096,
}
TRANSFORMER_22 = {**TRANSFORMER_21, "added_kv_proj_dim": None, "image_dim": None}
UMT5 = {
    "d_model": 4096,
    "d_ff": 10240,
    "d_kv": 64,
    "num_heads": 64,
    "num_layers": 24,
    "vocab_size": 256384,
    "relative_attention_num_buckets": 32,
    "feed_forward_proj": "gated-gelu",
}
VAE = {"base_dim": 96, "z_dim": 16, "dim_mult": [1, 2, 4, 4], "num_res_blocks": 2}
CLIP = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "projection_dim": 1024,
}


def write_sparse(path: Path, shapes: Mapping[str, tuple[int, ...]], item: int = 2, dtype: str = "BF16") -> int:
    """A safetensors file whose header lists `shapes` and whose data is a hole; returns its size in bytes."""
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name in sorted(shapes):
        count = 1
        for d in shapes[name]:
            count *= d
        header[name] = {"dtype": dtype, "shape": list(shapes[name]), "data_offsets": [offset, offset + count * item]}
        offset += count * item
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(len(encoded).to_bytes(8, "little") + encoded)
        f.truncate(8 + len(encoded) + offset)
    return 8 + len(encoded) + offset


def write_weights(
    directory: Path, stem: str, shapes: Mapping[str, tuple[int, ...]], config: Mapping[str, object]
) -> int:
    """config.json and the weights, sharded at SHARD_BYTES with an index as the published checkpoints are."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    shards: list[dict[str, tuple[int, ...]]] = [{}]
    used = 0
    for name in sorted(shapes):
        size = 2
        for d in shapes[name]:
            size *= d
        if used + size > SHARD_BYTES and shards[-1]:
            shards.append({})
            used = 0
        shards[-1][name] = shapes[name]
        used += size
    if len(shards) == 1:
        return write_sparse(directory / f"{stem}.safetensors", shards[0])
    total, weight_map = 0, {}
    for i, shard in enumerate(shards, 1):
        name = f"{stem}-{i:05d}-of-{len(shards):05d}.safetensors"
        total += write_sparse(directory / name, shard)
        weight_map.update(dict.fromkeys(shard, name))
    (directory / f"{stem}.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return total


def meta_shapes(module: object) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}  # type: ignore[attr-defined]


def build(root: Path) -> int:
    from accelerate import init_empty_weights  # type: ignore[import-untyped]
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import (
        CLIPVisionConfig,
        CLIPVisionModel,
        UMT5Config,
        UMT5EncoderModel,
        Wav2Vec2Config,
        Wav2Vec2Model,
    )

    total = 0
    with init_empty_weights():
        text = meta_shapes(UMT5EncoderModel(UMT5Config(**UMT5)))
        text.pop("encoder.embed_tokens.weight", None)  # tied to shared.weight, saved once
        vae = meta_shapes(AutoencoderKLWan(**VAE))
        clip = meta_shapes(CLIPVisionModel(CLIPVisionConfig(**CLIP)))
        wav2vec = meta_shapes(Wav2Vec2Model(Wav2Vec2Config()))
        experts = {
            "21": meta_shapes(WanTransformer3DModel.from_config(TRANSFORMER_21)),
            "22": meta_shapes(WanTransformer3DModel.from_config(TRANSFORMER_22)),
        }
    vae_config = {**VAE, "latents_mean": [0.0] * 16, "latents_std": [1.0] * 16}
    for model, transformer, names in (
        (PROFILES["film"].model, TRANSFORMER_21, ("transformer",)),
        (PROFILES["pro"].model, TRANSFORMER_22, ("transformer", "transformer_2")),
    ):
        base = root / model
        (base / "tokenizer").mkdir(parents=True, exist_ok=True)
        (base / "tokenizer" / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
        (base / "tokenizer" / "tokenizer.json").write_text("{}")
        total += write_weights(base / "text_encoder", "model", text, UMT5)
        total += write_weights(base / "vae", "diffusion_pytorch_model", vae, vae_config)
        shapes = experts["21" if transformer is TRANSFORMER_21 else "22"]
        for name in names:
            total += write_weights(base / name, "diffusion_pytorch_model", shapes, transformer)
        if transformer["image_dim"]:
            (base / "image_processor").mkdir(exist_ok=True)
            (base / "image_processor" / "preprocessor_config.json").write_text(json.dumps({"crop_size": 224}))
            total += write_weights(base / "image_encoder", "model", clip, CLIP)
    for variant in VARIANTS:
        profile = PROFILES[variant]
        linears = transformer_linears(TRANSFORMER_22 if variant == "pro" else TRANSFORMER_21)
        lora: dict[str, tuple[int, ...]] = {}
        for i in range(40):
            for target in SVI_BLOCK_TARGETS:
                module = diffusers_module(f"blocks.{i}.{target}", set(linears))
                assert module is not None
                out_f, in_f = linears[module]
                lora[f"blocks.{i}.{target}.lora_A.default.weight"] = (128, in_f)
                lora[f"blocks.{i}.{target}.lora_B.default.weight"] = (out_f, 128)
        if variant == "dance":
            lora.update({f"dwpose_embedding.{k}": v for k, v in pose_encoder_shapes(5120, 16).items()})
        for path in (profile.lora, profile.lora_2):
            if path:
                total += write_sparse(root / path, lora)
    (root / WAV2VEC_DIR).mkdir(parents=True, exist_ok=True)
    (root / WAV2VEC_DIR / "preprocessor_config.json").write_text(json.dumps({"sampling_rate": 16000}))
    total += write_weights(root / WAV2VEC_DIR, "model", {f"wav2vec2.{k}": v for k, v in wav2vec.items()}, {})
    total += write_sparse(root / MULTITALK_FILE, multitalk_shapes(40, 5120, 12, 768, 512, 32, 768))
    return total


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="lv-full-cache-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        total = build(root)
        print(
            f"built a sparse full-size cache: {total / 1024**3:.1f} GiB of tensors "
            f"in {time.perf_counter() - started:.1f} s"
        )
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1"}
        for variant in VARIANTS:
            report = check_model_cache(root, variant)
            if not report.ok:
                raise SystemExit(f"{variant}: {report.summary()}")
            command = [
                sys.executable,
                "-m",
                "longvideo_runtime",
                "check-models",
                "--variant",
                variant,
                "--models-dir",
                tmp,
            ]
            started = time.perf_counter()
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"check-models {variant} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
            print(
                f"{variant:>6}: {len(report.files):>3} files, check {report.seconds:.3f} s in process, "
                f"check-models process {wall:.2f} s ({done.stdout.strip()})"
            )


if __name__ == "__main__":
    main()
