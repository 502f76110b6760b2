"""Helpers to render a chain of segments through the CLI, as the operator would."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import Run, run_cli


def segment_env(workspace: Path, index: int, count: int, **extra: str) -> dict[str, str]:
    return {
        "LV_WORKSPACE": str(workspace),
        "LV_SEGMENT_INDEX": str(index),
        "LV_SEGMENT_COUNT": str(count),
        "LV_SEED": str(index * 42),
        **extra,
    }


def latents_digest(workspace: Path, index: int) -> str:
    result = json.loads((workspace / "segments" / str(index) / "result.json").read_text())
    return str(result["latentsDigest"])


def render_chain(workspace: Path, count: int, prompts: list[str], tmp: Path, **extra: str) -> list[Run]:
    runs: list[Run] = []
    digest = ""
    for i in range(count):
        env = segment_env(workspace, i, count, LV_PROMPT=prompts[i % len(prompts)], LV_INPUT_DIGEST=digest, **extra)
        run = run_cli(["segment"], env, tmp)
        assert run.code == 0, run.stderr[-3000:]
        runs.append(run)
        digest = latents_digest(workspace, i)
    return runs
