"""Helpers to render a chain of segments through the CLI, as the operator would."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from conftest import Run, run_cli

#: Frame size and count of the tiny svi renders.
W, H, FRAMES = 64, 48, 13


def segment_env(workspace: Path, index: int, count: int, **extra: str) -> dict[str, str]:
    return {
        "LV_WORKSPACE": str(workspace),
        "LV_SEGMENT_INDEX": str(index),
        "LV_SEGMENT_COUNT": str(count),
        "LV_SEED": str(index * 42),
        **extra,
    }


def svi_env(models: dict[str, Path], variant: str, reference: Path, **extra: str) -> dict[str, str]:
    """The svi backend on the tiny models (tests layout, see svi/tiny.py), 3 sampler steps."""
    pro = variant == "pro"
    env = {
        "LV_BACKEND": "svi",
        "LV_VARIANT": variant,
        "LV_WIDTH": str(W),
        "LV_HEIGHT": str(H),
        "LV_FRAMES": str(FRAMES),
        "LV_STEPS": "3",
        "LV_FPS": "16",
        "LV_MODELS_DIR": str(models["wan21"].parent),
        "LV_MODEL": "wan22-i2v" if pro else "wan21-i2v",
        "LV_LORA": "svi/svi-pro-high.safetensors" if pro else f"svi/svi-{variant}.safetensors",
        "LV_LORA_2": "svi/svi-pro-low.safetensors" if pro else "",
        "LV_REFERENCE_IMAGE_PATH": str(reference),
    }
    env.update(extra)
    return env


def latents_digest(workspace: Path, index: int) -> str:
    result = json.loads((workspace / "segments" / str(index) / "result.json").read_text())
    return str(result["latentsDigest"])


def render_chain(
    workspace: Path,
    count: int,
    prompts: list[str],
    tmp: Path,
    command: Sequence[str] | None = None,
    **extra: str,
) -> list[Run]:
    """Renders segments 0..count-1, each from the previous one's latents; `command` as in run_cli."""
    runs: list[Run] = []
    digest = ""
    for i in range(count):
        env = segment_env(workspace, i, count, LV_PROMPT=prompts[i % len(prompts)], LV_INPUT_DIGEST=digest, **extra)
        run = run_cli(["segment"], env, tmp, command=command)
        assert run.code == 0, run.stderr[-3000:]
        runs.append(run)
        digest = latents_digest(workspace, i)
    return runs
