"""The probe command: reads a film's audio track and skeleton video before the operator plans it, and reports how
long they are (the termination message's `audioSeconds`, `poseFrames`, `poseFps`); with LV_CHECK_MODELS, checks the
model cache holds the variant's files first (`modelFiles`: how many; model_cache_check.py).

An input that cannot be found, fetched or decoded fails with bad input (exit code 2) and the termination message's
`field` naming its spec field, so the film says which input to fix; a wrong model cache names
spec.storage.models.claimName and lists its problems (`modelProblems`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from longvideo_runtime.conditioning_media import locate_source, media_duration_seconds, video_frame_count
from longvideo_runtime.logs import Logger
from longvideo_runtime.model_cache_check import ModelCacheError, check_model_cache
from longvideo_runtime.spec import ProbeSpec


def run_probe(spec: ProbeSpec, log: Logger) -> dict[str, Any]:
    """The probe's termination message; raises BadInput (with `field`) for an input or model cache it refuses."""
    started = time.perf_counter()
    result: dict[str, Any] = {"ok": True, "kind": "probe"}
    if spec.check_models is not None:
        # First: it takes about a second and fetches nothing, and a wrong cache is the costlier surprise.
        report = check_model_cache(spec.models_dir, spec.check_models, spec.extra_loras)
        log.info(
            "models-checked",
            variant=report.variant,
            models_dir=str(report.models_dir),
            files=len(report.files),
            problems=len(report.problems),
            seconds=round(report.seconds, 3),
        )
        if not report.ok:
            raise ModelCacheError(report)
        result["modelFiles"] = len(report.files)
    # A url input is fetched into scratch space and dropped with it: the probe keeps nothing.
    with tempfile.TemporaryDirectory(prefix="lv-probe-", dir=_scratch(spec.workspace)) as scratch:
        workspace = Path(scratch)
        if spec.audio is not None:
            path = locate_source(spec.audio, spec.audio_dir, workspace, spec.fetch_policy, "audio")
            result["audioSeconds"] = round(media_duration_seconds(path, "audio"), 6)
            log.info("audio-read", seconds=result["audioSeconds"])
        if spec.pose is not None:
            path = locate_source(spec.pose, spec.pose_dir, workspace, spec.fetch_policy, "pose")
            counted = video_frame_count(path)
            result["poseFrames"] = counted.frames
            result["poseFps"] = round(counted.fps, 6)
            log.info("pose-read", frames=counted.frames, fps=counted.fps)
    result["elapsed"] = round(time.perf_counter() - started, 3)
    return result


def _scratch(workspace: Path) -> Path | None:
    return workspace if workspace.is_dir() else None
