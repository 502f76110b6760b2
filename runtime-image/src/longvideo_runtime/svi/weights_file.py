"""Reading an adapter's safetensors file and refusing keys that do not match, naming them (as lora.py does).

A key silently ignored, or a parameter silently left at its initial value, renders a different film: both fail the
segment with the keys listed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from longvideo_runtime.errors import BadInput

if TYPE_CHECKING:
    import torch

_LISTED = 12


def listed(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LISTED])
    return shown + (f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else "")


def read_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    if not path.is_file():
        raise BadInput(f"{what} file {path} does not exist")
    try:
        state: dict[str, torch.Tensor] = load_file(str(path), device="cpu")
    except Exception as e:  # safetensors raises its own error types
        raise BadInput(f"{what} file {path} is not a readable safetensors file: {e}") from e
    return state


def refuse_unmatched(path: Path, given: set[str], expected: set[str], target: str) -> None:
    """BadInput naming the file's keys that `target` has no parameter for, or the parameters it does not give."""
    extra = sorted(given - expected)
    if extra:
        raise BadInput(f"{path.name}: {len(extra)} key(s) match no parameter of {target}: {listed(extra)}")
    missing = sorted(expected - given)
    if missing:
        raise BadInput(f"{path.name}: {len(missing)} parameter(s) of {target} are missing: {listed(missing)}")
