"""Ulysses sequence parallelism on diffusers' WanTransformer3DModel: a group of ranks shares one transformer pass.

Each rank of the group keeps 1/P of the latent tokens through every block: per-token work (projections, norms,
feed-forward, the modulations) shrinks by P with no communication. Only self-attention needs every token: its
processor swaps the query, key and value from "my tokens, every head" to "every token, my heads" with one
all-to-all each, attends over the whole sequence on H/P heads, and swaps the result back. Cross-attention needs
nothing: its keys (512 text tokens, plus 257 image tokens on Wan 2.1) are the same on every rank, and the local
queries attend to them as they would in one process.

Where the split happens, by hooks rather than a copy of diffusers' forward:
- a pre-hook on the first block takes this rank's share of the patch embeddings (the pose features of Dance are
  added to them before, by their own hook on `patch_embedding`, so they are split with them);
- a hook on `proj_out` gathers the output patches (64 channels a token, far fewer than the blocks' width) and drops
  the padding, so every rank returns the whole prediction and runs the sampler's step itself.

The token count is padded up to a multiple of P with zero tokens: all-to-all then moves equal blocks (NCCL needs
equal counts; uneven splits would also leave ranks with different shapes), and 32,760 tokens of a 480p Wan clip
divide by 8 but not every size does. The padding never reaches attention as a key: the processor cuts it off the
full sequence before attending and puts it back after. Zero tokens stay finite through the norms (RMSNorm and
LayerNorm of zeros are zero), and are dropped at the end.

The RMSNorm of queries and keys normalises over all heads of a token (`rms_norm_across_heads`): it runs before the
swap, while each rank still holds whole tokens, so it needs no reduction. Rotary embeddings are per token and the
same for every head: they are applied after the swap, to the whole sequence, from the table the model computed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist
from torch.nn import functional

from longvideo_runtime.errors import BadInput


@dataclass
class AttentionRecord:
    """What this rank's self-attention kernels were given: the largest query, key and value, per call."""

    calls: int = 0
    qkv_shape: tuple[int, ...] = ()
    qkv_bytes: int = 0

    def add(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        self.calls += 1
        size = sum(t.numel() * t.element_size() for t in (query, key, value))
        if size > self.qkv_bytes:
            self.qkv_bytes, self.qkv_shape = size, tuple(query.shape)


@dataclass
class _Shard:
    """The current pass's split: true token count and the padded one (a multiple of the degree)."""

    tokens: int = 0
    padded: int = 0


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Wan's rotary embedding on [B, S, heads, head dim]: channel pairs (2i, 2i+1) turned by the table's angle."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    real, imag = pairs[..., 0], pairs[..., 1]
    c, s = cos[..., 0::2], sin[..., 1::2]
    turned = torch.stack((real * c - imag * s, real * s + imag * c), dim=-1).flatten(-2)
    return turned.type_as(x)


@dataclass
class UlyssesGroup:
    """The ranks sharing a pass: their process group, their count and this rank's place in it."""

    group: Any
    degree: int
    rank: int

    def tokens_to_heads(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S/P, H, d] (my tokens, every head) -> [B, S, H/P, d] (every token, my heads)."""
        b, local, heads, d = x.shape
        send = x.reshape(b, local, self.degree, heads // self.degree, d).permute(2, 0, 1, 3, 4).contiguous()
        received = torch.empty_like(send)
        dist.all_to_all_single(received, send, group=self.group)
        # received[i]: rank i's tokens (the i-th block of the sequence) for my heads.
        return received.permute(1, 0, 2, 3, 4).reshape(b, self.degree * local, heads // self.degree, d)

    def heads_to_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S, H/P, d] -> [B, S/P, H, d], the inverse of tokens_to_heads."""
        b, tokens, heads, d = x.shape
        local = tokens // self.degree
        send = x.reshape(b, self.degree, local, heads, d).permute(1, 0, 2, 3, 4).contiguous()
        received = torch.empty_like(send)
        dist.all_to_all_single(received, send, group=self.group)
        # received[j]: my tokens for rank j's heads, the j-th block of heads.
        return received.permute(1, 2, 0, 3, 4).reshape(b, local, self.degree * heads, d)

    def gather_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """[B, S/P, C] on every rank -> [B, S, C] on every rank."""
        parts = [torch.empty_like(x) for _ in range(self.degree)]
        dist.all_gather(parts, x.contiguous(), group=self.group)
        return torch.cat(parts, dim=1)


@dataclass
class UlyssesAttention:
    """A self-attention processor for diffusers' WanAttention (attn1), with the call signature WanAttention uses."""

    ranks: UlyssesGroup
    shard: _Shard
    record: AttentionRecord

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        rotary_emb: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if encoder_hidden_states is not None or attention_mask is not None:
            raise RuntimeError("the Ulysses processor is for self-attention without a mask")
        if getattr(attn, "fused_projections", False):
            query, key, value = attn.to_qkv(hidden_states).chunk(3, dim=-1)
        else:
            query, key, value = attn.to_q(hidden_states), attn.to_k(hidden_states), attn.to_v(hidden_states)
        # Normalised over all heads of each token, so before the swap: every rank still holds whole tokens.
        query, key = attn.norm_q(query), attn.norm_k(key)
        q, k, v = (self.ranks.tokens_to_heads(t.unflatten(2, (attn.heads, -1))) for t in (query, key, value))
        n = self.shard.tokens
        q, k, v = q[:, :n], k[:, :n], v[:, :n]
        if rotary_emb is not None:
            q, k = _rotate(q, *rotary_emb), _rotate(k, *rotary_emb)
        self.record.add(q, k, v)
        out = functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        out = functional.pad(out.transpose(1, 2), (0, 0, 0, 0, 0, self.shard.padded - n))
        out = self.ranks.heads_to_tokens(out).flatten(2, 3).type_as(query)
        projected: torch.Tensor = attn.to_out[1](attn.to_out[0](out))
        return projected


@dataclass
class SequenceParallel:
    """Ulysses installed on one transformer (see the module's docstring); `remove` restores it."""

    transformer: Any
    ranks: UlyssesGroup
    record: AttentionRecord = field(default_factory=AttentionRecord)
    _shard: _Shard = field(default_factory=_Shard)
    _handles: list[Any] = field(default_factory=list)
    _processors: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        heads = self.transformer.config.num_attention_heads
        if heads % self.ranks.degree:
            raise BadInput(f"LV_GPU_COUNT: {heads} attention heads do not split over {self.ranks.degree} ranks")
        blocks = self.transformer.blocks
        self._handles.append(blocks[0].register_forward_pre_hook(self._split, with_kwargs=True))
        self._handles.append(self.transformer.proj_out.register_forward_hook(self._gather))
        processor = UlyssesAttention(self.ranks, self._shard, self.record)
        for block in blocks:
            self._processors.append(block.attn1.processor)
            block.attn1.processor = processor

    def _split(self, _module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        hidden, *rest = args
        if rest and isinstance(rest[1], torch.Tensor) and rest[1].ndim == 4:
            # Per-token timestep modulation (Wan 2.2 TI2V 5B) would need splitting too; the SVI models have none.
            raise RuntimeError("per-token timesteps are not split across ranks")
        tokens = hidden.shape[1]
        padded = -(-tokens // self.ranks.degree) * self.ranks.degree
        self._shard.tokens, self._shard.padded = tokens, padded
        local = padded // self.ranks.degree
        hidden = functional.pad(hidden, (0, 0, 0, padded - tokens))
        return (hidden[:, self.ranks.rank * local : (self.ranks.rank + 1) * local], *rest), kwargs

    def _gather(self, _module: Any, _inputs: Any, output: torch.Tensor) -> torch.Tensor:
        return self.ranks.gather_tokens(output)[:, : self._shard.tokens]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        for block, processor in zip(self.transformer.blocks, self._processors, strict=True):
            block.attn1.processor = processor
        self._handles.clear()
        self._processors.clear()
