"""A Talk or Dance segment's window, read through conditioning_media and turned into what the DiT is fed.

Talk: the whole track is decoded (the features of a frame depend on the audio around it, and SVI computes them over
the whole track for every clip), the clip's window is sliced from its features. The record also holds the sha256 of
the window's own samples as `conditioning_media.audio_window_samples` gives them, so a plan's window can be checked
against the segment's result without the models. Dance: the window's skeleton frames at the render size.
"""

from __future__ import annotations

import dataclasses
import math

from longvideo_runtime import conditioning_media
from longvideo_runtime.arrays import Array
from longvideo_runtime.spec import ConditioningWindow, SegmentSpec
from longvideo_runtime.svi.audio_features import SAMPLE_RATE
from longvideo_runtime.svi.dance import DanceModels, PoseFeatures, clip_pose
from longvideo_runtime.svi.talk import AudioTokens, TalkModels, clip_tokens, sha256_of


def whole_track(spec: SegmentSpec, window: ConditioningWindow) -> tuple[Array, Array]:
    """(the whole track, the window's own samples), float32 mono at 16 kHz."""
    path = conditioning_media.locate_conditioning(spec, window, "audio")
    seconds = conditioning_media.media_duration_seconds(path, "audio")
    everything = dataclasses.replace(window, start_frame=0, frames=math.ceil(seconds * spec.fps) + 1, loop=False)
    track = conditioning_media.audio_window_samples(path, everything, spec.fps, SAMPLE_RATE)
    own = conditioning_media.audio_window_samples(path, window, spec.fps, SAMPLE_RATE)
    return track[: round(seconds * SAMPLE_RATE)], own


def talk_audio(spec: SegmentSpec, models: TalkModels) -> AudioTokens:
    if spec.audio is None:
        raise ValueError("a talk segment without LV_AUDIO passed spec parsing")
    track, own = whole_track(spec, spec.audio)
    tokens = clip_tokens(models, track, spec.audio.start_frame, spec.audio.frames, spec.fps)
    tokens.record["sha256"] = sha256_of(own)
    tokens.record["samples"] = len(own)
    return tokens


def dance_pose(spec: SegmentSpec, models: DanceModels) -> PoseFeatures:
    if spec.pose is None:
        raise ValueError("a dance segment without LV_POSE passed spec parsing")
    path = conditioning_media.locate_conditioning(spec, spec.pose, "pose")
    frames = conditioning_media.pose_window_frames(path, spec.pose, spec.width, spec.height)
    return clip_pose(models, frames, spec.pose.start_frame, spec.pose.loop)
