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


def test_the_header_alone_is_read_and_a_cut_file_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(safetensors_io.dumps(sample()))
    header = safetensors_io.read_header(path)
    assert {k: (v.dtype, v.shape) for k, v in header.items()} == {
        "motion_frames": ("U8", (2, 4, 4, 3)),
        "motion_latents": ("F32", (16, 1, 6, 8)),
    }
    # Dtypes numpy lacks (model files are mostly BF16) are read from the header like any other.
    raw = b'{"w":{"dtype":"BF16","shape":[3,2],"data_offsets":[0,12]}}'
    (tmp_path / "bf16.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(12))
    assert safetensors_io.read_header(tmp_path / "bf16.safetensors")["w"].shape == (3, 2)
    (tmp_path / "cut.safetensors").write_bytes(len(raw).to_bytes(8, "little") + raw + bytes(11))
    with pytest.raises(safetensors_io.FormatError, match=r"truncated: its tensors need 12 bytes .* holds 11"):
        safetensors_io.read_header(tmp_path / "cut.safetensors")
    wrong = raw.replace(b"[0,12]", b"[0,10]")
    (tmp_path / "wrong.safetensors").write_bytes(len(wrong).to_bytes(8, "little") + wrong + bytes(12))
    with pytest.raises(safetensors_io.FormatError, match=r"data offsets 0\.\.10 do not match its BF16 shape \[3, 2\]"):
        safetensors_io.read_header(tmp_path / "wrong.safetensors")
