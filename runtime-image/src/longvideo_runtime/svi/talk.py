"""SVI-Talk's audio stage: wav2vec2 over the whole track, the clip's window, MultiTalk's tokens and hooks.

SVI computes the features of the whole (loudness-normalised) track for every clip and slices the clip's frames
out of them, so a frame's features depend on the audio around it, not on where the clip starts; the worker does the
same, from the track decoded at 16 kHz mono. Besides conditioning_media's record of the window (`audioWindow`: start,
frames, sha256 of its samples), the segment's result gets the sha256 of the whole track fed to wav2vec2, its
loudness, the feature frames the window's context reached (clamped) and the sha256 of the features fed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from longvideo_runtime.arrays import Array
from longvideo_runtime.svi import audio_features, loudness
from longvideo_runtime.svi.audio_features import SAMPLE_RATE, AudioEncoder
from longvideo_runtime.svi.multitalk import AudioConditioning, load_multitalk
from longvideo_runtime.variants import MULTITALK_FILE, WAV2VEC_DIR


def sha256_hex(array: Array | torch.Tensor) -> str:
    """The sha256 of an array's bytes, in hex as conditioning_media records a window's."""
    data = array.detach().cpu().contiguous().numpy() if isinstance(array, torch.Tensor) else array
    return hashlib.sha256(np.ascontiguousarray(data).tobytes()).hexdigest()


@dataclass
class TalkModels:
    encoder: AudioEncoder
    audio: AudioConditioning


def load_talk(transformer: Any, models_dir: Path, device: torch.device) -> TalkModels:
    """wav2vec2 and MultiTalk from the model cache, MultiTalk hooked into `transformer` (inert until used)."""
    encoder = audio_features.load_audio_encoder(models_dir / WAV2VEC_DIR, device)
    multitalk = load_multitalk(models_dir / MULTITALK_FILE, transformer, encoder.layers, encoder.channels)
    return TalkModels(encoder, AudioConditioning(transformer, multitalk))


@dataclass(frozen=True)
class AudioTokens:
    tokens: torch.Tensor
    silent: torch.Tensor
    #: What the model was fed, added to result.json's `audioWindow` (conditioning_media's record of the window).
    record: dict[str, Any]


def clip_tokens(models: TalkModels, track: Array, start: int, frames: int, fps: int) -> AudioTokens:
    """Audio tokens of frames `start .. start + frames - 1` of `track` (float32 mono, 16 kHz, the whole input)."""
    normalised, lufs = loudness.normalized(track.astype(np.float32), SAMPLE_RATE)
    features = audio_features.frame_features(models.encoder, normalised, fps)
    window = audio_features.window_features(features, start, frames)
    first, later = audio_features.latent_groups(window)
    tokens = models.audio.tokens_for(first, later)
    silent = models.audio.tokens_for(torch.zeros_like(first), torch.zeros_like(later))
    indices = audio_features.window_indices(start, frames, features.shape[0])
    record = {
        "fps": fps,
        "trackSamples": len(track),
        "trackFrames": int(features.shape[0]),
        "trackSha256": sha256_hex(np.ascontiguousarray(track, dtype=np.float32)),
        "loudnessLufs": round(lufs, 3) if np.isfinite(lufs) else None,
        "featureIndices": [int(indices.min()), int(indices.max())],
        "featuresSha256": sha256_hex(window),
    }
    return AudioTokens(tokens, silent, record)
