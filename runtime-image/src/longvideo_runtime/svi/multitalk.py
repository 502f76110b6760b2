"""MultiTalk's audio projection and per-block audio cross-attention, attached to diffusers' WanTransformer3DModel.

As SVI-Talk runs them (DiffSynth's WanModel with `enable_multitalk`; docs/adr/0019-svi-talk-and-dance-verified.md):

- `audio_proj` turns the windowed wav2vec2 features into 32 audio tokens of 768 channels per latent frame:
  the first frame's window [5 x layers x C] through `proj1`, every later latent frame's [8 x layers x C] through
  `proj1_vf`, each followed by ReLU; then `proj2` + ReLU, `proj3` to tokens x channels, and a LayerNorm.
- In every DiT block, after the text/image cross-attention has been added to the residual stream x:
  `x = x + audio_cross_attn(norm_x(x), tokens)`, then the FFN. `norm_x` is an affine LayerNorm (eps 1e-6, in
  float32). The attention is per latent frame: the frame's visual tokens (queries, `q_linear`) attend to that
  frame's audio tokens (keys and values from `kv_linear`, keys first), no q/k norm, softmax scale 1/sqrt(head dim),
  heads as the DiT's, then `proj`.

Module names here are the file's, so multitalk.safetensors loads with its own keys: `audio_proj.{proj1, proj1_vf,
proj2, proj3, norm}.{weight,bias}` and `blocks.<i>.{norm_x, audio_cross_attn.q_linear, audio_cross_attn.kv_linear,
audio_cross_attn.proj}.{weight,bias}`; every key must be used and every parameter given.

The attention is attached with forward hooks that do nothing while no audio is set, so the transformer computes
exactly what it computes without them: a hook on `norm2` (its input is the residual stream after self-attention)
and one on `attn2` that adds the audio attention to the cross-attention's output.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional

from longvideo_runtime.errors import BadInput
from longvideo_runtime.svi.audio_features import LATENT_WINDOW, WINDOW
from longvideo_runtime.svi.weights_file import listed, read_state, refuse_unmatched

#: The trained values (chinese-wav2vec2-base: 12 layers of 768; 32 tokens of 768; hidden 512).
CONTEXT_TOKENS = 32
TOKEN_CHANNELS = 768
INTERMEDIATE = 512
NORM_X_EPS = 1e-6


class AudioProjection(nn.Module):
    def __init__(self, layers: int, channels: int, intermediate: int, tokens: int, token_channels: int) -> None:
        super().__init__()
        self.tokens = tokens
        self.token_channels = token_channels
        self.proj1 = nn.Linear(WINDOW * layers * channels, intermediate)
        self.proj1_vf = nn.Linear(LATENT_WINDOW * layers * channels, intermediate)
        self.proj2 = nn.Linear(intermediate, intermediate)
        self.proj3 = nn.Linear(intermediate, tokens * token_channels)
        self.norm = nn.LayerNorm(token_channels)

    def forward(self, first: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
        """(first [B, 1, 5, L, C], later [B, T-1, 8, L, C]) -> tokens [B, T, tokens, token channels]."""
        head = functional.relu(self.proj1(first.flatten(2)))
        rest = functional.relu(self.proj1_vf(later.flatten(2)))
        hidden = functional.relu(self.proj2(torch.cat([head, rest], dim=1)))
        tokens = self.proj3(hidden).unflatten(-1, (self.tokens, self.token_channels))
        normed: torch.Tensor = self.norm(tokens)
        return normed


class AudioCrossAttention(nn.Module):
    def __init__(self, dim: int, token_channels: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q_linear = nn.Linear(dim, dim)
        self.kv_linear = nn.Linear(token_channels, 2 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """x [B, F*S, dim] (frame-major), tokens [B, F, N, token channels] -> [B, F*S, dim]."""
        batch, length, dim = x.shape
        frames, count = tokens.shape[1], tokens.shape[2]
        if length % frames:
            raise ValueError(f"{length} visual tokens do not split into {frames} latent frames")
        per_frame, head_dim = length // frames, dim // self.heads
        q = self.q_linear(x).view(batch * frames, per_frame, self.heads, head_dim).transpose(1, 2)
        kv = self.kv_linear(tokens.reshape(batch * frames, count, -1))
        kv = kv.view(batch * frames, count, 2, self.heads, head_dim)
        k, v = kv[:, :, 0].transpose(1, 2), kv[:, :, 1].transpose(1, 2)
        out = functional.scaled_dot_product_attention(q, k, v)
        projected: torch.Tensor = self.proj(out.transpose(1, 2).reshape(batch, length, dim))
        return projected


class AudioBlock(nn.Module):
    def __init__(self, dim: int, token_channels: int, heads: int) -> None:
        super().__init__()
        self.norm_x = nn.LayerNorm(dim, eps=NORM_X_EPS)
        self.audio_cross_attn = AudioCrossAttention(dim, token_channels, heads)

    def forward(self, x: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        normed = functional.layer_norm(
            x.float(), self.norm_x.normalized_shape, self.norm_x.weight.float(), self.norm_x.bias.float(), NORM_X_EPS
        ).to(x.dtype)
        out: torch.Tensor = self.audio_cross_attn(normed, tokens)
        return out


class MultiTalk(nn.Module):
    """The weights of multitalk.safetensors, laid out under its key names."""

    def __init__(
        self,
        blocks: int,
        dim: int,
        heads: int,
        layers: int,
        channels: int,
        intermediate: int = INTERMEDIATE,
        tokens: int = CONTEXT_TOKENS,
        token_channels: int = TOKEN_CHANNELS,
    ) -> None:
        super().__init__()
        self.audio_proj = AudioProjection(layers, channels, intermediate, tokens, token_channels)
        self.blocks = nn.ModuleList(AudioBlock(dim, token_channels, heads) for _ in range(blocks))


def _strip(key: str) -> str:
    # ComfyUI-style re-uploads prefix the DiT's keys with `diffusion_model.`; the published file has none.
    return key.removeprefix("diffusion_model.")


def _sizes(state: dict[str, torch.Tensor], path: Path, layers: int, channels: int) -> dict[str, int]:
    """The projection's sizes, read from the file and checked against the audio encoder's layers and channels."""
    try:
        intermediate, first_in = state["audio_proj.proj1.weight"].shape
        rest_in = state["audio_proj.proj1_vf.weight"].shape[1]
        token_channels = state["audio_proj.norm.weight"].shape[0]
        tokens = state["audio_proj.proj3.weight"].shape[0] // token_channels
    except KeyError as e:
        raise BadInput(f"{path.name} has no {e.args[0]}: not a MultiTalk audio-adapter file") from None
    if first_in != WINDOW * layers * channels or rest_in != LATENT_WINDOW * layers * channels:
        raise BadInput(
            f"{path.name}: audio_proj takes {first_in} and {rest_in} inputs, but the wav2vec2 model gives "
            f"{layers} layers of {channels} channels ({WINDOW}x and {LATENT_WINDOW}x that: "
            f"{WINDOW * layers * channels} and {LATENT_WINDOW * layers * channels})"
        )
    return {"intermediate": intermediate, "tokens": tokens, "token_channels": token_channels}


def load_multitalk(path: Path, transformer: Any, layers: int, channels: int) -> MultiTalk:
    """multitalk.safetensors for this transformer: every key used, every parameter given, shapes equal."""
    raw = read_state(path, "MultiTalk weights")
    state = {_strip(k): v for k, v in raw.items()}
    if len(state) != len(raw):
        twice = sorted(k for k in raw if k.startswith("diffusion_model.") and _strip(k) in raw)
        raise BadInput(f"{path.name}: keys name one tensor with and without a prefix: {listed(twice)}")
    config = transformer.config
    dim = config.num_attention_heads * config.attention_head_dim
    module = MultiTalk(
        blocks=len(transformer.blocks),
        dim=dim,
        heads=config.num_attention_heads,
        layers=layers,
        channels=channels,
        **_sizes(state, path, layers, channels),
    )
    expected = module.state_dict()
    refuse_unmatched(path, set(state), set(expected), "the Wan transformer's audio adapter")
    for name, tensor in state.items():
        if tensor.shape != expected[name].shape:
            raise BadInput(
                f"{path.name}: {name} has shape {tuple(tensor.shape)}, the transformer needs "
                f"{tuple(expected[name].shape)}"
            )
    module.load_state_dict(state, strict=True)
    parameter = next(transformer.parameters())
    return module.to(parameter.device, parameter.dtype).eval()


class AudioConditioning:
    """Hooks MultiTalk's audio attention into a Wan transformer's blocks; inert unless tokens are set."""

    def __init__(self, transformer: Any, multitalk: MultiTalk) -> None:
        if len(transformer.blocks) != len(multitalk.blocks):
            raise BadInput(f"MultiTalk has {len(multitalk.blocks)} blocks, the transformer {len(transformer.blocks)}")
        self.multitalk = multitalk
        self.tokens: torch.Tensor | None = None
        self.calls = 0
        self._residual: dict[int, torch.Tensor] = {}
        self._handles = []
        for index, block in enumerate(transformer.blocks):
            self._handles.append(block.norm2.register_forward_hook(self._capture(index)))
            self._handles.append(block.attn2.register_forward_hook(self._add(index)))

    def _capture(self, index: int) -> Any:
        def hook(_module: nn.Module, inputs: tuple[torch.Tensor, ...], _output: torch.Tensor) -> None:
            if self.tokens is not None:
                self._residual[index] = inputs[0]

        return hook

    def _add(self, index: int) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> torch.Tensor | None:
            if self.tokens is None:
                return None
            residual = self._residual.pop(index).to(output.dtype) + output
            self.calls += 1
            audio: torch.Tensor = self.multitalk.blocks[index](residual, self.tokens.to(output.dtype))
            return output + audio

        return hook

    @torch.no_grad()
    def tokens_for(self, first: torch.Tensor, later: torch.Tensor) -> torch.Tensor:
        """Audio tokens [1, T, N, C] from grouped features, in the adapter's dtype and device."""
        parameter = next(self.multitalk.parameters())
        tokens: torch.Tensor = self.multitalk.audio_proj(
            first.to(parameter.device, parameter.dtype), later.to(parameter.device, parameter.dtype)
        )
        return tokens

    @contextmanager
    def active(self, tokens: torch.Tensor | None) -> Iterator[None]:
        self.tokens = tokens
        try:
            yield
        finally:
            self.tokens = None
            self._residual.clear()

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
