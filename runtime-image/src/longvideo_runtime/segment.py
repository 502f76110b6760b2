"""The segment command: find and verify the handoff (or, warm, wait for its commit), render, trim, write this
attempt's own directory `segments/<i>/<key>-<attempt>/` file by file atomically: the hand-off and its commit
(handoff.json) as soon as the backend has the tensors, result.json last."""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from longvideo_runtime import __version__, attempts, conditioning_media, fsio, handoff, media, reference, warm
from longvideo_runtime.arrays import Array
from longvideo_runtime.backends import load_backend
from longvideo_runtime.conditioning_views import pose_strip, waveform
from longvideo_runtime.contract import CONTRACT
from longvideo_runtime.errors import BadInput
from longvideo_runtime.handoff import Handoff
from longvideo_runtime.logs import Logger
from longvideo_runtime.phases import PhaseClock, iso
from longvideo_runtime.rendering import Backend, Conditioning, RenderInput, needs_reference
from longvideo_runtime.spec import SegmentSpec
from longvideo_runtime.workspace_layout import (
    CLIP_FILE,
    CONDITIONING_FILE,
    HANDOFF_COMMIT_FILE,
    POSTER_FILE,
    RESULT_FILE,
    SEGMENT_FILES,
)

RESULT_SCHEMA = "longvideo.segment-result/v1"


def _stall_point(stage: str, log: Logger) -> None:
    """Fault injection for tests: LV_DEBUG_STALL_AT=<stage> parks the worker there (to be killed)."""
    if os.environ.get("LV_DEBUG_STALL_AT") == stage:
        log.warning("debug-stall", stage=stage)
        time.sleep(3600)


def _reuse(spec: SegmentSpec, log: Logger) -> dict[str, Any] | None:
    """A finished result of this very spec (same plan hash, inputs and digest chain) whose files are intact, if any.

    A candidate is an attempt directory of this attempt's key (the same plan hash and input digest) whose
    result.json records this spec's fingerprint. Any attempt may have made it (an earlier one finished but the
    operator never recorded it); this attempt then reports it and writes nothing. Its latents digest is what the
    operator records, and readers find it by digest.
    """
    fingerprint = spec.fingerprint()
    # The highest attempt first: the most recent complete result when several are intact.
    candidates = sorted(attempts.finished(spec.workspace, spec.index), key=lambda f: -f.name.attempt)
    for candidate in candidates:
        if candidate.name.key != spec.attempt_key:
            continue
        # A warm attempt's key names its predecessor's attempt, not a digest: its result is of the spec of the digest
        # it consumed (the operator adopts it only if that is the predecessor's recorded one).
        wanted = replace(spec, input_digest=candidate.input_digest).fingerprint() if spec.warm else fingerprint
        if candidate.result.get("fingerprint") != wanted:
            continue
        damage = candidate.damage(*SEGMENT_FILES)
        if damage is not None:
            log.warning("stale-result", directory=str(candidate.directory), detail=damage)
            continue
        log.info(
            "segment-reused",
            directory=str(candidate.directory),
            detail="a complete result of this spec whose files are intact",
        )
        return candidate.result
    return None


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """The termination message: short (Kubernetes keeps 4096 bytes), the contract's fields of a finished segment.

    `ok` is always true here; `reused` appears only when the segment was not rendered again.
    """
    short: dict[str, Any] = {}
    for key in CONTRACT.termination_message.segment:
        if key == "ok":
            short[key] = True
        elif key == "reused":
            if result.get(key):
                short[key] = True
        elif key == "phases" and isinstance(result.get(key), dict):
            # To the millisecond: the operator keeps them per segment, finer is noise.
            short[key] = {k: round(v, 3) for k, v in result[key].items()}
        elif key in result:
            short[key] = result[key]
    return short


def conditioning_strip(conditioning: Conditioning, width: int) -> Array | None:
    """A picture of what the clip was conditioned on, for the contact sheet: its audio's waveform or skeleton frames."""
    height = max(16, width // 8)
    if conditioning.audio is not None:
        return waveform(conditioning.audio, width, height)
    if conditioning.pose is not None:
        return pose_strip(conditioning.pose, width, max(16, width // 4))
    return None


class _Attempt:
    """This attempt's hand-off in and out and its phase instants: the Stages a backend is handed (rendering.py).

    `spec` becomes the spec of the digest consumed once a warm attempt has seen its predecessor's commit.
    """

    def __init__(self, spec: SegmentSpec, log: Logger, clock: PhaseClock, previous: Handoff | None) -> None:
        self.spec = spec
        self.log = log
        self.clock = clock
        self.timings: dict[str, float] = {}
        self._previous = previous
        self.asked = False
        self.committed: tuple[Path, str] | None = None

    def previous(self) -> Handoff | None:
        if self.asked:
            return self._previous
        self.asked = True
        self.clock.mark("ready")
        if self.spec.warm:
            commit = warm.wait_for_commit(self.spec, self.log)
            self.clock.instants.setdefault("seen", commit.seen)
            self.spec = replace(self.spec, input_digest=commit.latents_digest)
            t = time.perf_counter()
            self._previous = handoff.read_committed(self.spec, self.spec.predecessor_dir)
            self.timings["handoff_read_seconds"] = time.perf_counter() - t
            _log_verified(self.log, self._previous)
        else:
            # Serial: read (and checked) before anything was loaded; nothing to wait for.
            self.clock.mark("seen")
        return self._previous

    def mark(self, instant: str) -> None:
        self.clock.mark(instant)

    def commit(self, tensors: dict[str, Array]) -> None:
        if self.committed is not None:
            raise RuntimeError("the backend committed its hand-off twice")
        if not self.asked:
            raise RuntimeError("the backend committed a hand-off before it asked for its predecessor's")
        t = time.perf_counter()
        latents_path, digest = handoff.write(self.spec, tensors)
        committed = self.clock.mark("committed")
        handoff.write_commit(self.spec.attempt_dir, digest, iso(committed))
        self.committed = (latents_path, digest)
        self.timings["handoff_write_seconds"] = time.perf_counter() - t
        self.log.info("handoff-committed", digest=digest)
        _stall_point("after-commit", self.log)


def _log_verified(log: Logger, previous: Handoff) -> None:
    log.info(
        "handoff-verified", digest=previous.digest, path=str(previous.path), shapes=previous.metadata.get("shapes")
    )


def run_segment(
    spec: SegmentSpec, log: Logger, backend: Backend | None = None, clock: PhaseClock | None = None
) -> dict[str, Any]:
    """Renders the segment into its attempt directory; `clock` holds the process's start (the CLI's), else now."""
    clock = clock or PhaseClock()
    started = time.perf_counter()
    log = log.bind(segment=spec.index, backend=spec.backend, variant=spec.variant)
    previous_result = _reuse(spec, log)
    if previous_result is not None:
        return {**previous_result, "reused": True}
    # This attempt's own directory: no other attempt writes it (a pod of the same job run again may have left
    # temporaries or an unfinished result behind). It must not look finished until the new result.json lands, nor
    # committed until its new hand-off does.
    out_dir = spec.attempt_dir
    fsio.ensure_dir(out_dir)
    fsio.clean_stale_temps(out_dir)
    fsio.remove(out_dir / RESULT_FILE)
    fsio.remove(out_dir / HANDOFF_COMMIT_FILE)
    log.info("attempt-directory", directory=str(out_dir))

    timings: dict[str, float] = {}
    previous: Handoff | None = None
    if not spec.starts_chain and not spec.warm:
        # Serial: found and checked before any model loads, so a missing hand-off fails at once.
        t = time.perf_counter()
        previous = handoff.read_previous(spec)
        timings["handoff_read_seconds"] = time.perf_counter() - t
        _log_verified(log, previous)
    attempt = _Attempt(spec, log, clock, previous)

    image: Array | None = None
    if needs_reference(spec):
        t = time.perf_counter()
        path = reference.locate(spec)
        if path is not None and path.is_file():
            image = media.load_rgb(path, spec.width, spec.height)
        elif spec.backend == "svi":
            raise BadInput(f"the svi backend needs the reference image: {path or 'LV_REFERENCE_IMAGE is not set'}")
        timings["reference_seconds"] = time.perf_counter() - t

    t = time.perf_counter()
    conditioning = conditioning_media.load_conditioning(spec)
    if spec.audio is not None or spec.pose is not None:
        timings["conditioning_seconds"] = time.perf_counter() - t

    t = time.perf_counter()
    engine = backend or load_backend(spec.backend)
    timings["backend_import_seconds"] = time.perf_counter() - t
    log.info("render-start", frames=spec.frames, seed=spec.seed, steps=spec.steps)
    output = engine.render(RenderInput(spec=spec, stages=attempt, reference=image, log=log, conditioning=conditioning))
    if not attempt.asked:
        raise RuntimeError("the backend rendered without asking for its predecessor's hand-off")
    if attempt.committed is None:
        attempt.commit(output.handoff)
    assert attempt.committed is not None
    latents_path, latents_digest = attempt.committed
    # From here on, the spec of the digest consumed (a warm attempt's is known only now).
    spec = attempt.spec
    timings.update(output.timings)
    timings.update(attempt.timings)
    # The windows as decoded here, unless the backend reports what it fed its model itself.
    output.consumed = {**conditioning_media.consumed_windows(spec, conditioning), **output.consumed}
    frames = output.frames
    if frames.shape != (spec.frames, spec.height, spec.width, 3) or frames.dtype != np.uint8:
        raise RuntimeError(f"backend returned frames {frames.dtype}{frames.shape}")
    kept = frames[spec.trim_head : spec.frames - spec.trim_tail]
    log.info("render-done", kept=len(kept), trim_head=spec.trim_head, trim_tail=spec.trim_tail)

    clock.mark("encode")
    media.encode_h264(kept, spec.fps, out_dir / CLIP_FILE)
    clock.mark("encoded")
    _stall_point("after-clip", log)
    t = time.perf_counter()
    media.write_png(kept[len(kept) // 2], out_dir / POSTER_FILE)
    strip = conditioning_strip(conditioning, spec.width)
    if strip is not None:
        media.write_png(strip, out_dir / CONDITIONING_FILE)
    timings["poster_seconds"] = time.perf_counter() - t
    _stall_point("before-result", log)

    files = {
        name: {"digest": fsio.sha256_file(out_dir / name), "bytes": (out_dir / name).stat().st_size}
        for name in (CLIP_FILE, POSTER_FILE, latents_path.name)
    }
    phases = clock.phases()
    timings["encode_seconds"] = phases["encode"]
    result: dict[str, Any] = {
        "schema": RESULT_SCHEMA,
        "runtime": __version__,
        "segment": spec.index,
        "segmentHash": spec.segment_hash,
        "scene": spec.scene,
        "backend": spec.backend,
        "variant": spec.variant,
        "seed": spec.seed,
        "frames": spec.frames,
        "keptFrames": len(kept),
        "trimHead": spec.trim_head,
        "trimTail": spec.trim_tail,
        "fps": spec.fps,
        "width": spec.width,
        "height": spec.height,
        "inputDigest": spec.input_digest,
        # Not in the termination message (the contract's fields): concat and the operator go by inputDigest.
        "chainStart": spec.starts_chain,
        "latentsDigest": latents_digest,
        "fingerprint": spec.fingerprint(),
        "attempt": spec.attempt,
        "files": files,
        **output.consumed,
        "timings": {k: round(v, 4) for k, v in timings.items()},
        "phases": {k: round(v, 4) for k, v in phases.items()},
        # Every instant marked (phases.py), for a timeline; the contract's three are also top-level fields.
        "instants": {k: v for k, v in ((k, clock.at(k)) for k in clock.instants) if v is not None},
        **_contract_instants(clock, spec.warm),
        "seconds": round(time.perf_counter() - started, 3),
    }
    if spec.warm:
        result["inputFrom"] = spec.input_from
    fsio.write_bytes(out_dir / RESULT_FILE, (json.dumps(result, indent=2, sort_keys=True) + "\n").encode())
    log.info("segment-written", latents=latents_digest, seconds=result["seconds"], phases=result["phases"])
    return result


def _contract_instants(clock: PhaseClock, warm: bool) -> dict[str, str]:
    """committedAt, denoiseStartedAt, and handoffSeenAt for a warm attempt only (a serial one saw no commit)."""
    names = {"committedAt": "committed", "denoiseStartedAt": "denoise"}
    if warm:
        names["handoffSeenAt"] = "seen"
    found = {field: clock.at(instant) for field, instant in names.items()}
    return {k: v for k, v in found.items() if v is not None}
