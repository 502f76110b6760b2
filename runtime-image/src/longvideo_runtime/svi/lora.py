"""SVI's LoRA weights, merged into diffusers' WanTransformer3DModel.

SVI publishes LoRAs trained with peft on DiffSynth-Studio's Wan DiT, whose module names differ from diffusers'
(`blocks.3.self_attn.q` is `blocks.3.attn1.to_q`). What was checked against SVI's source is recorded in
docs/adr/0005-svi-protocol-verified.md; in short:

- SVI trains rank-128 LoRAs (lora_alpha 128) on `q, k, v, o, ffn.0, ffn.2`, i.e. per block
  `self_attn.{q,k,v,o}`, `cross_attn.{q,k,v,o}`, `ffn.0` and `ffn.2` (`SVI_BLOCK_TARGETS`); never `k_img`/`v_img`.
- Its files hold peft keys, `blocks.<i>.<module>.lora_A.default.weight` / `lora_B`, optionally prefixed with
  `diffusion_model.` or the training wrapper's `pipe.dit.` (both of which SVI's own loaders strip).
- SVI merges `W += scale * B @ A`: no alpha/rank factor (alpha equals the rank in training). A kohya-style
  `.alpha` key, which SVI's files do not have, is honoured as `alpha / rank`, as diffusers does.

Keys are accepted in that peft form, the kohya form (`lora_down` / `lora_up`), under the usual prefixes, and with
diffusers' own module names. Any key that names no module of the transformer is an error that lists it: a
silently ignored LoRA key renders a different film.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from longvideo_runtime.errors import BadInput

if TYPE_CHECKING:
    import torch

    from longvideo_runtime.spec import ExtraLora

# "pipe.dit." is the prefix SVI's training wrapper gives its LoRA parameters; SVI's loader strips it too.
_PREFIXES = (
    "pipe.dit.",
    "base_model.model.",
    "diffusion_model.",
    "transformer.",
    "model.",
    "module.",
    "_orig_mod.",
    "dit.",
)

#: The modules inside every DiT block that SVI's LoRAs train (peft target_modules "q,k,v,o,ffn.0,ffn.2").
SVI_BLOCK_TARGETS = (
    "self_attn.q",
    "self_attn.k",
    "self_attn.v",
    "self_attn.o",
    "cross_attn.q",
    "cross_attn.k",
    "cross_attn.v",
    "cross_attn.o",
    "ffn.0",
    "ffn.2",
)

# DiffSynth Wan DiT module paths (inside a block or at the top) -> diffusers WanTransformer3DModel paths.
_BLOCK_MAP = {
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "cross_attn.k_img": "attn2.add_k_proj",
    "cross_attn.v_img": "attn2.add_v_proj",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}
_TOP_MAP = {
    "head.head": "proj_out",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
    "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
}
_KEY = re.compile(
    r"^(?P<module>.+?)\.(?:(?P<part>lora_A|lora_B|lora_down|lora_up)(?:\.default)?\.weight|(?P<alpha>alpha))$"
)
_BLOCK = re.compile(r"^blocks\.(?P<index>\d+)\.(?P<rest>.+)$")


@dataclass(frozen=True)
class LoraKey:
    """A LoRA file's key split into the module it names (before mapping) and which matrix it holds."""

    module: str
    part: Literal["down", "up", "alpha"]


def parse_key(key: str) -> LoraKey | None:
    """`blocks.3.self_attn.q.lora_A.default.weight` -> (blocks.3.self_attn.q, down); None for a key of no LoRA form."""
    match = _KEY.match(key)
    if match is None:
        return None
    if match["alpha"]:
        return LoraKey(match["module"], "alpha")
    return LoraKey(match["module"], "down" if match["part"] in ("lora_A", "lora_down") else "up")


@dataclass
class _Pair:
    down: torch.Tensor | None = None
    up: torch.Tensor | None = None
    alpha: float | None = None


def diffusers_module(name: str, modules: set[str]) -> str | None:
    """The diffusers module a LoRA module name refers to, or None."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    if name in modules:
        return name
    block = _BLOCK.match(name)
    if block:
        mapped = _BLOCK_MAP.get(block["rest"])
        candidate = f"blocks.{block['index']}.{mapped}" if mapped else None
    else:
        candidate = _TOP_MAP.get(name)
    return candidate if candidate in modules else None


def _fail(path: Path, unknown: list[str], why: str) -> BadInput:
    listed = ", ".join(unknown[:12]) + (f" and {len(unknown) - 12} more" if len(unknown) > 12 else "")
    return BadInput(f"LoRA {path.name}: {len(unknown)} key(s) {why}: {listed}")


def merge_lora(transformer: torch.nn.Module, path: Path, scale: float = 1.0) -> int:
    """Adds scale * B @ A (times alpha/rank for a kohya alpha key) to every targeted Linear; returns the count."""
    from longvideo_runtime.svi.weights_file import read_state

    return merge_lora_state(transformer, read_state(path, "LoRA"), path, scale)


def merge_lora_state(transformer: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, scale: float) -> int:
    """merge_lora on tensors already read from `path` (e.g. svi-dance's, less its pose encoder)."""
    import torch

    linears = {n: m for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    names = set(linears)
    pairs: dict[str, _Pair] = {}
    unknown: list[str] = []
    seen: dict[tuple[str, str], str] = {}
    duplicates: list[str] = []
    for key, tensor in state.items():
        parsed = parse_key(key)
        target = diffusers_module(parsed.module, names) if parsed else None
        if parsed is None or target is None:
            unknown.append(key)
            continue
        part = parsed.part
        if (target, part) in seen:
            duplicates.append(f"{seen[target, part]} / {key}")
            continue
        seen[target, part] = key
        pair = pairs.setdefault(target, _Pair())
        if part == "alpha":
            pair.alpha = float(tensor.float().item())
        elif part == "down":
            pair.down = tensor
        else:
            pair.up = tensor
    if unknown:
        raise _fail(path, sorted(unknown), "match no module of the Wan transformer")
    if duplicates:
        raise _fail(path, sorted(duplicates), "name the same matrix of one module twice")
    incomplete = sorted(n for n, p in pairs.items() if p.down is None or p.up is None)
    if incomplete:
        raise _fail(path, incomplete, "have only one of their two LoRA matrices")
    with torch.no_grad():
        for name, pair in pairs.items():
            assert pair.down is not None and pair.up is not None
            weight = linears[name].weight
            rank = pair.down.shape[0]
            if pair.down.shape[1] != weight.shape[1] or pair.up.shape != (weight.shape[0], rank):
                raise BadInput(
                    f"LoRA {path.name}: {name} has down {tuple(pair.down.shape)} and up {tuple(pair.up.shape)}, "
                    f"which do not fit its weight {tuple(weight.shape)}"
                )
            factor = scale * (pair.alpha / rank if pair.alpha is not None else 1.0)
            delta = pair.up.float() @ pair.down.float()
            weight.copy_((weight.float() + factor * delta.to(weight.device)).to(weight.dtype))
    return len(pairs)


def merge_extra_loras(
    transformer: torch.nn.Module, transformer_2: torch.nn.Module | None, loras: tuple[ExtraLora, ...]
) -> int:
    """Merges LV_LORAS in order after the variant's LoRA: each into its expert, or into every expert the model has.

    The experts are Wan 2.2's `transformer` (high noise) and `transformer_2` (low noise); a Wan 2.1 model has only
    the first, so naming an expert there is bad input rather than a silent merge into the wrong weights.
    """
    merged = 0
    for i, lora in enumerate(loras):
        experts = {"highNoise": transformer, "lowNoise": transformer_2}
        if lora.expert is not None and transformer_2 is None:
            raise BadInput(
                f"LV_LORAS[{i}] ({lora.path.name}) names the {lora.expert} expert, but this model has one transformer"
            )
        targets = [experts[lora.expert]] if lora.expert else list(experts.values())
        for target in targets:
            if target is not None:
                merged += merge_lora(target, lora.path, lora.strength)
    return merged
