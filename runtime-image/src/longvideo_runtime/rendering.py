"""What a rendering backend receives and returns; the segment command does everything around it.

Backends (animatic.py, svi/backend.py) import these types; backends.py, the registry, imports the backends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from longvideo_runtime.arrays import Array
from longvideo_runtime.handoff import Handoff
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SegmentSpec

#: The rate audio windows are decoded at: wav2vec2's (SVI's `audio_prepare_single(..., sample_rate=16000)`).
AUDIO_SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Conditioning:
    """What a segment is conditioned on besides its prompt and motion frames, decoded once (conditioning_media.py)."""

    #: Talk: float32 mono samples in [-1, 1] of the audio window at AUDIO_SAMPLE_RATE; None for the other variants.
    audio: Array | None = None
    #: Dance: uint8 [frames, H, W, 3] skeleton frames of the pose window at the render size; None otherwise.
    pose: Array | None = None


class Stages(Protocol):
    """How a backend tells the segment command where it is, and gets its hand-off in and out (ADR 0026).

    A backend calls `previous()` once, when everything that does not need the predecessor is loaded;
    `mark("denoise")`, `mark("denoised")`, `mark("decode")` and `mark("decoded")` where those phases start and end
    (phases.py); and `commit(tensors)` once, as soon as the successor's hand-off tensors exist. Only the process that
    writes the outputs (rank 0) calls them.
    """

    def previous(self) -> Handoff | None:
        """Segment i-1's verified hand-off, None for a chain's first segment; a warm attempt waits for it here."""
        ...

    def mark(self, instant: str) -> None: ...

    def commit(self, tensors: dict[str, Array]) -> None:
        """Writes the hand-off for segment i+1 and commits it (handoff.json): a warm successor may start from it."""
        ...


@dataclass(frozen=True)
class RenderInput:
    spec: SegmentSpec
    #: The hand-off in and out, and the phase marks (see Stages).
    stages: Stages
    #: The reference image at the render resolution, uint8 [H, W, 3]; None when the segment does not need it.
    reference: Array | None
    log: Logger
    #: Talk's audio window and Dance's skeleton frames, as SegmentSpec.audio / .pose name them.
    conditioning: Conditioning = field(default_factory=Conditioning)


@dataclass
class RenderOutput:
    #: Every generated frame (before trimming), uint8 [frames, H, W, 3].
    frames: Array
    #: The tensors for segment i+1 (see handoff.py).
    handoff: dict[str, Array]
    #: Seconds spent in model compute, loading, etc. (backend-specific keys).
    timings: dict[str, float] = field(default_factory=dict)
    #: What the segment consumed besides its handoff, recorded in result.json as it is: `audioWindow` (talk) and
    #: `poseWindow` (dance), so that the plan's windows can be checked against what each segment was fed.
    consumed: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    def render(self, request: RenderInput) -> RenderOutput: ...


def needs_reference(spec: SegmentSpec) -> bool:
    """A chain's first segment starts from the reference image (the chain's keyframe); reference padding repeats it
    in every clip."""
    return spec.starts_chain or (spec.backend == "svi" and spec.padding == "reference")
