"""Whether a model cache holds what a variant's svi code will read, checked in about a second without torch.

The probe runs this before an svi film's first segment (LV_CHECK_MODELS), so that a wrong cache fails the film
naming its files instead of a GPU pod failing minutes into its start; `check-models` runs it by hand. Only
configs, JSON indexes and safetensors headers are read, never tensor data (the real files are tens of GB).

What a variant reads, under the names the worker uses when the operator sets no LV_MODEL or LV_LORA
(variants.PROFILES):

- `<model>/` (Wan 2.1 I2V for shot, film, talk, dance; Wan 2.2 I2V A14B for pro), as svi/models.py loads it:
  `tokenizer/` (tokenizer_config.json and tokenizer.json or spiece.model), `text_encoder/`, `vae/`,
  `transformer/`, for pro also `transformer_2/` (and for the others none: the worker refuses a second expert),
  and `image_encoder/` with `image_processor/` when the transformer takes image embeddings (`image_dim`). Each
  weights directory is its config.json plus a single safetensors file or an index json and every shard it names.
- the variant's SVI LoRA(s) under `svi/` (pro: one per expert); for dance the file also holds the pose encoder.
- the film's extra LoRAs (LV_LORAS, spec.render.loras and the scenes'), each against the expert(s) it goes into.
- talk: `chinese-wav2vec2-base/` (config.json, preprocessor_config.json, model.safetensors) and
  `MeiGen-MultiTalk/multitalk.safetensors`.

Tensors checked, each against the shape its component's config.json implies (the ones whose absence or shape
makes loading fail, or leaves a module silently at random initial values):

- transformer: `patch_embedding` (dim x in_channels x patch), and the weight of every Linear module LoRAs may
  target (transformer_linears: per block the self- and cross-attention projections, the image key/value
  projections when `added_kv_proj_dim` is set, the FFN; the embedders and `proj_out`), for each of `num_layers`
  blocks; tensors of blocks past `num_layers` are reported too.
- text encoder (UMT5): the token embedding (vocab_size x d_model), per block the attention projections, relative
  attention bias and FFN; the final norm. Its d_model must be the transformer's text_dim.
- VAE: the encoder's and decoder's first and last convolutions and the quant convolutions (base_dim, z_dim,
  dim_mult); latents_mean and latents_std must have z_dim values; the transformer's in_channels must be
  2 x z_dim + 4 (noise, mask, condition) and out_channels z_dim.
- image encoder (CLIP vision): patch and position embeddings, per layer attention and MLP; its hidden_size must be
  the transformer's image_dim.
- LoRA: every key in a LoRA form naming a Linear module of that transformer (lora.py's mapping, lora_layout: the
  merge's own pairing), both matrices of each module, down [rank, in] and up [out, rank] fitting its weight; a
  whole delta (`diff`, `diff_b`) naming a parameter of a Linear or norm (transformer_parameters) with its shape.
- pose encoder (dance): exactly the encoder's parameters for a DiT of the transformer's width.
- wav2vec2 (talk): conv layers, feature projection, per layer attention and FFN; MultiTalk: exactly its
  parameters for the transformer's width and blocks and the wav2vec2's layers x channels (multitalk.py's rules).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from longvideo_runtime.errors import BadInput
from longvideo_runtime.safetensors_io import FormatError, TensorEntry, read_header
from longvideo_runtime.svi.lora import lora_layout
from longvideo_runtime.variants import MULTITALK_FILE, PROFILES, WAV2VEC_DIR, Variant

if TYPE_CHECKING:
    from longvideo_runtime.spec import ExtraLora

#: The spec field a wrong model cache is blamed on.
FIELD = "spec.storage.models.claimName"
#: Channels of the mask the worker puts before the condition latents (protocol.condition_mask).
MASK_CHANNELS = 4
#: svi-dance.safetensors names the pose encoder's tensors after this marker (pose_encoder.MARKER).
POSE_MARKER = "dwpose_embedding."
#: Audio context per first video frame and per later latent frame (audio_features.WINDOW, LATENT_WINDOW).
AUDIO_WINDOW, AUDIO_LATENT_WINDOW = 5, 8
#: Problems of one kind in one file listed one by one before the rest are counted in one more.
_LISTED = 8

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ModelProblem:
    """One thing wrong in the cache: `file` relative to the models directory."""

    file: str
    problem: str

    def as_json(self) -> dict[str, str]:
        return {"file": self.file, "problem": self.problem}


@dataclass(frozen=True)
class ModelCacheReport:
    variant: Variant
    models_dir: Path
    #: Every file the check looked at (or for), relative to models_dir, in the order checked.
    files: tuple[str, ...]
    problems: tuple[ModelProblem, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, limit: int = 700) -> str:
        """One line: how many problems, and as many of them as fit in about `limit` characters."""
        if self.ok:
            return (
                f"the model cache at {self.models_dir} holds the {len(self.files)} files variant {self.variant} reads"
            )
        count = len(self.problems)
        head = (
            f"the model cache at {self.models_dir} has {count} problem{'s' if count > 1 else ''} "
            f"for variant {self.variant}: "
        )
        parts: list[str] = []
        used = len(head)
        for p in self.problems:
            text = _cut(f"{p.file}: {p.problem}", 240)
            if parts and used + len(text) > limit:
                break
            parts.append(text)
            used += len(text) + 2
        rest = count - len(parts)
        return head + "; ".join(parts) + (f"; and {rest} more" if rest else "")


class ModelCacheError(BadInput):
    """The model cache lacks or holds wrong files for the variant: bad input naming spec.storage.models.claimName."""

    def __init__(self, report: ModelCacheReport) -> None:
        super().__init__(f"{FIELD}: {report.summary()}")
        self.field = FIELD
        self.report = report
        #: The termination message's `modelProblems` (cli.py fits as many as the message's limit allows).
        self.model_problems = [p.as_json() for p in report.problems]


def check_model_cache(models_dir: Path, variant: Variant, extra_loras: Sequence[ExtraLora] = ()) -> ModelCacheReport:
    """Checks the files `variant` reads under `models_dir` (see the module's docstring), and each extra LoRA against
    the experts it is merged into; never raises for them."""
    started = time.perf_counter()
    if not models_dir.is_dir():
        missing = ModelProblem(".", f"{models_dir} is not a directory (is the model cache mounted there?)")
        return ModelCacheReport(variant, models_dir, (), (missing,), time.perf_counter() - started)
    check = _Checker(models_dir)
    profile = PROFILES[variant]
    two_experts = profile.protocol == "latent"
    wan = check.wan(profile.model, two_experts)
    loras = [(profile.lora, "transformer")] + ([(profile.lora_2, "transformer_2")] if profile.lora_2 else [])
    for path, expert in loras:
        if not path:
            continue
        linears = wan.linears.get(expert)
        if variant == "dance":
            check.dance(path, linears, wan.dim, wan.parameters.get(expert, {}))
        else:
            check.lora_file(path, linears, f"the Wan {expert}", wan.parameters.get(expert, {}))
    for i, extra in enumerate(extra_loras):
        rel = str(extra.path.relative_to(models_dir)) if extra.path.is_relative_to(models_dir) else str(extra.path)
        experts = [e for e in ("transformer", "transformer_2") if e in wan.linears]
        if extra.expert is not None:
            if not two_experts:
                check.problem(rel, f"LV_LORAS[{i}] names the {extra.expert} expert, but this model has one transformer")
                continue
            experts = ["transformer" if extra.expert == "highNoise" else "transformer_2"]
        header = check.header(rel)
        shapes = {k: v.shape for k, v in header.items()} if header is not None else None
        for expert in experts:
            linears = wan.linears.get(expert)
            if shapes is not None and linears is not None:
                check.lora(rel, shapes, linears, f"the Wan {expert}", wan.parameters.get(expert, {}))
    if variant == "talk":
        check.talk(wan)
    return ModelCacheReport(
        variant=variant,
        models_dir=models_dir,
        files=tuple(check.files),
        problems=tuple(check.problems),
        seconds=time.perf_counter() - started,
    )


def transformer_linears(config: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Every nn.Linear of diffusers' WanTransformer3DModel for this config.json, name -> (out, in) features."""
    heads, head_dim = int(config["num_attention_heads"]), int(config["attention_head_dim"])
    dim = heads * head_dim
    ffn, text_dim, freq_dim = int(config["ffn_dim"]), int(config["text_dim"]), int(config["freq_dim"])
    patch = _product(config.get("patch_size") or [1, 2, 2])
    out_channels = int(config.get("out_channels") or config["in_channels"])
    linears: dict[str, tuple[int, int]] = {
        "proj_out": (out_channels * patch, dim),
        "condition_embedder.time_embedder.linear_1": (dim, freq_dim),
        "condition_embedder.time_embedder.linear_2": (dim, dim),
        "condition_embedder.time_proj": (6 * dim, dim),
        "condition_embedder.text_embedder.linear_1": (dim, text_dim),
        "condition_embedder.text_embedder.linear_2": (dim, dim),
    }
    image_dim = config.get("image_dim")
    if image_dim:
        linears["condition_embedder.image_embedder.ff.net.0.proj"] = (int(image_dim), int(image_dim))
        linears["condition_embedder.image_embedder.ff.net.2"] = (dim, int(image_dim))
    added = config.get("added_kv_proj_dim")
    for i in range(int(config["num_layers"])):
        for attention in ("attn1", "attn2"):
            for projection in ("to_q", "to_k", "to_v", "to_out.0"):
                linears[f"blocks.{i}.{attention}.{projection}"] = (dim, dim)
        if added:
            linears[f"blocks.{i}.attn2.add_k_proj"] = (dim, int(added))
            linears[f"blocks.{i}.attn2.add_v_proj"] = (dim, int(added))
        linears[f"blocks.{i}.ffn.net.0.proj"] = (ffn, dim)
        linears[f"blocks.{i}.ffn.net.2"] = (dim, ffn)
    return linears


def transformer_parameters(config: Mapping[str, Any]) -> dict[str, Shape]:
    """The parameters a LoRA's whole deltas (`diff`, `diff_b`) may change, name -> shape: the weight and bias of every
    Linear, and the weights and biases of the norms (q/k RMS norms, the cross-attention norm, the image embedder's)."""
    heads, head_dim = int(config["num_attention_heads"]), int(config["attention_head_dim"])
    dim = heads * head_dim
    shapes: dict[str, Shape] = {}
    for name, (out_f, in_f) in transformer_linears(config).items():
        shapes[f"{name}.weight"] = (out_f, in_f)
        shapes[f"{name}.bias"] = (out_f,)
    image_dim = config.get("image_dim")
    if image_dim:
        for norm, width in (("norm1", int(image_dim)), ("norm2", dim)):
            shapes[f"condition_embedder.image_embedder.{norm}.weight"] = (width,)
            shapes[f"condition_embedder.image_embedder.{norm}.bias"] = (width,)
    for i in range(int(config["num_layers"])):
        if config.get("qk_norm"):
            for norm in ("attn1.norm_q", "attn1.norm_k", "attn2.norm_q", "attn2.norm_k"):
                shapes[f"blocks.{i}.{norm}.weight"] = (dim,)
            if config.get("added_kv_proj_dim"):
                shapes[f"blocks.{i}.attn2.norm_added_k.weight"] = (dim,)
        if config.get("cross_attn_norm"):
            shapes[f"blocks.{i}.norm2.weight"] = (dim,)
            shapes[f"blocks.{i}.norm2.bias"] = (dim,)
    return shapes


def pose_encoder_shapes(dim: int, hidden: int) -> dict[str, Shape]:
    """pose_encoder.PoseEncoder's parameters (Sequential names) for a DiT of width `dim`."""
    shapes: dict[str, Shape] = {}
    channels = 3
    for index in range(0, 12, 2):
        shapes[f"{index}.weight"] = (hidden, channels, 3, 3, 3)
        shapes[f"{index}.bias"] = (hidden,)
        channels = hidden
    shapes["12.weight"] = (dim, hidden, 1, 2, 2)
    shapes["12.bias"] = (dim,)
    return shapes


def multitalk_shapes(
    blocks: int, dim: int, layers: int, channels: int, intermediate: int, tokens: int, token_channels: int
) -> dict[str, Shape]:
    """multitalk.MultiTalk's parameters (the file's key names) for a transformer and a wav2vec2 model."""
    shapes: dict[str, Shape] = {}
    for name, out_f, in_f in (
        ("proj1", intermediate, AUDIO_WINDOW * layers * channels),
        ("proj1_vf", intermediate, AUDIO_LATENT_WINDOW * layers * channels),
        ("proj2", intermediate, intermediate),
        ("proj3", tokens * token_channels, intermediate),
    ):
        shapes[f"audio_proj.{name}.weight"] = (out_f, in_f)
        shapes[f"audio_proj.{name}.bias"] = (out_f,)
    shapes["audio_proj.norm.weight"] = shapes["audio_proj.norm.bias"] = (token_channels,)
    for i in range(blocks):
        block = f"blocks.{i}"
        shapes[f"{block}.norm_x.weight"] = shapes[f"{block}.norm_x.bias"] = (dim,)
        for name, out_f, in_f in (("q_linear", dim, dim), ("kv_linear", 2 * dim, token_channels), ("proj", dim, dim)):
            shapes[f"{block}.audio_cross_attn.{name}.weight"] = (out_f, in_f)
            shapes[f"{block}.audio_cross_attn.{name}.bias"] = (out_f,)
    return shapes


@dataclass
class _Weights:
    """A component's tensors across its files: name -> (file, entry)."""

    #: The file a missing tensor is reported in: the single weights file, or the index.
    label: str
    tensors: dict[str, tuple[str, TensorEntry]] = field(default_factory=dict)
    #: Tensors the index puts in a shard that is missing or unreadable (already reported, not reported again).
    unavailable: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class _Expected:
    shape: Shape
    #: What in the config implies the shape, e.g. "dim 5120".
    why: str


@dataclass
class _Wan:
    dim: int | None = None
    #: Linear modules by expert directory (transformer, transformer_2): what LoRAs are checked against.
    linears: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    #: The parameters a LoRA's whole deltas may change, by expert directory.
    parameters: dict[str, dict[str, Shape]] = field(default_factory=dict)
    blocks: int | None = None


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, None] = {}
        self.problems: list[ModelProblem] = []

    def problem(self, file: str, text: str) -> None:
        self.problems.append(ModelProblem(file, text))

    # --- files ------------------------------------------------------------------------------------------------

    def present(self, rel: str) -> bool:
        self.files[rel] = None
        if (self.root / rel).is_file():
            return True
        self.problem(rel, "missing")
        return False

    def json_object(self, rel: str) -> dict[str, Any] | None:
        if not self.present(rel):
            return None
        try:
            value = json.loads((self.root / rel).read_text(encoding="utf-8"))
        except OSError as e:
            self.problem(rel, f"not readable: {e.strerror or e}")
            return None
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self.problem(rel, f"not readable JSON: {_cut(str(e), 160)}")
            return None
        if not isinstance(value, dict):
            self.problem(rel, "not a JSON object")
            return None
        return value

    def header(self, rel: str) -> dict[str, TensorEntry] | None:
        if not self.present(rel):
            return None
        try:
            return read_header(self.root / rel)
        except FormatError as e:
            self.problem(rel, f"not a safetensors file: {_cut(str(e), 200)}")
        except OSError as e:
            # e.g. written by another user without read permission for the worker's (uid 1000).
            self.problem(rel, f"not readable: {e.strerror or e}")
        return None

    def weights(self, directory: str, stem: str, index_first: bool) -> _Weights | None:
        """The tensors of a weights directory: `<stem>.safetensors`, or its index json and every shard it names.

        diffusers looks for the index first, transformers for the single file first (`index_first`).
        """
        single, index = f"{directory}/{stem}.safetensors", f"{directory}/{stem}.safetensors.index.json"
        has_single, has_index = (self.root / single).is_file(), (self.root / index).is_file()
        if has_index and (index_first or not has_single):
            return self._sharded(index)
        if not has_single:
            self.files[single] = None
            self.problem(single, f"missing (and there is no {Path(index).name} either)")
            return None
        header = self.header(single)
        if header is None:
            return None
        return _Weights(single, {name: (single, entry) for name, entry in header.items()})

    def _sharded(self, index: str) -> _Weights | None:
        data = self.json_object(index)
        if data is None:
            return None
        weight_map = data.get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            self.problem(index, "has no weight_map")
            return None
        directory = index.rsplit("/", 1)[0]
        weights = _Weights(index)
        by_shard: dict[str, list[str]] = {}
        for name, shard in weight_map.items():
            by_shard.setdefault(str(shard), []).append(str(name))
        for shard, names in sorted(by_shard.items()):
            rel = f"{directory}/{shard}"
            header = self.header(rel)
            if header is None:
                weights.unavailable.update(names)
                continue
            absent = sorted(n for n in names if n not in header)
            if absent:
                self.problem(index, f"{len(absent)} tensor(s) it puts in {shard} are not in that file: {_list(absent)}")
            for name in names:
                if name in header:
                    weights.tensors[name] = (rel, header[name])
        return weights

    # --- tensors ----------------------------------------------------------------------------------------------

    def tensors(
        self, weights: _Weights, expected: Mapping[str, _Expected], blocks: re.Pattern[str] | None, count: int
    ) -> None:
        """Each expected tensor present with its shape; whole blocks missing, or past `count`, said once."""
        missing = [n for n in expected if n not in weights.tensors and n not in weights.unavailable]
        if blocks is not None:
            wanted: dict[int, list[str]] = {}
            for name in expected:
                match = blocks.match(name)
                if match:
                    wanted.setdefault(int(match[1]), []).append(name)
            absent = set(missing)
            gone = sorted(i for i, names in wanted.items() if all(n in absent for n in names))
            if gone:
                self.problem(
                    weights.label,
                    f"no tensors for block{'s' if len(gone) > 1 else ''} {_list([str(i) for i in gone])} "
                    f"of the config's {count}",
                )
                missing = [n for n in missing if not ((m := blocks.match(n)) and int(m[1]) in gone)]
            past = sorted({int(m[1]) for n in weights.tensors if (m := blocks.match(n)) and int(m[1]) >= count})
            if past:
                self.problem(
                    weights.label,
                    f"tensors for block{'s' if len(past) > 1 else ''} {_list([str(i) for i in past])}, past the "
                    f"config's {count} (weights of another model size?)",
                )
        self._listed(
            weights.label,
            [f"no tensor {n} (the config ({expected[n].why}) needs {_shape(expected[n].shape)})" for n in missing],
            "tensors missing",
        )
        wrong: dict[str, list[str]] = {}
        for name, want in expected.items():
            if name in weights.tensors:
                rel, entry = weights.tensors[name]
                if entry.shape != want.shape:
                    wrong.setdefault(rel, []).append(
                        f"tensor {name} has shape {_shape(entry.shape)}, the config ({want.why}) needs "
                        f"{_shape(want.shape)}"
                    )
        for rel, texts in wrong.items():
            self._listed(rel, texts, "tensors with shapes that do not fit the config")

    def _listed(self, file: str, texts: list[str], what: str) -> None:
        for text in texts[:_LISTED]:
            self.problem(file, text)
        if len(texts) > _LISTED:
            self.problem(file, f"and {len(texts) - _LISTED} more {what}")

    def ints(self, config: Mapping[str, Any], rel: str, defaults: Mapping[str, int | None]) -> dict[str, int] | None:
        """Integer fields of a config (a default of None: required); a problem and None when one is not."""
        values: dict[str, int] = {}
        for name, default in defaults.items():
            raw = config.get(name, default)
            if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
                self.problem(rel, f"{name} must be a non-negative integer, got {json.dumps(raw)}")
                return None
            values[name] = raw
        return values

    # --- components -------------------------------------------------------------------------------------------

    def wan(self, model: str, two_experts: bool) -> _Wan:
        wan = _Wan()
        self.tokenizer(f"{model}/tokenizer")
        text_dim = self.text_encoder(f"{model}/text_encoder")
        z_dim = self.vae(f"{model}/vae")
        experts = ["transformer", "transformer_2"] if two_experts else ["transformer"]
        configs: dict[str, dict[str, Any]] = {}
        for expert in experts:
            config = self.transformer(f"{model}/{expert}", text_dim, z_dim)
            if config is not None:
                configs[expert] = config
                wan.linears[expert] = transformer_linears(config)
                wan.parameters[expert] = transformer_parameters(config)
        if not two_experts and (self.root / model / "transformer_2").is_dir():
            self.files[f"{model}/transformer_2"] = None
            self.problem(
                f"{model}/transformer_2",
                "a second expert (a Wan 2.2 model): the worker refuses it for a variant that runs one",
            )
        first = configs.get("transformer")
        if first is not None:
            wan.dim = int(first["num_attention_heads"]) * int(first["attention_head_dim"])
            wan.blocks = int(first["num_layers"])
            self.image_encoder(model, first.get("image_dim"))
        return wan

    def tokenizer(self, directory: str) -> None:
        self.json_object(f"{directory}/tokenizer_config.json")
        if (self.root / directory / "spiece.model").is_file() and not (
            self.root / directory / "tokenizer.json"
        ).is_file():
            self.present(f"{directory}/spiece.model")
        else:
            self.present(f"{directory}/tokenizer.json")

    def text_encoder(self, directory: str) -> int | None:
        """Checks UMT5's files; returns its d_model (the width the transformer's text_dim must be)."""
        rel = f"{directory}/config.json"
        config = self.json_object(rel)
        weights = self.weights(directory, "model", index_first=False)
        if config is None:
            return None
        sizes = self.ints(
            config,
            rel,
            {
                "d_model": None,
                "vocab_size": None,
                "num_layers": None,
                "num_heads": None,
                "d_kv": None,
                "d_ff": None,
                "relative_attention_num_buckets": 32,
            },
        )
        if sizes is None:
            return None
        d, heads, inner, ff = sizes["d_model"], sizes["num_heads"], sizes["num_heads"] * sizes["d_kv"], sizes["d_ff"]
        if weights is None:
            return d
        embedding = "shared.weight" if "shared.weight" in weights.tensors else "encoder.embed_tokens.weight"
        why = f"d_model {d}, {heads} heads of d_kv {sizes['d_kv']}, d_ff {ff}"
        expected = {
            embedding: _Expected((sizes["vocab_size"], d), f"vocab_size {sizes['vocab_size']}, d_model {d}"),
            "encoder.final_layer_norm.weight": _Expected((d,), f"d_model {d}"),
        }
        gated = str(config.get("feed_forward_proj", "gated-gelu")).startswith("gated-")
        ffn_in = ("wi_0", "wi_1") if gated else ("wi",)
        for i in range(sizes["num_layers"]):
            attention = f"encoder.block.{i}.layer.0.SelfAttention"
            for name in ("q", "k", "v"):
                expected[f"{attention}.{name}.weight"] = _Expected((inner, d), why)
            expected[f"{attention}.o.weight"] = _Expected((d, inner), why)
            expected[f"{attention}.relative_attention_bias.weight"] = _Expected(
                (sizes["relative_attention_num_buckets"], heads),
                f"relative_attention_num_buckets {sizes['relative_attention_num_buckets']}, {heads} heads",
            )
            for name in ffn_in:
                expected[f"encoder.block.{i}.layer.1.DenseReluDense.{name}.weight"] = _Expected((ff, d), why)
            expected[f"encoder.block.{i}.layer.1.DenseReluDense.wo.weight"] = _Expected((d, ff), why)
        self.tensors(weights, expected, re.compile(r"encoder\.block\.(\d+)\."), sizes["num_layers"])
        return d

    def vae(self, directory: str) -> int | None:
        """Checks AutoencoderKLWan's files; returns its z_dim."""
        rel = f"{directory}/config.json"
        config = self.json_object(rel)
        weights = self.weights(directory, "diffusion_pytorch_model", index_first=True)
        if config is None:
            return None
        sizes = self.ints(config, rel, {"base_dim": 96, "z_dim": 16})
        mult = config.get("dim_mult", [1, 2, 4, 4])
        if sizes is None:
            return None
        if not isinstance(mult, list) or not mult or not all(isinstance(m, int) for m in mult):
            self.problem(rel, f"dim_mult must be a list of integers, got {json.dumps(mult)}")
            return sizes["z_dim"]
        base, z = sizes["base_dim"], sizes["z_dim"]
        for name in ("latents_mean", "latents_std"):
            values = config.get(name)
            if not isinstance(values, list) or len(values) != z:
                got = f"{len(values)} values" if isinstance(values, list) else json.dumps(values)
                self.problem(rel, f"{name} must hold z_dim {z} values (the worker normalises latents by it), got {got}")
        if weights is None:
            return z
        why = f"base_dim {base}, z_dim {z}, dim_mult {mult}"
        top = base * mult[-1]
        expected = {
            "encoder.conv_in.weight": _Expected((base, 3, 3, 3, 3), why),
            "encoder.conv_out.weight": _Expected((2 * z, top, 3, 3, 3), why),
            "quant_conv.weight": _Expected((2 * z, 2 * z, 1, 1, 1), why),
            "post_quant_conv.weight": _Expected((z, z, 1, 1, 1), why),
            "decoder.conv_in.weight": _Expected((top, z, 3, 3, 3), why),
            "decoder.conv_out.weight": _Expected((3, base, 3, 3, 3), why),
        }
        self.tensors(weights, expected, None, 0)
        return z

    def transformer(self, directory: str, text_dim: int | None, z_dim: int | None) -> dict[str, Any] | None:
        """Checks a WanTransformer3DModel's files; returns its config when it is usable for the LoRA checks."""
        rel = f"{directory}/config.json"
        config = self.json_object(rel)
        weights = self.weights(directory, "diffusion_pytorch_model", index_first=True)
        if config is None:
            return None
        sizes = self.ints(
            config,
            rel,
            {
                "num_attention_heads": None,
                "attention_head_dim": None,
                "in_channels": None,
                "out_channels": None,
                "text_dim": None,
                "freq_dim": None,
                "ffn_dim": None,
                "num_layers": None,
            },
        )
        patch = config.get("patch_size", [1, 2, 2])
        if sizes is None:
            return None
        if not isinstance(patch, list) or len(patch) != 3 or not all(isinstance(p, int) for p in patch):
            self.problem(rel, f"patch_size must be 3 integers, got {json.dumps(patch)}")
            return None
        for name in ("image_dim", "added_kv_proj_dim"):
            value = config.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                self.problem(rel, f"{name} must be an integer or null, got {json.dumps(value)}")
                return None
        if text_dim is not None and sizes["text_dim"] != text_dim:
            self.problem(rel, f"text_dim {sizes['text_dim']} is not the text encoder's d_model {text_dim}")
        if z_dim is not None and (sizes["in_channels"], sizes["out_channels"]) != (2 * z_dim + MASK_CHANNELS, z_dim):
            self.problem(
                rel,
                f"in_channels {sizes['in_channels']} and out_channels {sizes['out_channels']} do not fit the VAE's "
                f"z_dim {z_dim} (the worker feeds {2 * z_dim + MASK_CHANNELS}: noise, mask and condition; and "
                f"decodes {z_dim})",
            )
        dim = sizes["num_attention_heads"] * sizes["attention_head_dim"]
        if weights is not None:
            note = (
                f"dim {dim} = {sizes['num_attention_heads']} heads x {sizes['attention_head_dim']}, "
                f"ffn_dim {sizes['ffn_dim']}"
            )
            expected = {
                "patch_embedding.weight": _Expected(
                    (dim, sizes["in_channels"], *patch), f"dim {dim}, in_channels {sizes['in_channels']}"
                )
            }
            for name, (out_f, in_f) in transformer_linears(config).items():
                expected[f"{name}.weight"] = _Expected((out_f, in_f), note)
            self.tensors(weights, expected, re.compile(r"blocks\.(\d+)\."), sizes["num_layers"])
        return config

    def image_encoder(self, model: str, image_dim: object) -> None:
        directory = f"{model}/image_encoder"
        if not image_dim:
            if (self.root / directory).is_dir():
                self.files[directory] = None
                self.problem(
                    directory,
                    "the transformer takes no image embeddings (image_dim is null), but the worker would feed it "
                    "this encoder's",
                )
            return
        self.json_object(f"{model}/image_processor/preprocessor_config.json")
        rel = f"{directory}/config.json"
        raw = self.json_object(rel)
        weights = self.weights(directory, "model", index_first=False)
        if raw is None:
            return
        config = raw.get("vision_config") if isinstance(raw.get("vision_config"), dict) else raw
        assert isinstance(config, dict)
        sizes = self.ints(
            config,
            rel,
            {
                "hidden_size": 768,
                "intermediate_size": 3072,
                "num_hidden_layers": 12,
                "image_size": 224,
                "patch_size": 32,
                "num_channels": 3,
            },
        )
        if sizes is None:
            return
        hidden, inter, patch = sizes["hidden_size"], sizes["intermediate_size"], sizes["patch_size"]
        if hidden != image_dim:
            self.problem(rel, f"hidden_size {hidden} is not the transformer's image_dim {image_dim}")
        if weights is None:
            return
        why = f"hidden_size {hidden}, intermediate_size {inter}"
        positions = (sizes["image_size"] // max(patch, 1)) ** 2 + 1
        expected = {
            "vision_model.embeddings.patch_embedding.weight": _Expected(
                (hidden, sizes["num_channels"], patch, patch), f"hidden_size {hidden}, patch_size {patch}"
            ),
            "vision_model.embeddings.position_embedding.weight": _Expected(
                (positions, hidden), f"image_size {sizes['image_size']}, patch_size {patch}"
            ),
        }
        for i in range(sizes["num_hidden_layers"]):
            layer = f"vision_model.encoder.layers.{i}"
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                expected[f"{layer}.self_attn.{name}.weight"] = _Expected((hidden, hidden), why)
            expected[f"{layer}.mlp.fc1.weight"] = _Expected((inter, hidden), why)
            expected[f"{layer}.mlp.fc2.weight"] = _Expected((hidden, inter), why)
        self.tensors(
            weights, expected, re.compile(r"vision_model\.encoder\.layers\.(\d+)\."), sizes["num_hidden_layers"]
        )

    def lora_file(
        self, rel: str, linears: dict[str, tuple[int, int]] | None, target: str, parameters: Mapping[str, Shape]
    ) -> None:
        header = self.header(rel)
        if header is not None and linears is not None:
            self.lora(rel, {k: v.shape for k, v in header.items()}, linears, target, parameters)

    def lora(
        self,
        rel: str,
        shapes: Mapping[str, Shape],
        linears: dict[str, tuple[int, int]],
        target: str,
        parameters: Mapping[str, Shape],
    ) -> None:
        """lora.merge_lora_state's rules (the same pairing, lora_layout) on the keys' shapes alone."""
        if not shapes:
            self.problem(rel, "holds no LoRA tensors")
            return
        layout = lora_layout(shapes, set(linears), set(parameters))
        blocks = len({n.split(".")[1] for n in linears if n.startswith("blocks.")})
        dim = linears["condition_embedder.time_embedder.linear_2"][0]
        size = f"dim {dim}, {blocks} blocks"
        if layout.unknown:
            unknown = sorted(layout.unknown)
            self.problem(rel, f"{len(unknown)} key(s) match no module of {target} ({size}): {_list(unknown)}")
        if layout.duplicates:
            duplicates = sorted(layout.duplicates)
            self.problem(rel, f"{len(duplicates)} key(s) name one matrix twice: {_list(duplicates)}")
        incomplete = layout.incomplete()
        if incomplete:
            self.problem(
                rel, f"{len(incomplete)} module(s) have only one of their two LoRA matrices: {_list(incomplete)}"
            )
        misfits: list[str] = []
        for module, parts in sorted(layout.pairs.items()):
            down, up = parts.get("down"), parts.get("up")
            if down is None or up is None:
                continue
            out_f, in_f = linears[module]
            if len(down) != 2 or len(up) != 2 or down[1] != in_f or up != (out_f, down[0]):
                misfits.append(f"{module}: down {_shape(down)}, up {_shape(up)} for a {_shape((out_f, in_f))} weight")
        for name, shape in sorted(layout.diffs.items()):
            if tuple(shape) != parameters[name]:
                misfits.append(f"{name}: a delta of {_shape(shape)} for a {_shape(parameters[name])} parameter")
        if misfits:
            self.problem(
                rel,
                f"{len(misfits)} module(s)' LoRA matrices do not fit {target} ({size}): {_list(misfits, 3)}",
            )

    def dance(
        self, rel: str, linears: dict[str, tuple[int, int]] | None, dim: int | None, parameters: Mapping[str, Shape]
    ) -> None:
        """svi-dance.safetensors: the pose encoder (pose_encoder.py's rules) and the LoRA in the rest."""
        header = self.header(rel)
        if header is None:
            return
        pose: dict[str, Shape] = {}
        rest: dict[str, Shape] = {}
        for key, entry in header.items():
            if POSE_MARKER in key:
                pose[key.split(POSE_MARKER, 1)[1]] = entry.shape
            else:
                rest[key] = entry.shape
        if linears is not None:
            self.lora(rel, rest, linears, "the Wan transformer", parameters)
        if "0.weight" not in pose:
            self.problem(rel, f"holds no pose encoder ({POSE_MARKER}0.weight): not an SVI-Dance file")
            return
        if dim is not None:
            expected = pose_encoder_shapes(dim, pose["0.weight"][0])
            self.exact(
                rel,
                {POSE_MARKER + k: v for k, v in pose.items()},
                {POSE_MARKER + k: v for k, v in expected.items()},
                f"the pose encoder for a DiT of width {dim}",
            )

    def exact(self, rel: str, given: Mapping[str, Shape], expected: Mapping[str, Shape], target: str) -> None:
        """Every key used, every parameter given, shapes equal (weights_file.refuse_unmatched and the loaders)."""
        extra = sorted(set(given) - set(expected))
        if extra:
            self.problem(rel, f"{len(extra)} key(s) match no parameter of {target}: {_list(extra)}")
        missing = sorted(set(expected) - set(given))
        if missing:
            self.problem(rel, f"{len(missing)} parameter(s) of {target} are missing: {_list(missing)}")
        wrong = [
            f"tensor {k} has shape {_shape(given[k])}, {target} needs {_shape(expected[k])}"
            for k in expected
            if k in given and given[k] != expected[k]
        ]
        self._listed(rel, wrong, "tensors with shapes that do not fit")

    def talk(self, wan: _Wan) -> None:
        audio = self.wav2vec2(WAV2VEC_DIR)
        header = self.header(MULTITALK_FILE)
        if header is None or wan.dim is None or wan.blocks is None or audio is None:
            return
        raw = {k: v.shape for k, v in header.items()}
        state = {k.removeprefix("diffusion_model."): v for k, v in raw.items()}
        if len(state) != len(raw):
            twice = sorted(
                k for k in raw if k.startswith("diffusion_model.") and k.removeprefix("diffusion_model.") in raw
            )
            self.problem(MULTITALK_FILE, f"keys name one tensor with and without a prefix: {_list(twice)}")
            return
        layers, channels = audio
        try:
            intermediate = state["audio_proj.proj1.weight"][0]
            token_channels = state["audio_proj.norm.weight"][0]
            tokens = state["audio_proj.proj3.weight"][0] // max(token_channels, 1)
        except (KeyError, IndexError) as e:
            self.problem(MULTITALK_FILE, f"has no {e.args[0]}: not a MultiTalk audio-adapter file")
            return
        expected = multitalk_shapes(wan.blocks, wan.dim, layers, channels, intermediate, tokens, token_channels)
        self.exact(
            MULTITALK_FILE,
            state,
            expected,
            f"the audio adapter for a transformer of width {wan.dim} in {wan.blocks} blocks and a wav2vec2 of "
            f"{layers} layers x {channels} channels",
        )

    def wav2vec2(self, directory: str) -> tuple[int, int] | None:
        """Checks chinese-wav2vec2-base's files; returns its (layers, channels), what MultiTalk's projection takes."""
        self.json_object(f"{directory}/preprocessor_config.json")
        rel = f"{directory}/config.json"
        config = self.json_object(rel)
        weights = self.weights(directory, "model", index_first=False)
        if config is None:
            return None
        sizes = self.ints(config, rel, {"hidden_size": 768, "num_hidden_layers": 12, "intermediate_size": 3072})
        conv_dim, conv_kernel = config.get("conv_dim", [512] * 7), config.get("conv_kernel", [10, 3, 3, 3, 3, 2, 2])
        if sizes is None:
            return None
        layers, hidden, inter = sizes["num_hidden_layers"], sizes["hidden_size"], sizes["intermediate_size"]
        if (
            not isinstance(conv_dim, list)
            or not isinstance(conv_kernel, list)
            or len(conv_dim) != len(conv_kernel)
            or not conv_dim
            or not all(isinstance(v, int) for v in [*conv_dim, *conv_kernel])
        ):
            self.problem(rel, "conv_dim and conv_kernel must be integer lists of one length")
            return layers, hidden
        if weights is None:
            return layers, hidden
        # A checkpoint saved from Wav2Vec2ForPreTraining (as chinese-wav2vec2-base is) prefixes the model's keys.
        prefix = "wav2vec2." if any(n.startswith("wav2vec2.") for n in weights.tensors) else ""
        why = f"hidden_size {hidden}, intermediate_size {inter}"
        expected: dict[str, _Expected] = {}
        channels_in = 1
        for i, (out_c, kernel) in enumerate(zip(conv_dim, conv_kernel, strict=True)):
            expected[f"{prefix}feature_extractor.conv_layers.{i}.conv.weight"] = _Expected(
                (out_c, channels_in, kernel), f"conv_dim {conv_dim}, conv_kernel {conv_kernel}"
            )
            channels_in = out_c
        expected[f"{prefix}feature_projection.projection.weight"] = _Expected(
            (hidden, conv_dim[-1]), f"hidden_size {hidden}, conv_dim[-1] {conv_dim[-1]}"
        )
        for i in range(layers):
            layer = f"{prefix}encoder.layers.{i}"
            for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
                expected[f"{layer}.attention.{name}.weight"] = _Expected((hidden, hidden), why)
            expected[f"{layer}.feed_forward.intermediate_dense.weight"] = _Expected((inter, hidden), why)
            expected[f"{layer}.feed_forward.output_dense.weight"] = _Expected((hidden, inter), why)
        self.tensors(weights, expected, re.compile(re.escape(prefix) + r"encoder\.layers\.(\d+)\."), layers)
        return layers, hidden


def _product(values: Iterable[int]) -> int:
    result = 1
    for v in values:
        result *= int(v)
    return result


def _shape(shape: Shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def _list(items: list[str], shown: int = 6) -> str:
    text = ", ".join(items[:shown])
    return text + (f" and {len(items) - shown} more" if len(items) > shown else "")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
