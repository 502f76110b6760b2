"""Wan components from the read-only model cache (diffusers layout), never downloaded.

`<model>/` holds the subfolders of a diffusers Wan image-to-video checkpoint: tokenizer, text_encoder (UMT5),
vae (AutoencoderKLWan), transformer (and transformer_2 for Wan 2.2's low-noise expert), and for Wan 2.1
image_encoder + image_processor (CLIP vision).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from longvideo_runtime.errors import BadInput
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SviSettings

TEXT_TOKENS = 512
_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def _offline() -> None:
    # Set before diffusers and transformers are imported: a missing file is an error, never a download.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
    os.environ.setdefault("HF_HOME", "/tmp/hf-home")


@dataclass
class WanComponents:
    tokenizer: Any
    text_encoder: Any
    image_encoder: Any | None
    image_processor: Any | None
    vae: Any
    transformer: Any
    transformer_2: Any | None
    device: torch.device
    dtype: torch.dtype
    encoder_device: torch.device

    def vae_normalization(self) -> tuple[torch.Tensor, torch.Tensor]:
        channels = self.vae.config.z_dim
        mean = torch.tensor(self.vae.config.latents_mean, dtype=torch.float32).view(1, channels, 1, 1, 1)
        std = torch.tensor(self.vae.config.latents_std, dtype=torch.float32).view(1, channels, 1, 1, 1)
        return mean.to(self.device), std.to(self.device)


def choose_device(setting: str) -> torch.device:
    if setting == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(setting)
    except RuntimeError as e:
        raise BadInput(f"LV_DEVICE {setting!r} is not a torch device: {e}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BadInput(f"LV_DEVICE {setting!r} asks for CUDA but no GPU is visible")
    return device


def _require(root: Path, name: str) -> Path:
    path = root / name
    if not path.is_dir():
        raise BadInput(f"model directory {root} has no {name}/ (expected a diffusers Wan image-to-video layout)")
    return path


def _dtype(settings: SviSettings, device: torch.device) -> torch.dtype:
    if settings.dtype != "auto":
        return _DTYPES[settings.dtype]
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def _model_root(settings: SviSettings) -> Path:
    root = settings.model
    if not root.is_dir():
        raise BadInput(f"model directory {root} does not exist (is the model cache mounted at LV_MODELS_DIR?)")
    return root


def _transformers(root: Path, two_experts: bool, dtype: torch.dtype) -> tuple[Any, Any | None]:
    from diffusers import WanTransformer3DModel

    common: dict[str, Any] = {"local_files_only": True}
    transformer = WanTransformer3DModel.from_pretrained(_require(root, "transformer"), torch_dtype=dtype, **common)
    transformer_2 = None
    if two_experts:
        transformer_2 = WanTransformer3DModel.from_pretrained(
            _require(root, "transformer_2"), torch_dtype=dtype, **common
        )
    elif (root / "transformer_2").is_dir():
        raise BadInput(f"model {root} has two experts (Wan 2.2): use it with the pro variant")
    return transformer, transformer_2


def _place(transformer: Any, transformer_2: Any | None, device: torch.device) -> None:
    transformer.to(device).eval()
    if transformer_2 is not None:
        # The low-noise expert waits on the CPU while the high-noise one runs (see sampler.ExpertSwitch).
        transformer_2.to("cpu" if device.type == "cuda" else device).eval()


def load_transformers(
    settings: SviSettings, two_experts: bool, device: torch.device
) -> tuple[Any, Any | None, torch.dtype]:
    """The expert(s) alone, for a rank that denoises but encodes nothing (svi/parallel_render.py)."""
    _offline()
    dtype = _dtype(settings, device)
    transformer, transformer_2 = _transformers(_model_root(settings), two_experts, dtype)
    _place(transformer, transformer_2, device)
    return transformer, transformer_2, dtype


def load(settings: SviSettings, two_experts: bool, log: Logger, device: torch.device | None = None) -> WanComponents:
    """Every component; `device` replaces LV_DEVICE's (a rank's own GPU)."""
    _offline()
    from diffusers import AutoencoderKLWan
    from transformers import AutoTokenizer, CLIPImageProcessor, CLIPVisionModel, UMT5EncoderModel

    root = _model_root(settings)
    device = device if device is not None else choose_device(settings.device)
    on_gpu = device.type == "cuda"
    dtype = _dtype(settings, device)
    offload = settings.offload_encoders if settings.offload_encoders is not None else on_gpu
    encoder_device = torch.device("cpu") if offload else device

    common: dict[str, Any] = {"local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(_require(root, "tokenizer"), **common)
    text_encoder = UMT5EncoderModel.from_pretrained(_require(root, "text_encoder"), torch_dtype=dtype, **common)
    image_encoder = image_processor = None
    if (root / "image_encoder").is_dir():
        image_encoder = CLIPVisionModel.from_pretrained(root / "image_encoder", torch_dtype=dtype, **common)
        image_processor = CLIPImageProcessor.from_pretrained(_require(root, "image_processor"), **common)
        image_encoder.to(encoder_device).eval()
    # The Wan VAE is kept in float32: it is small, and bf16 decoding shifts colours.
    vae = AutoencoderKLWan.from_pretrained(_require(root, "vae"), torch_dtype=torch.float32, **common)
    transformer, transformer_2 = _transformers(root, two_experts, dtype)
    if settings.vae_tiling if settings.vae_tiling is not None else on_gpu:
        vae.enable_tiling()
    text_encoder.to(encoder_device).eval()
    vae.to(device).eval()
    _place(transformer, transformer_2, device)
    log.info(
        "models-loaded",
        model=str(root),
        device=str(device),
        dtype=str(dtype).removeprefix("torch."),
        encoders_on=str(encoder_device),
        experts=2 if transformer_2 is not None else 1,
        image_encoder=image_encoder is not None,
    )
    return WanComponents(
        tokenizer,
        text_encoder,
        image_encoder,
        image_processor,
        vae,
        transformer,
        transformer_2,
        device,
        dtype,
        encoder_device,
    )


@torch.no_grad()
def encode_text(components: WanComponents, prompt: str) -> torch.Tensor:
    """UMT5 embeddings [1, 512, D], zero past the prompt's tokens (as Wan was trained)."""
    tokens = components.tokenizer(
        [" ".join(prompt.split())],
        padding="max_length",
        max_length=TEXT_TOKENS,
        truncation=True,
        add_special_tokens=True,
        return_attention_mask=True,
        return_tensors="pt",
    )
    ids = tokens.input_ids.to(components.encoder_device)
    mask = tokens.attention_mask.to(components.encoder_device)
    hidden = components.text_encoder(ids, mask).last_hidden_state
    keep = (torch.arange(hidden.shape[1], device=hidden.device)[None] < mask.sum(dim=1, keepdim=True))[..., None]
    embeddings: torch.Tensor = (hidden * keep).to(components.device, components.dtype)
    return embeddings


@torch.no_grad()
def encode_image(components: WanComponents, image_uint8: torch.Tensor) -> torch.Tensor | None:
    """CLIP vision features of the first conditioning frame (Wan 2.1 I2V), or None for models without them."""
    if components.image_encoder is None or components.image_processor is None:
        return None
    pixels = components.image_processor(images=image_uint8.cpu().numpy(), return_tensors="pt").pixel_values
    pixels = pixels.to(components.encoder_device, components.image_encoder.dtype)
    features = components.image_encoder(pixels, output_hidden_states=True).hidden_states[-2]
    result: torch.Tensor = features.to(components.device, components.dtype)
    return result


@torch.no_grad()
def vae_encode(components: WanComponents, video: torch.Tensor) -> torch.Tensor:
    """[1, 3, F, H, W] in [-1, 1] -> normalized latents [1, 16, T, H/8, W/8] (the distribution's mode)."""
    mean, std = components.vae_normalization()
    posterior = components.vae.encode(video.to(components.device, torch.float32)).latent_dist
    latents: torch.Tensor = (posterior.mode() - mean) / std
    return latents


@torch.no_grad()
def vae_decode(components: WanComponents, latents: torch.Tensor) -> torch.Tensor:
    """Normalized latents [1, 16, T, h, w] -> video [1, 3, F, H, W] in [-1, 1]."""
    mean, std = components.vae_normalization()
    z = latents.to(components.device, torch.float32) * std + mean
    video: torch.Tensor = components.vae.decode(z, return_dict=False)[0]
    return video
