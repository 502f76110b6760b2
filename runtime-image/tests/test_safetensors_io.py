"""The numpy safetensors codec: canonical bytes, read by the official library, corrupt files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from longvideo_runtime import safetensors_io


def sample() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "motion_latents": rng.standard_normal((16, 1, 6, 8)).astype(np.float32),
        "motion_frames": rng.integers(0, 255, (2, 4, 4, 3), dtype=np.uint8),
    }


def test_round_trip_and_canonical_bytes() -> None:
    data = safetensors_io.dumps(sample(), {"b": "2", "a": "1"})
    assert data == safetensors_io.dumps(dict(reversed(list(sample().items()))), {"a": "1", "b": "2"})
    tensors, meta = safetensors_io.loads(data)
    assert meta == {"a": "1", "b": "2"}
    for name, value in sample().items():
        np.testing.assert_array_equal(tensors[name], value)
        assert tensors[name].dtype == value.dtype


def test_official_library_reads_the_files(tmp_path: Path) -> None:
    safetensors_numpy = pytest.importorskip("safetensors.numpy")
    from safetensors import safe_open

    path = tmp_path / "x.safetensors"
    path.write_bytes(safetensors_io.dumps(sample(), {"consumed": "sha256:00"}))
    loaded = safetensors_numpy.load_file(str(path))
    np.testing.assert_array_equal(loaded["motion_latents"], sample()["motion_latents"])
    with safe_open(str(path), framework="numpy") as f:
        assert f.metadata() == {"consumed": "sha256:00"}


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b[:4],
        lambda b: b[:-3],
        lambda b: (10**9).to_bytes(8, "little") + b[8:],
        lambda b: b[:8] + b"[" + b[9:],
    ],
)
def test_corrupt_files_raise_format_errors(mangle: object) -> None:
    data = safetensors_io.dumps(sample())
    with pytest.raises(safetensors_io.FormatError):
        safetensors_io.loads(mangle(data))  # type: ignore[operator]
