"""Integrated loudness (ITU-R BS.1770-4) and normalisation to -23 LUFS, as SVI-Talk prepares its audio.

SVI (and MultiTalk) normalise the whole decoded track to -23 LUFS before wav2vec2 sees it, with pyloudnorm's
K-weighting (RBJ-cookbook biquads: a +4 dB high shelf at 1500 Hz, Q 1/sqrt(2), then a high pass at 38 Hz, Q 0.5),
400 ms blocks with 75 % overlap, an absolute gate at -70 LUFS and a relative gate 10 LU below the absolutely gated
loudness. A track whose loudness is not finite or lies beyond +-100 LUFS (silence) is left as it is, as they do.
Written from the standard's description (docs/adr/0019-svi-talk-and-dance-verified.md); scipy is not needed: each
biquad is applied as a convolution with its impulse response, truncated where it has decayed below float64's
resolution.
"""

from __future__ import annotations

import math

import numpy as np

from longvideo_runtime.arrays import Array

TARGET_LUFS = -23.0
BLOCK_SECONDS = 0.4
BLOCK_OVERLAP = 0.75
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
#: Past this many samples at 16 kHz the K-weighting biquads' impulse responses are below 1e-30 of their peak.
_IMPULSE_SAMPLES = 16384


def _biquad(kind: str, gain_db: float, q: float, fc: float, rate: int) -> tuple[Array, Array]:
    """Normalised (b, a) of an RBJ-cookbook biquad."""
    a_gain = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * fc / rate
    cos_w0 = math.cos(w0)
    alpha = math.sin(w0) / (2 * q)
    if kind == "high_shelf":
        root = 2 * math.sqrt(a_gain) * alpha
        b = [
            a_gain * ((a_gain + 1) + (a_gain - 1) * cos_w0 + root),
            -2 * a_gain * ((a_gain - 1) + (a_gain + 1) * cos_w0),
            a_gain * ((a_gain + 1) + (a_gain - 1) * cos_w0 - root),
        ]
        a = [
            (a_gain + 1) - (a_gain - 1) * cos_w0 + root,
            2 * ((a_gain - 1) - (a_gain + 1) * cos_w0),
            (a_gain + 1) - (a_gain - 1) * cos_w0 - root,
        ]
    elif kind == "high_pass":
        b = [(1 + cos_w0) / 2, -(1 + cos_w0), (1 + cos_w0) / 2]
        a = [1 + alpha, -2 * cos_w0, 1 - alpha]
    else:
        raise ValueError(f"unknown biquad {kind!r}")
    return np.array(b) / a[0], np.array(a) / a[0]


def _impulse_response(stages: list[tuple[Array, Array]], length: int) -> Array:
    signal = np.zeros(length)
    signal[0] = 1.0
    for b, a in stages:
        out = np.zeros(length)
        x1 = x2 = y1 = y2 = 0.0
        for n in range(length):
            x0 = float(signal[n])
            y0 = b[0] * x0 + b[1] * x1 + b[2] * x2 - a[1] * y1 - a[2] * y2
            out[n] = y0
            x2, x1, y2, y1 = x1, x0, y1, y0
        signal = out
    return signal


def k_weighted(samples: Array, rate: int) -> Array:
    """The K-weighted signal (float64), the same as running both biquads over it from rest."""
    response = _impulse_response(
        [
            _biquad("high_shelf", 4.0, 1 / math.sqrt(2), 1500.0, rate),
            _biquad("high_pass", 0.0, 0.5, 38.0, rate),
        ],
        _IMPULSE_SAMPLES,
    )
    x = samples.astype(np.float64)
    size = 1 << (len(x) + len(response) - 1).bit_length()
    out = np.fft.irfft(np.fft.rfft(x, size) * np.fft.rfft(response, size), size)
    weighted: Array = out[: len(x)]
    return weighted


def integrated_loudness(samples: Array, rate: int) -> float:
    """Gated loudness of a mono track in LUFS (-inf for silence); the track must be longer than one block."""
    if len(samples) < BLOCK_SECONDS * rate:
        raise ValueError(f"{len(samples)} samples are shorter than one {BLOCK_SECONDS} s loudness block")
    weighted = k_weighted(samples, rate)
    energy = np.concatenate([[0.0], np.cumsum(weighted**2)])
    step = 1.0 - BLOCK_OVERLAP
    blocks = round((len(samples) / rate - BLOCK_SECONDS) / (BLOCK_SECONDS * step)) + 1
    starts = [int(BLOCK_SECONDS * (j * step) * rate) for j in range(blocks)]
    ends = [min(int(BLOCK_SECONDS * (j * step + 1) * rate), len(samples)) for j in range(blocks)]
    z = np.array([(energy[u] - energy[s]) / (BLOCK_SECONDS * rate) for s, u in zip(starts, ends, strict=True)])
    with np.errstate(divide="ignore"):
        block_loudness = -0.691 + 10 * np.log10(z)
    above_absolute = block_loudness >= ABSOLUTE_GATE
    if not above_absolute.any():
        return -math.inf
    relative = -0.691 + 10 * math.log10(float(z[above_absolute].mean())) + RELATIVE_GATE
    gated = (block_loudness > relative) & (block_loudness > ABSOLUTE_GATE)
    if not gated.any():
        return -math.inf
    return -0.691 + 10 * math.log10(float(z[gated].mean()))


def normalized(samples: Array, rate: int, target: float = TARGET_LUFS) -> tuple[Array, float]:
    """(the track scaled to `target` LUFS, its measured loudness); unchanged when too short, silent or extreme."""
    if len(samples) < BLOCK_SECONDS * rate:
        return samples, math.nan
    loudness = integrated_loudness(samples, rate)
    if not math.isfinite(loudness) or abs(loudness) > 100:
        return samples, loudness
    gain = 10 ** ((target - loudness) / 20)
    scaled: Array = (samples * gain).astype(samples.dtype)
    return scaled, loudness
