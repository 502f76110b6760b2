"""The handoff from segment i to segment i+1: `segments/<i>/latents.safetensors`.

Its digest is the sha256 of the file's bytes (the writer is canonical, so equal content gives an equal digest).
The operator passes that digest to the next segment as LV_INPUT_DIGEST; the next segment refuses any other file.

Tensors by backend and protocol:
- svi, pixel protocol (shot, film): `motion_frames` uint8 [k, H, W, 3], the last k decoded frames of the clip.
- svi, latent protocol (pro): `motion_latents` float32 [16, m, H/8, W/8], the clip's last m latent frames, and
  `anchor_latent` float32 [16, 1, H/8, W/8], the reference image's latent (so no later segment re-encodes it).
- animatic: `motion_frames` uint8 [k, H, W, 3] (pixel) or [4m, H, W, 3] (latent), clean frames without captions.

Metadata (all strings): format, backend, variant, protocol, segment, consumed (the digest of the handoff this
segment started from, empty for segment 0), width, height, frames, seed, shapes ("name:DTYPE[dims];...").
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvideo_runtime import fsio, safetensors_io, workspace_layout
from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput, HandoffError
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.variants import FRAMES_PER_LATENT, VAE_SCALE

FORMAT = "longvideo.handoff/v1"
LATENT_CHANNELS = 16


@dataclass(frozen=True)
class Handoff:
    tensors: dict[str, Array]
    metadata: dict[str, str]
    digest: str
    path: Path


def expected_shapes(spec: SegmentSpec) -> dict[str, tuple[int, ...]]:
    """The tensors a segment with this spec writes (and so the ones its successor, with the same settings, reads)."""
    h, w = spec.height, spec.width
    if spec.backend == "animatic":
        count = spec.motion_frames if spec.protocol == "pixel" else FRAMES_PER_LATENT * spec.motion_frames
        return {"motion_frames": (count, h, w, 3)}
    if spec.protocol == "pixel":
        return {"motion_frames": (spec.motion_frames, h, w, 3)}
    lh, lw = h // VAE_SCALE, w // VAE_SCALE
    return {
        "motion_latents": (LATENT_CHANNELS, spec.motion_frames, lh, lw),
        "anchor_latent": (LATENT_CHANNELS, 1, lh, lw),
    }


def describe(tensors: Mapping[str, Array]) -> str:
    return ";".join(f"{n}:{tensors[n].dtype.str[1:]}{list(tensors[n].shape)}" for n in sorted(tensors))


def encode(spec: SegmentSpec, tensors: Mapping[str, Array]) -> bytes:
    shapes = expected_shapes(spec)
    actual = {name: tuple(t.shape) for name, t in tensors.items()}
    if actual != shapes:
        raise RuntimeError(f"backend produced handoff {actual}, expected {shapes}")
    metadata = {
        "format": FORMAT,
        "backend": spec.backend,
        "variant": spec.variant,
        "protocol": spec.protocol,
        "segment": str(spec.index),
        "consumed": spec.input_digest,
        "width": str(spec.width),
        "height": str(spec.height),
        "frames": str(spec.frames),
        "seed": str(spec.seed),
        "shapes": describe(tensors),
    }
    return safetensors_io.dumps(tensors, metadata)


def write(spec: SegmentSpec, tensors: Mapping[str, Array]) -> tuple[Path, str]:
    data = encode(spec, tensors)
    target = workspace_layout.handoff_path(spec.workspace, spec.index)
    fsio.write_bytes(target, data)
    return target, fsio.sha256_file(target)


def read_previous(spec: SegmentSpec) -> Handoff:
    """Segment i-1's handoff, verified against LV_INPUT_DIGEST and checked to fit this segment's settings."""
    path = workspace_layout.handoff_path(spec.workspace, spec.index - 1)
    if not path.is_file():
        raise HandoffError(f"segment {spec.index - 1}'s latents are missing: {path} does not exist")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HandoffError(f"cannot read {path}: {e.strerror or e}") from e

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if digest != spec.input_digest:
        raise HandoffError(
            f"{path} has digest {digest}, not the {spec.input_digest} this segment was asked to continue from "
            "(the previous segment was re-rendered or the file is corrupt)"
        )
    try:
        tensors, metadata = safetensors_io.loads(data)
    except safetensors_io.FormatError as e:
        raise HandoffError(f"{path} is not a valid safetensors file: {e}") from e
    if metadata.get("format") != FORMAT:
        raise HandoffError(f"{path} is not a LongVideo handoff (format {metadata.get('format')!r})")
    for key, want in (("backend", spec.backend), ("variant", spec.variant), ("segment", str(spec.index - 1))):
        if metadata.get(key) != want:
            raise BadInput(f"{path} was written with {key} {metadata.get(key)!r}; this segment needs {want!r}")
    shapes = expected_shapes(spec)
    actual = {name: tuple(t.shape) for name, t in tensors.items()}
    if actual != shapes:
        raise BadInput(
            f"{path} holds {describe(tensors)}, which does not fit this segment "
            f"({spec.width}x{spec.height}, {spec.motion_frames} motion frames): expected {shapes}"
        )
    for name, tensor in tensors.items():
        if tensor.dtype.kind == "f" and not np.isfinite(tensor).all():
            raise HandoffError(f"{path}: tensor {name!r} holds NaN or infinite values")
    return Handoff(tensors=tensors, metadata=metadata, digest=digest, path=path)
