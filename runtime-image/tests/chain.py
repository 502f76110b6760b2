"""Helpers to render a chain of segments through the CLI, as the operator would, and to find what they wrote."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from conftest import SRC, Run, run_cli

#: Frame size and count of the tiny svi renders.
W, H, FRAMES = 64, 48, 13

LAYOUT: dict[str, Any] = json.loads((SRC / "longvideo_runtime" / "contract.json").read_text())["workspaceLayout"]
#: What the operator's plan hash leaves out: where and how often a segment runs, and what it consumes (the hash
#: chains through the predecessor's hash, not its digest).
_NOT_HASHED = {
    "LV_WORKSPACE",
    "LV_ATTEMPT",
    "LV_INPUT_DIGEST",
    "LV_INPUT_FROM",
    "LV_WAIT_SECONDS",
    "LV_TERMINATION_LOG",
    "LV_SEGMENT_HASH",
    "LV_DEBUG_STALL_AT",
}


def plan_hash(env: Mapping[str, str]) -> str:
    """A stand-in for the operator's plan hash (64 hex characters): equal for equal segment inputs."""
    hashed = {k: v for k, v in env.items() if k.startswith("LV_") and k not in _NOT_HASHED}
    return hashlib.sha256(json.dumps(hashed, sort_keys=True).encode()).hexdigest()


def segment_env(workspace: Path, index: int, count: int, **extra: str) -> dict[str, str]:
    """The variables of one segment pod; LV_SEGMENT_HASH is derived from the others unless given."""
    env = {
        "LV_WORKSPACE": str(workspace),
        "LV_SEGMENT_INDEX": str(index),
        "LV_SEGMENT_COUNT": str(count),
        "LV_SEED": str(index * 42),
        **extra,
    }
    env.setdefault("LV_SEGMENT_HASH", plan_hash(env))
    return env


def attempt_key(segment_hash: str, input_digest: str) -> str:
    """The contract's attempt key (attemptKey()): sha256 of `<plan hash>|<input digest>`, attemptKeyChars of its hex."""
    return hashlib.sha256(f"{segment_hash}|{input_digest}".encode()).hexdigest()[: LAYOUT["attemptKeyChars"]]


def attempt_dir(env: Mapping[str, str]) -> Path:
    """The directory the segment pod with this environment writes, by the contract's rule (attemptDir()); a warm
    attempt's key is of `from:<LV_INPUT_FROM>` in place of the input digest."""
    warm = env.get("LV_INPUT_FROM", "")
    key = attempt_key(env["LV_SEGMENT_HASH"], f"from:{warm}" if warm else env.get("LV_INPUT_DIGEST", ""))
    segment = Path(env["LV_WORKSPACE"]) / LAYOUT["segmentsDir"] / env["LV_SEGMENT_INDEX"]
    return segment / f"{key}-{env.get('LV_ATTEMPT', '0')}"


def complete_dirs(workspace: Path, index: int) -> list[Path]:
    """The attempt directories of segment `index` holding a result.json."""
    segment = workspace / LAYOUT["segmentsDir"] / str(index)
    return sorted(p.parent for p in segment.glob(f"*/{LAYOUT['result']}"))


def result_dir(workspace: Path, index: int, digest: str | None = None) -> Path:
    """The complete attempt directory of segment `index` handing off `digest`; without it, the only complete one."""
    found = [
        d
        for d in complete_dirs(workspace, index)
        if digest is None or json.loads((d / LAYOUT["result"]).read_text())["latentsDigest"] == digest
    ]
    assert len(found) == 1, f"segment {index}: complete attempt directories {found} (wanted one, digest {digest})"
    return found[0]


def latents_digest(workspace: Path, index: int) -> str:
    result = json.loads((result_dir(workspace, index) / LAYOUT["result"]).read_text())
    return str(result["latentsDigest"])


def concat_env(workspace: Path, runs: Sequence[Run], **extra: str) -> dict[str, str]:
    """The variables of a concat pod for the chain `runs` rendered: LV_FINAL_DIGEST is the last one's latents."""
    return {
        "LV_WORKSPACE": str(workspace),
        "LV_SEGMENT_COUNT": str(len(runs)),
        "LV_FINAL_DIGEST": str(runs[-1].message["latentsDigest"]),
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
        digest = str(run.message["latentsDigest"])
    return runs
