"""The safetensors format in numpy alone, written canonically (sorted names, sorted metadata, fixed padding).

The handoff must be readable and writable without torch (the CPU image's animatic backend) and byte-for-byte
deterministic, so that the same latents always have the same digest. Files are ordinary safetensors: the
`safetensors` library reads them (a test checks this).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from longvideo_runtime.arrays import Array

_DTYPES: dict[str, np.dtype[np.generic]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}
_MAX_HEADER = 100 * 1024 * 1024


#: Bytes per element of every dtype the format names, those numpy lacks included (model files are mostly BF16).
_ITEM_BYTES = {
    **{code: dtype.itemsize for code, dtype in _DTYPES.items()},
    "BF16": 2,
    "U16": 2,
    "U32": 4,
    "U64": 8,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


class FormatError(ValueError):
    pass


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as a file's header describes it (offsets into the data after the header)."""

    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def dumps(tensors: Mapping[str, Array], metadata: Mapping[str, str] | None = None) -> bytes:
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {k: str(metadata[k]) for k in sorted(metadata)}
    blobs: list[bytes] = []
    offset = 0
    for name in sorted(tensors):
        array = np.ascontiguousarray(tensors[name])
        dtype = array.dtype.newbyteorder("<") if array.dtype.byteorder == ">" else array.dtype
        code = _NAMES.get(np.dtype(dtype))
        if code is None:
            raise FormatError(f"tensor {name!r}: dtype {array.dtype} is not supported")
        data = array.astype(_DTYPES[code], copy=False).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    encoded = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    return struct.pack("<Q", len(encoded)) + encoded + b"".join(blobs)


def loads(data: bytes) -> tuple[dict[str, Array], dict[str, str]]:
    if len(data) < 8:
        raise FormatError("file is shorter than a safetensors header")
    (size,) = struct.unpack("<Q", data[:8])
    if size > _MAX_HEADER or 8 + size > len(data):
        raise FormatError(f"header length {size} does not fit a file of {len(data)} bytes")
    try:
        header = json.loads(data[8 : 8 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError("header is not a JSON object")
    raw_meta = header.pop("__metadata__", {}) or {}
    if not isinstance(raw_meta, dict):
        raise FormatError("__metadata__ is not an object")
    body = memoryview(data)[8 + size :]
    tensors: dict[str, Array] = {}
    for name, info in header.items():
        try:
            dtype = _DTYPES[info["dtype"]]
            shape = tuple(int(d) for d in info["shape"])
            start, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"tensor {name!r}: bad or unsupported header entry {info!r}") from None
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not 0 <= start <= end <= len(body) or end - start != count * dtype.itemsize:
            raise FormatError(f"tensor {name!r}: data offsets {start}..{end} do not match its shape {shape}")
        tensors[name] = np.frombuffer(body[start:end], dtype=dtype).reshape(shape).copy()
    return tensors, {str(k): str(v) for k, v in raw_meta.items()}


def load(path: Path) -> tuple[dict[str, Array], dict[str, str]]:
    return loads(path.read_bytes())


def read_header(path: Path) -> dict[str, TensorEntry]:
    """The tensors a safetensors file's header lists, reading the header only (model files are tens of GB).

    FormatError says what is wrong: too short, a header that is not JSON or does not fit the file, an entry without
    dtype, shape or offsets, or tensors whose data would end past the file's end (a truncated download).
    """
    with path.open("rb") as f:
        file_bytes = os.fstat(f.fileno()).st_size
        first = f.read(8)
        if len(first) < 8:
            raise FormatError(f"the file has {file_bytes} bytes, fewer than a safetensors header's 8")
        (size,) = struct.unpack("<Q", first)
        if size > _MAX_HEADER or 8 + size > file_bytes:
            raise FormatError(f"its header length {size} does not fit a file of {file_bytes} bytes")
        raw = f.read(size)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FormatError(f"its header is not JSON: {e}") from None
    if not isinstance(header, dict):
        raise FormatError("its header is not a JSON object")
    header.pop("__metadata__", None)
    data_bytes = file_bytes - 8 - size
    entries: dict[str, TensorEntry] = {}
    for name, info in header.items():
        try:
            dtype = str(info["dtype"])
            shape = tuple(int(d) for d in info["shape"])
            start, end = (int(x) for x in info["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise FormatError(f"tensor {name!r}: bad header entry {json.dumps(info)[:120]}") from None
        count = 1
        for d in shape:
            count *= d
        item = _ITEM_BYTES.get(dtype)
        if not 0 <= start <= end or (item is not None and end - start != count * item):
            raise FormatError(
                f"tensor {name!r}: data offsets {start}..{end} do not match its {dtype} shape {list(shape)}"
            )
        entries[name] = TensorEntry(dtype, shape, start, end)
    end_of_data = max((e.end for e in entries.values()), default=0)
    if end_of_data > data_bytes:
        raise FormatError(
            f"truncated: its tensors need {end_of_data} bytes of data after the header, the file holds {data_bytes}"
        )
    return entries
