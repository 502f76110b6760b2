"""The handoff from segment i to segment i+1: `segments/<i>/<key>-<attempt>/latents.safetensors`.

Its digest is the sha256 of the file's bytes (the writer is canonical, so equal content gives an equal digest).
Right after the file, handoff.json commits it ({"latentsDigest", "committedAt"}): a warm successor (LV_INPUT_FROM,
warm.py) waits for that commit and checks the file against it. The operator passes that digest to the next segment
as LV_INPUT_DIGEST; the next segment looks for it among the complete attempt directories of segment i (by the
digest their result.json records, then by the file's own) and refuses any other file.

Tensors by backend and protocol:
- svi, pixel protocol (shot, film): `motion_frames` uint8 [k, H, W, 3], the last k decoded frames of the clip.
- svi, latent protocol (pro): `motion_latents` float32 [16, m, H/8, W/8], the clip's last m latent frames, and
  `anchor_latent` float32 [16, 1, H/8, W/8], the reference image's latent (so no later segment re-encodes it).
- animatic: `motion_frames` uint8 [k, H, W, 3] (pixel) or [4m, H, W, 3] (latent), clean frames without captions.

Metadata (all strings): format, backend, variant, protocol, segment, plan (LV_SEGMENT_HASH), consumed (the digest
of the handoff this segment started from, empty for a chain's first segment), width, height, frames, seed, shapes
("name:DTYPE[dims];..."). With `plan` and `consumed` in the bytes, a digest names one segment of one plan on one
chain: two plans whose tensors happen to be equal (an animatic whose prompt changed) still hand off distinct files.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvideo_runtime import attempts, fsio, safetensors_io, workspace_layout
from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput, HandoffError
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.variants import FRAMES_PER_LATENT, VAE_SCALE
from longvideo_runtime.workspace_layout import HANDOFF_COMMIT_FILE, HANDOFF_FILE, RESULT_FILE

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
        "plan": spec.segment_hash,
        "consumed": spec.input_digest,
        "width": str(spec.width),
        "height": str(spec.height),
        "frames": str(spec.frames),
        "seed": str(spec.seed),
        "shapes": describe(tensors),
    }
    return safetensors_io.dumps(tensors, metadata)


def write(spec: SegmentSpec, tensors: Mapping[str, Array]) -> tuple[Path, str]:
    """Writes the handoff into this attempt's directory; returns its path and digest."""
    data = encode(spec, tensors)
    target = spec.attempt_dir / HANDOFF_FILE
    fsio.write_bytes(target, data)
    return target, fsio.sha256_file(target)


def _find(spec: SegmentSpec) -> tuple[Path, bytes]:
    """The bytes of segment i-1's handoff whose digest is LV_INPUT_DIGEST, from a complete attempt directory."""
    previous = spec.index - 1
    searched = workspace_layout.segment_dir(spec.workspace, previous)
    problems: list[str] = []
    for candidate in attempts.handing_off(spec.workspace, previous, spec.input_digest):
        path = candidate.directory / HANDOFF_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            problems.append(f"{path} is missing")
            continue
        except OSError as e:
            problems.append(f"cannot read {path}: {e.strerror or e}")
            continue
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if digest == spec.input_digest:
            return path, data
        problems.append(f"{path} has digest {digest} (corrupt)")
    found = "; ".join(problems) if problems else f"no complete attempt's {RESULT_FILE} records it"
    raise HandoffError(
        f"segment {previous}'s latents {spec.input_digest} are not in {searched}/*/: {found} "
        "(the previous segment's files are gone or damaged: render it again)",
        missing_segment=previous,
    )


def write_commit(directory: Path, digest: str, committed_at: str) -> None:
    """Commits the hand-off `directory` holds (ADR 0026): handoff.json, atomically, after latents.safetensors."""
    record = {"latentsDigest": digest, "committedAt": committed_at}
    fsio.write_bytes(directory / HANDOFF_COMMIT_FILE, (json.dumps(record, sort_keys=True) + "\n").encode())


def read_previous(spec: SegmentSpec) -> Handoff:
    """Segment i-1's handoff, found by LV_INPUT_DIGEST and checked to fit this segment's settings."""
    path, data = _find(spec)
    return _check(spec, path, data)


def read_committed(spec: SegmentSpec, directory: Path) -> Handoff:
    """The hand-off a warm attempt's predecessor committed in `directory`, whose digest must be LV_INPUT_DIGEST's
    stand-in, the digest its handoff.json names (spec.input_digest once seen)."""
    path = directory / HANDOFF_FILE
    previous = spec.index - 1
    try:
        data = path.read_bytes()
    except OSError as e:
        raise HandoffError(
            f"segment {previous}'s committed latents {path} cannot be read: {e.strerror or e}",
            missing_segment=previous,
        ) from None
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if digest != spec.input_digest:
        raise HandoffError(
            f"{path} has digest {digest}, but its {HANDOFF_COMMIT_FILE} commits {spec.input_digest} (corrupt or "
            "replaced)",
            missing_segment=previous,
        )
    return _check(spec, path, data)


def _check(spec: SegmentSpec, path: Path, data: bytes) -> Handoff:
    """The hand-off in `data` (whose digest is spec.input_digest), checked to fit this segment's settings."""
    digest = spec.input_digest
    previous = spec.index - 1
    try:
        tensors, metadata = safetensors_io.loads(data)
    except safetensors_io.FormatError as e:
        raise HandoffError(f"{path} is not a valid safetensors file: {e}", missing_segment=previous) from e
    if metadata.get("format") != FORMAT:
        raise HandoffError(
            f"{path} is not a LongVideo handoff (format {metadata.get('format')!r})", missing_segment=previous
        )
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
            raise HandoffError(f"{path}: tensor {name!r} holds NaN or infinite values", missing_segment=previous)
    return Handoff(tensors=tensors, metadata=metadata, digest=digest, path=path)
