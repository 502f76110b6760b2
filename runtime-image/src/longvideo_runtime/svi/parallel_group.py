"""The processes of a sequence-parallel segment: this rank, its device, and the groups parallel_plan asks for.

Ranks find each other through torch.distributed's usual variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
MASTER_PORT), which svi/launcher.py sets for the processes it starts and torchrun would set the same way: NCCL with
rank r on cuda:r, gloo on the CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

from longvideo_runtime.errors import BadInput
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.svi.launcher import launched_rank
from longvideo_runtime.svi.models import choose_device
from longvideo_runtime.svi.parallel_plan import ParallelPlan, plan_segment

#: How long a collective may wait with every rank alive. The first one waits for rank 0 to load its models and
#: build the conditioning, hence the generous bound; a rank that dies is caught by the launcher at once, not by this.
COLLECTIVE_TIMEOUT = timedelta(minutes=30)
#: The most of LV_WAIT_SECONDS a collective's timeout allows for.
MAX_WAIT = timedelta(days=30)


@dataclass(frozen=True)
class Ranks:
    rank: int
    plan: ParallelPlan
    device: torch.device
    #: The ranks that split one pass's tokens with this one (Ulysses); None when it runs its pass alone.
    ulysses_group: Any | None
    #: CFG parallelism: this rank and its partner running the other pass at the same token shard; else None.
    pair_group: Any | None

    @property
    def branch(self) -> int:
        """0: this rank computes the conditional pass (and, without CFG parallelism, every pass); 1: unconditional."""
        return self.rank // self.plan.ulysses if self.plan.cfg else 0

    @property
    def ulysses_rank(self) -> int:
        return self.rank % self.plan.ulysses


def rank_device(setting: str, local_rank: int, world: int) -> torch.device:
    """cuda:<local rank> when LV_DEVICE resolves to CUDA (its index, if any, is the launcher's to choose), else CPU."""
    device = choose_device(setting)
    if device.type != "cuda":
        return device
    visible = torch.cuda.device_count()
    if visible < world:
        raise BadInput(f"LV_GPU_COUNT {world} needs {world} GPUs, {visible} are visible to the pod")
    return torch.device("cuda", local_rank)


def _cpu_threads(world: int) -> None:
    # gloo ranks share the machine's cores: without this each one starts a thread per core and they thrash.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    torch.set_num_threads(max(1, cores // world))


def collective_timeout(spec: SegmentSpec) -> timedelta:
    """COLLECTIVE_TIMEOUT, plus LV_WAIT_SECONDS for a warm attempt: its rank 0 waits for the hand-off before the first
    broadcast, and the other ranks wait as long (capped, so that any LV_WAIT_SECONDS makes a timedelta)."""
    if not spec.warm:
        return COLLECTIVE_TIMEOUT
    return COLLECTIVE_TIMEOUT + timedelta(seconds=min(spec.wait_seconds, MAX_WAIT.total_seconds()))


def join(spec: SegmentSpec, log: Logger) -> Ranks:
    """Joins the launch's process group and makes the plan's subgroups."""
    found = launched_rank()
    if found is None:
        raise RuntimeError("LV_GPU_COUNT > 1 runs through the segment command's launcher (RANK, WORLD_SIZE unset)")
    rank, world, local_rank = found
    if world != spec.svi.gpu_count:
        raise BadInput(f"WORLD_SIZE {world} is not LV_GPU_COUNT {spec.svi.gpu_count}")
    plan = plan_segment(spec)
    device = rank_device(spec.svi.device, local_rank, world)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        _cpu_threads(world)
    dist.init_process_group(
        "nccl" if device.type == "cuda" else "gloo",
        init_method="env://",
        rank=rank,
        world_size=world,
        timeout=collective_timeout(spec),
    )
    ranks = make_ranks(rank, plan, device)
    log.info(
        "ranks-joined",
        rank=rank,
        ranks=world,
        device=str(device),
        cfg_parallel=plan.cfg,
        ulysses=plan.ulysses,
        branch=ranks.branch,
    )
    return ranks


def make_ranks(rank: int, plan: ParallelPlan, device: torch.device) -> Ranks:
    """The plan's subgroups, in a joined process group: every rank makes every group, in the same order."""
    world = plan.ranks
    halves = [range(world // 2), range(world // 2, world)] if plan.cfg else [range(world)]
    ulysses_group = None
    for members in halves:
        group = dist.new_group(list(members)) if len(members) > 1 else None
        if rank in members:
            ulysses_group = group
    pair_group = None
    if plan.cfg:
        half = world // 2
        for first in range(half):
            group = dist.new_group([first, first + half])
            if rank in (first, first + half):
                pair_group = group
    return Ranks(rank, plan, device, ulysses_group, pair_group)


def broadcast(ranks: Ranks, value: Any) -> Any:
    """Rank 0's `value` on every rank (tensors travel on the CPU and land on this rank's device)."""
    box = [_to(value, torch.device("cpu")) if ranks.rank == 0 else None]
    dist.broadcast_object_list(box, src=0)
    return _to(box[0], ranks.device)


def _to(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
