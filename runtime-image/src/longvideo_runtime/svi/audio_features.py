"""wav2vec2 audio features per video frame, windowed the way SVI-Talk (after MultiTalk) feeds them to the DiT.

What SVI does (docs/adr/0019-svi-talk-and-dance-verified.md):

- The whole track, mono at 16 kHz and loudness-normalised (loudness.py), goes through chinese-wav2vec2-base:
  its feature extractor (zero mean, unit variance), its convolutional encoder (50 feature frames a second), then the
  conv features are resampled linearly (align_corners) to `int(seconds * fps)` video frames *before* the feature
  projection and the transformer encoder. The hidden states of every transformer layer (all but the embedding
  output) are stacked: [frames, layers (12), channels (768)].
- Clip i takes frames `start .. start + frames - 1` of that sequence, each with its two neighbours on either side
  (a 5-frame window), indices clamped to the track (past the end the last frame repeats): [frames, 5, layers, C].
- The first video frame keeps its 5-frame window; every later group of 4 frames (one latent frame) keeps the first
  frame's window up to its centre (3), the centres of the two middle frames (2) and the last frame's window from its
  centre (3): 8 entries per latent frame.

Transformers' own Wav2Vec2Model is used, module by module, so that the interpolation sits where SVI puts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from longvideo_runtime.arrays import Array
from longvideo_runtime.errors import BadInput
from longvideo_runtime.variants import FRAMES_PER_LATENT

SAMPLE_RATE = 16000
#: Frames of audio context per video frame: the frame and two neighbours on either side.
WINDOW = 5
#: Window entries one latent frame (after the first) gets: 3 + 1 + 1 + 3.
LATENT_WINDOW = WINDOW + FRAMES_PER_LATENT - 1


@dataclass
class AudioEncoder:
    feature_extractor: Any
    model: Any
    device: torch.device

    @property
    def layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    @property
    def channels(self) -> int:
        return int(self.model.config.hidden_size)


def load_audio_encoder(directory: Path, device: torch.device) -> AudioEncoder:
    """chinese-wav2vec2-base (or any Wav2Vec2Model) from a transformers directory, in float32, as SVI runs it."""
    from transformers import Wav2Vec2FeatureExtractor, Wav2Vec2Model

    if not (directory / "config.json").is_file():
        raise BadInput(f"wav2vec2 directory {directory} has no config.json (expected chinese-wav2vec2-base)")
    try:
        extractor = Wav2Vec2FeatureExtractor.from_pretrained(directory, local_files_only=True)
        model = Wav2Vec2Model.from_pretrained(directory, torch_dtype=torch.float32, local_files_only=True)
    except OSError as e:
        raise BadInput(f"wav2vec2 model in {directory} cannot be loaded: {e}") from e
    model.to(device).eval()
    return AudioEncoder(extractor, model, device)


def video_frames(samples: int, fps: int) -> int:
    """Video frames a track of `samples` at 16 kHz stands for, truncated as SVI does."""
    return int(samples / SAMPLE_RATE * fps)


@torch.no_grad()
def frame_features(encoder: AudioEncoder, samples: Array, fps: int) -> torch.Tensor:
    """[frames, layers, channels] float32 on the CPU: every transformer layer's output per video frame."""
    frames = video_frames(len(samples), fps)
    if frames < 1:
        raise BadInput(f"the audio holds {len(samples)} samples at 16 kHz: less than one video frame at {fps} fps")
    values = np.asarray(encoder.feature_extractor(samples, sampling_rate=SAMPLE_RATE).input_values[0])
    model = encoder.model
    x = torch.from_numpy(values.astype(np.float32))[None].to(encoder.device)
    conv = model.feature_extractor(x)  # [1, conv channels, 50 Hz frames]
    conv = torch.nn.functional.interpolate(conv, size=frames, mode="linear", align_corners=True)
    hidden, _ = model.feature_projection(conv.transpose(1, 2))
    out = model.encoder(hidden, output_hidden_states=True, return_dict=True)
    stacked = torch.stack(out.hidden_states[1:], dim=1)[0]  # [layers, frames, channels]
    features: torch.Tensor = stacked.transpose(0, 1).float().cpu().contiguous()
    return features


def window_indices(start: int, frames: int, available: int) -> torch.Tensor:
    """[frames, 5]: each frame's index and its neighbours', clamped to the track's frames."""
    half = WINDOW // 2
    centres = torch.arange(start, start + frames)[:, None]
    return (centres + torch.arange(-half, half + 1)[None]).clamp(0, available - 1)


def window_features(features: torch.Tensor, start: int, frames: int) -> torch.Tensor:
    """[frames, 5, layers, channels]: the clip's frames with their context, as SVI slices them."""
    return features[window_indices(start, frames, features.shape[0])]


def latent_groups(window: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(first [1, 1, 5, L, C], later [1, T-1, 8, L, C]) from a clip's windows [frames, 5, L, C]."""
    frames = window.shape[0]
    if frames % FRAMES_PER_LATENT != 1:
        raise ValueError(f"{frames} frames are not 4n+1")
    middle = WINDOW // 2
    first = window[None, :1]
    later = window[1:].reshape(-1, FRAMES_PER_LATENT, *window.shape[1:])  # [T-1, 4, 5, L, C]
    grouped = torch.cat(
        [
            later[:, 0, : middle + 1],
            later[:, 1:-1, middle],
            later[:, -1, middle:],
        ],
        dim=1,
    )
    return first, grouped[None]
