"""Shared fixtures: a CLI runner, a reference image, tiny Wan checkpoints (built once per session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass
class Run:
    code: int
    message: dict[str, Any]
    stderr: str
    termination: dict[str, Any] | None

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stderr.splitlines() if line.startswith("{")]


def run_cli(
    args: list[str],
    env: Mapping[str, str],
    tmp: Path,
    python: str = sys.executable,
    timeout: float = 300,
    command: Sequence[str] | None = None,
) -> Run:
    """Runs the worker's CLI with `args`; `command` replaces `python -m longvideo_runtime` (e.g. the image's)."""
    termination = tmp / f"termination-{os.getpid()}-{len(list(tmp.glob('termination-*')))}"
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(SRC),
        "PYTHONDONTWRITEBYTECODE": "1",
        "LV_TERMINATION_LOG": str(termination),
        **env,
    }
    done = subprocess.run(
        [*(command if command is not None else [python, "-m", "longvideo_runtime"]), *args],
        check=False,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    message = json.loads(lines[-1]) if lines else {}
    term = json.loads(termination.read_text()) if termination.exists() else None
    return Run(done.returncode, message, done.stderr, term)


def write_reference(path: Path, width: int = 64, height: int = 48) -> Path:
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) % 64 * 4], axis=-1).astype(np.uint8)
    image[height // 3 : height // 2, width // 4 : width // 2] = (250, 240, 30)
    Image.fromarray(image).save(path)
    return path


@pytest.fixture
def reference_png(tmp_path: Path) -> Path:
    return write_reference(tmp_path / "reference.png")


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("torch")
    from longvideo_runtime.svi.tiny import build

    return build(tmp_path_factory.mktemp("models"))


@pytest.fixture
def chdir_tmp(tmp_path: Path) -> Iterator[Path]:
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Counts for the project's closing line (test/run-tests.sh sums vitest-shaped JSON files)."""
    out = os.environ.get("LV_TEST_RESULTS")
    if not out:
        return
    stats = terminalreporter.stats
    counts = {
        "numPassedTests": len([r for r in stats.get("passed", []) if r.when == "call"]),
        "numFailedTests": len(stats.get("failed", [])) + len(stats.get("error", [])),
        "numPendingTests": len(stats.get("skipped", [])),
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "runtime.json").write_text(json.dumps(counts))
