"""How a segment's ranks share its work (LV_GPU_COUNT), decided before any rank starts and without torch.

Two splits, both inside one transformer pass or one sampler step:

- CFG parallelism: when text guidance runs two passes per step (guidance scale above 1) and the count is even, half
  of the ranks run the conditional pass and the other half the unconditional one; the two predictions are swapped
  once per step. It costs one exchange of the output per step and splits the work exactly in two.
- Ulysses sequence parallelism, inside each of those groups (or over all ranks when there is one pass): the latent
  tokens are split across the group and every self-attention swaps to a split over heads (all-to-all), so the
  group's size must divide the model's heads.

Talk is refused: MultiTalk's audio attention pairs every token with its own latent frame's audio tokens, which this
split does not yet carry across ranks (see docs/adr/0023-sequence-parallel-segments.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from longvideo_runtime.errors import BadInput
from longvideo_runtime.spec import SegmentSpec

#: Counts listed as alternatives in a refusal: one node's GPUs, with room to spare.
LISTED_UP_TO = 16


@dataclass(frozen=True)
class ParallelPlan:
    ranks: int
    #: True: ranks [0, ranks/2) run the conditional pass, [ranks/2, ranks) the unconditional one.
    cfg: bool

    @property
    def ulysses(self) -> int:
        """Ranks that split one transformer pass's tokens (the Ulysses degree)."""
        return self.ranks // 2 if self.cfg else self.ranks


def two_text_passes(spec: SegmentSpec) -> bool:
    """Whether each sampler step runs the transformer twice (conditional, unconditional), as TextGuidance does."""
    return spec.guidance_scale > 1


def plan_for(ranks: int, two_passes: bool) -> ParallelPlan:
    return ParallelPlan(ranks, cfg=two_passes and ranks % 2 == 0)


def allowed_counts(heads: int, two_passes: bool, up_to: int = LISTED_UP_TO) -> list[int]:
    return [n for n in range(1, up_to + 1) if heads % plan_for(n, two_passes).ulysses == 0]


def model_heads(model: Path, two_experts: bool) -> int | None:
    """The transformer's attention heads from its config.json; None when it cannot be read (the ranks' model load
    then fails with the single-process message)."""
    heads: set[int] = set()
    for name in ("transformer", "transformer_2") if two_experts else ("transformer",):
        try:
            config = json.loads((model / name / "config.json").read_text())
            heads.add(int(config["num_attention_heads"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
    if len(heads) != 1:
        raise BadInput(f"model {model}: the two experts have different head counts {sorted(heads)}")
    return heads.pop()


def plan_segment(spec: SegmentSpec) -> ParallelPlan:
    """The plan for `spec`'s LV_GPU_COUNT, or BadInput naming LV_GPU_COUNT and why it cannot be split so."""
    count = spec.svi.gpu_count
    if spec.variant == "talk" and count > 1:
        raise BadInput(
            f"LV_GPU_COUNT {count}: the talk variant runs on one GPU only (its per-frame audio attention is not "
            "split across ranks); use LV_GPU_COUNT=1"
        )
    two_passes = two_text_passes(spec)
    plan = plan_for(count, two_passes)
    heads = model_heads(spec.svi.model, two_experts=spec.protocol == "latent")
    if heads is not None and heads % plan.ulysses != 0:
        split = f"{plan.ulysses} ranks per pass" + (" (CFG parallel halves the count)" if plan.cfg else "")
        raise BadInput(
            f"LV_GPU_COUNT {count}: the model's {heads} attention heads do not split over {split}; "
            f"allowed counts up to {LISTED_UP_TO} with guidance scale {spec.guidance_scale:g}: "
            f"{', '.join(map(str, allowed_counts(heads, two_passes)))}"
        )
    return plan
