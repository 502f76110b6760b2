"""The denoising loop of a sequence-parallel segment, and the whole life of ranks 1..P-1.

Rank 0 is the segment command as in one process: it reads the hand-off (a warm attempt's rank 0 waits for it, the
others meanwhile in the first broadcast, whose timeout allows for LV_WAIT_SECONDS), encodes text and images, builds the
condition, decodes the latents with the VAE and writes every output. It broadcasts what the loop needs (noise,
condition, prompt embeddings, image features, pose features) once; the other ranks load only the experts and
their adapters, run the same loop on their share of the work, and end without writing anything. Every rank ends
each step with the same latents (svi/ulysses.py gathers each pass's output, svi/cfg_parallel.py swaps the two
passes), so only rank 0's are used.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, nullcontext

import torch

from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.svi import models
from longvideo_runtime.svi.adapters import merge_adapters
from longvideo_runtime.svi.cfg_parallel import SplitTextGuidance
from longvideo_runtime.svi.dance import DanceModels
from longvideo_runtime.svi.guidance import Guidance, TextGuidance
from longvideo_runtime.svi.parallel_group import Ranks, broadcast, join, leave
from longvideo_runtime.svi.sampler import ExpertSwitch, sample
from longvideo_runtime.svi.ulysses import AttentionRecord, SequenceParallel, UlyssesGroup

#: What rank 0 sends the others (None where the segment has none).
Job = dict[str, torch.Tensor | None]


def job(
    noise: torch.Tensor,
    condition: torch.Tensor,
    text: torch.Tensor,
    negative: torch.Tensor | None,
    image: torch.Tensor | None,
    pose: torch.Tensor | None,
) -> Job:
    return {"noise": noise, "condition": condition, "text": text, "negative": negative, "image": image, "pose": pose}


def _tensor(job: Job, name: str) -> torch.Tensor:
    value = job[name]
    if value is None:
        raise RuntimeError(f"the denoising job has no {name}")
    return value


def _guidance(ranks: Ranks, job: Job, scale: float) -> Guidance:
    text, negative, image = _tensor(job, "text"), job["negative"], job["image"]
    if ranks.plan.cfg:
        if negative is None:
            raise RuntimeError("CFG parallelism without a negative prompt's embeddings")
        return SplitTextGuidance(text, negative, image, scale, ranks.branch, ranks.pair_group)
    return TextGuidance(text, negative, image, scale)


def denoise(
    ranks: Ranks,
    spec: SegmentSpec,
    experts: ExpertSwitch,
    job: Job,
    dtype: torch.dtype,
    dance: DanceModels | None,
    log: Logger,
) -> torch.Tensor:
    """This rank's part of the sampler loop; the final latents (the same on every rank)."""
    record = AttentionRecord()
    installed: list[SequenceParallel] = []
    if ranks.plan.ulysses > 1:
        group = UlyssesGroup(ranks.ulysses_group, ranks.plan.ulysses, ranks.ulysses_rank)
        installed = [SequenceParallel(t, group, record) for t in (experts.high, experts.low) if t is not None]
    posed: AbstractContextManager[None] = nullcontext()
    if dance is not None:
        posed = dance.pose.active(job["pose"])
    started = time.perf_counter()
    try:
        with posed:
            latents = sample(
                experts,
                _tensor(job, "noise"),
                _tensor(job, "condition"),
                _guidance(ranks, job, spec.guidance_scale),
                spec.steps,
                spec.svi.shift,
                dtype,
                on_step=lambda i, ts: log.debug("step", step=i + 1, of=spec.steps, timestep=round(ts, 2)),
            )
    finally:
        for done in installed:
            done.remove()
    log.info(
        "rank-denoised",
        rank=ranks.rank,
        branch=ranks.branch,
        ulysses=ranks.plan.ulysses,
        attention_calls=record.calls,
        attention_qkv_shape=list(record.qkv_shape),
        attention_qkv_bytes=record.qkv_bytes,
        seconds=round(time.perf_counter() - started, 3),
    )
    return latents


def serve(spec: SegmentSpec, log: Logger) -> None:
    """Ranks 1..P-1: join, load the experts, wait for rank 0's job, denoise, leave. Nothing is written."""
    ranks = join(spec, log)
    transformer, transformer_2, dtype = models.load_transformers(spec.svi, spec.protocol == "latent", ranks.device)
    _, dance = merge_adapters(spec, transformer, transformer_2, ranks.device)
    received: Job = broadcast(ranks, None)
    experts = ExpertSwitch(transformer, transformer_2, spec.svi.boundary_ratio, ranks.device)
    denoise(ranks, spec, experts, received, dtype, dance, log)
    leave()
