"""Per-segment overhead outside model compute, on CPU: process start and imports, handoff read and write,
reference loading, encoding; for the animatic backend at 832x480 x 81 frames and the svi backend on the tiny
random-weight Wan models. Each segment runs as its own process through the CLI, as in a pod.

Usage: python bench/segment_overhead.py [--segments N]   (run-bench.sh sets up the venv and PYTHONPATH)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from longvideo_runtime import workspace_layout

SRC = Path(__file__).resolve().parents[1] / "src"


def run_segment(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    full = {"PATH": os.environ["PATH"], "PYTHONPATH": str(SRC), "PYTHONDONTWRITEBYTECODE": "1", **env}
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "longvideo_runtime", "segment"], env=full, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"segment failed ({done.returncode}): {done.stderr[-2000:]}")
    return wall, json.loads(done.stdout.strip().splitlines()[-1])


def chain(workspace: Path, count: int, env: dict[str, str]) -> list[dict[str, float]]:
    rows: list[dict[str, float]] = []
    digest = ""
    for i in range(count):
        # A stand-in for the operator's plan hash: with LV_INPUT_DIGEST and LV_ATTEMPT (0), it names the directory
        # the segment writes.
        plan_hash = hashlib.sha256(f"{workspace.name}|{i}".encode()).hexdigest()
        wall, message = run_segment(
            {
                **env,
                "LV_WORKSPACE": str(workspace),
                "LV_SEGMENT_INDEX": str(i),
                "LV_SEGMENT_HASH": plan_hash,
                "LV_SEGMENT_COUNT": str(count),
                "LV_SEED": str(i * 42),
                "LV_PROMPT": "a lighthouse at dusk, gulls over the waves",
                "LV_INPUT_DIGEST": digest,
            }
        )
        attempt_dir = workspace_layout.attempt_dir(workspace, i, plan_hash, digest, 0)
        digest = message["latentsDigest"]
        result = json.loads((attempt_dir / workspace_layout.RESULT_FILE).read_text())
        t = result["timings"]
        compute = t.get("model_seconds", t.get("draw_seconds", 0.0))
        rows.append(
            {
                "wall": wall,
                "startup": wall - result["seconds"],
                "backend_import": t.get("backend_import_seconds", 0.0),
                "model_load": t.get("load_seconds", 0.0) + t.get("lora_seconds", 0.0),
                "handoff_read": t.get("handoff_read_seconds", 0.0),
                "handoff_write": t.get("handoff_write_seconds", 0.0),
                "reference": t.get("reference_seconds", 0.0),
                "encode": t.get("encode_seconds", 0.0),
                "compute": compute,
                "overhead": wall - compute,
            }
        )
    return rows


def report(name: str, rows: list[dict[str, float]]) -> list[str]:
    keys = list(rows[0])
    print(f"\n{name}")
    print("  segment " + " ".join(f"{k:>14}" for k in keys))
    for i, row in enumerate(rows):
        print(f"  {i:>7} " + " ".join(f"{row[k]:>14.3f}" for k in keys))
    later = rows[1:] or rows
    med = {k: statistics.median(r[k] for r in later) for k in keys}
    return [
        f"{name}: per-segment overhead outside model compute {med['overhead']:.2f}s "
        f"(process start+imports {med['startup'] + med['backend_import']:.2f}s, model load {med['model_load']:.2f}s, "
        f"handoff read {med['handoff_read'] * 1000:.1f}ms, handoff write {med['handoff_write'] * 1000:.1f}ms, "
        f"encode {med['encode']:.2f}s); compute {med['compute']:.2f}s; median of segments 1..{len(rows) - 1}"
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--segments", type=int, default=4)
    args = parser.parse_args()
    figures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="lv-bench-") as tmp:
        root = Path(tmp)
        reference = root / "reference.png"
        y, x = np.mgrid[0:480, 0:832]
        Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], axis=-1).astype(np.uint8)).save(reference)
        common = {"LV_REFERENCE_IMAGE_PATH": str(reference), "LV_FPS": "16"}

        animatic = {**common, "LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "832", "LV_HEIGHT": "480"}
        figures += report("animatic 832x480x81 film", chain(root / "animatic", args.segments, animatic))

        try:
            from longvideo_runtime.svi.tiny import build
        except ImportError:
            print("torch is not installed: skipping the svi backend")
        else:
            models = build(root / "models")
            for variant, model, lora, lora_2 in (
                ("film", "wan21-i2v", "svi/svi-film.safetensors", ""),
                ("pro", "wan22-i2v", "svi/svi-pro-high.safetensors", "svi/svi-pro-low.safetensors"),
            ):
                env = {
                    **common, "LV_BACKEND": "svi", "LV_VARIANT": variant, "LV_WIDTH": "64", "LV_HEIGHT": "48",
                    "LV_FRAMES": "13", "LV_STEPS": "4", "LV_MODELS_DIR": str(models["wan21"].parent),
                    "LV_MODEL": model, "LV_LORA": lora, "LV_LORA_2": lora_2,
                }  # fmt: skip
                name = f"svi tiny {variant} 64x48x13, 4 steps"
                figures += report(name, chain(root / f"svi-{variant}", args.segments, env))
    print()
    for line in figures:
        print(line)


if __name__ == "__main__":
    main()
