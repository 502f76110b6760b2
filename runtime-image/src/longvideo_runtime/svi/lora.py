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
diffusers' own module names; and, as distilled LoRAs (LightX2V's few-step ones) carry them, `diff` and `diff_b`:
whole deltas of a module's weight and bias, norms included, added at the LoRA's strength. Any key that names no
module of the transformer is an error that lists it: a silently ignored LoRA key renders a different film.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Generic, Literal, TypeVar

from longvideo_runtime.errors import BadInput

V = TypeVar("V")

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
    # Norms, which only a full-weight `diff` key changes. Wan orders a block's norms norm1, norm3 (before the
    # cross-attention, the one with weights), norm2; diffusers calls that one norm2.
    "norm3": "norm2",
    "self_attn.norm_q": "attn1.norm_q",
    "self_attn.norm_k": "attn1.norm_k",
    "cross_attn.norm_q": "attn2.norm_q",
    "cross_attn.norm_k": "attn2.norm_k",
    "cross_attn.norm_k_img": "attn2.norm_added_k",
}
_TOP_MAP = {
    "head.head": "proj_out",
    "text_embedding.0": "condition_embedder.text_embedder.linear_1",
    "text_embedding.2": "condition_embedder.text_embedder.linear_2",
    "time_embedding.0": "condition_embedder.time_embedder.linear_1",
    "time_embedding.2": "condition_embedder.time_embedder.linear_2",
    "time_projection.1": "condition_embedder.time_proj",
    "img_emb.proj.0": "condition_embedder.image_embedder.norm1",
    "img_emb.proj.1": "condition_embedder.image_embedder.ff.net.0.proj",
    "img_emb.proj.3": "condition_embedder.image_embedder.ff.net.2",
    "img_emb.proj.4": "condition_embedder.image_embedder.norm2",
}
# `diff` and `diff_b` are whole deltas of a module's weight and bias, as distilled LoRAs (LightX2V's, AccVideo's)
# carry them beside their low-rank pairs, for biases and norms a low-rank pair cannot express.
_KEY = re.compile(
    r"^(?P<module>.+?)\.(?:(?P<part>lora_A|lora_B|lora_down|lora_up)(?:\.default)?\.weight|(?P<alpha>alpha)"
    r"|(?P<diff>diff_b|diff))$"
)
_BLOCK = re.compile(r"^blocks\.(?P<index>\d+)\.(?P<rest>.+)$")


@dataclass(frozen=True)
class LoraKey:
    """A LoRA file's key split into the module it names (before mapping) and which matrix it holds."""

    module: str
    part: Literal["down", "up", "alpha", "diff", "diff_b"]


def parse_key(key: str) -> LoraKey | None:
    """`blocks.3.self_attn.q.lora_A.default.weight` -> (blocks.3.self_attn.q, down); None for a key of no LoRA form."""
    match = _KEY.match(key)
    if match is None:
        return None
    if match["alpha"]:
        return LoraKey(match["module"], "alpha")
    if match["diff"]:
        return LoraKey(match["module"], "diff" if match["diff"] == "diff" else "diff_b")
    return LoraKey(match["module"], "down" if match["part"] in ("lora_A", "lora_down") else "up")


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


@dataclass
class LoraLayout(Generic[V]):
    """A LoRA file's keys sorted onto a transformer, whatever they hold: tensors to merge, or shapes to check.

    One pairing serves both the merge (svi/lora.py, tensors) and the model cache check (shapes from headers), so
    the check refuses exactly what the merge would.
    """

    #: Linear module -> its low-rank parts: "down", "up" and optionally "alpha".
    pairs: dict[str, dict[str, V]] = field(default_factory=dict)
    #: Parameter ("<module>.weight" or "<module>.bias") -> a whole delta (`diff`, `diff_b`).
    diffs: dict[str, V] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)

    def incomplete(self) -> list[str]:
        """Modules given only one of their two low-rank matrices."""
        return sorted(m for m, p in self.pairs.items() if "down" not in p or "up" not in p)


def lora_layout(entries: Mapping[str, V], linears: set[str], parameters: set[str]) -> LoraLayout[V]:
    """Sorts a LoRA file's entries by key: low-rank pairs onto `linears` (module names), whole deltas onto
    `parameters` (parameter names); keys that fit neither are unknown, and a matrix or delta named twice (under two
    spellings) a duplicate."""
    layout: LoraLayout[V] = LoraLayout()
    owners = {name.rpartition(".")[0] for name in parameters}
    seen: dict[str, str] = {}
    for key, value in entries.items():
        parsed = parse_key(key)
        slot: str | None = None
        if parsed is not None and parsed.part in ("diff", "diff_b"):
            module = diffusers_module(parsed.module, owners)
            name = f"{module}.{'weight' if parsed.part == 'diff' else 'bias'}" if module else None
            slot = name if name in parameters else None
        elif parsed is not None:
            module = diffusers_module(parsed.module, linears)
            slot = f"{module}:{parsed.part}" if module else None
        if parsed is None or slot is None:
            layout.unknown.append(key)
            continue
        if slot in seen:
            layout.duplicates.append(f"{seen[slot]} / {key}")
            continue
        seen[slot] = key
        if parsed.part in ("diff", "diff_b"):
            layout.diffs[slot] = value
        else:
            module, _, part = slot.rpartition(":")
            layout.pairs.setdefault(module, {})[part] = value
    return layout


def merge_lora_state(transformer: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, scale: float) -> int:
    """merge_lora on tensors already read from `path` (e.g. svi-dance's, less its pose encoder)."""
    import torch

    linears = {n: m for n, m in transformer.named_modules() if isinstance(m, torch.nn.Linear)}
    parameters = dict(transformer.named_parameters())
    layout = lora_layout(state, set(linears), set(parameters))
    if layout.unknown:
        raise _fail(path, sorted(layout.unknown), "match no module of the Wan transformer")
    if layout.duplicates:
        raise _fail(path, sorted(layout.duplicates), "name the same matrix of one module twice")
    incomplete = layout.incomplete()
    if incomplete:
        raise _fail(path, incomplete, "have only one of their two LoRA matrices")
    misfits = [f"{n} {tuple(d.shape)}" for n, d in layout.diffs.items() if d.shape != parameters[n].shape]
    if misfits:
        raise _fail(path, sorted(misfits), "are deltas of another shape than the parameter they change")
    with torch.no_grad():
        for name, parts in layout.pairs.items():
            down, up = parts["down"], parts["up"]
            weight = linears[name].weight
            rank = down.shape[0]
            if down.shape[1] != weight.shape[1] or up.shape != (weight.shape[0], rank):
                raise BadInput(
                    f"LoRA {path.name}: {name} has down {tuple(down.shape)} and up {tuple(up.shape)}, "
                    f"which do not fit its weight {tuple(weight.shape)}"
                )
            alpha = parts.get("alpha")
            factor = scale * (float(alpha.float().item()) / rank if alpha is not None else 1.0)
            delta = up.float() @ down.float()
            weight.copy_((weight.float() + factor * delta.to(weight.device)).to(weight.dtype))
        for name, diff in layout.diffs.items():
            parameter = parameters[name]
            parameter.copy_((parameter.float() + scale * diff.float().to(parameter.device)).to(parameter.dtype))
    return len(layout.pairs) + len({n.rpartition(".")[0] for n in layout.diffs} - set(layout.pairs))


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
