"""A Talk segment's whole audio track, read through conditioning_media, and its clip's tokens.

The segment decodes the clip's window once (conditioning_media.load_conditioning) and records it; Talk also needs the
whole track, because a frame's features depend on the audio around it and SVI computes them over the whole track
for every clip, then slices the clip's window out of them.
"""

from __future__ import annotations

import dataclasses
import math

from longvideo_runtime import conditioning_media
from longvideo_runtime.arrays import Array
from longvideo_runtime.spec import ConditioningWindow, SegmentSpec
from longvideo_runtime.svi.audio_features import SAMPLE_RATE
from longvideo_runtime.svi.talk import AudioTokens, TalkModels, clip_tokens


def whole_track(spec: SegmentSpec, window: ConditioningWindow) -> Array:
    """The whole audio input, float32 mono at 16 kHz, decoded as conditioning_media decodes a window."""
    path = conditioning_media.locate_conditioning(spec, window, "audio")
    seconds = conditioning_media.media_duration_seconds(path, "audio")
    everything = dataclasses.replace(window, start_frame=0, frames=math.ceil(seconds * spec.fps) + 1, loop=False)
    track = conditioning_media.audio_window_samples(path, everything, spec.fps, SAMPLE_RATE)
    trimmed: Array = track[: round(seconds * SAMPLE_RATE)]
    return trimmed


def talk_audio(spec: SegmentSpec, models: TalkModels) -> AudioTokens:
    if spec.audio is None:
        raise ValueError("a talk segment without LV_AUDIO passed spec parsing")
    track = whole_track(spec, spec.audio)
    return clip_tokens(models, track, spec.audio.start_frame, spec.audio.frames, spec.fps)
