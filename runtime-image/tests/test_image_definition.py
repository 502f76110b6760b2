"""The runtime images' definitions (what the OCI script builds) agree with what they summarise and pin.

cpu-image.env summarises cpu-image.json; the GPU image (gpu-image.json) pins the versions requirements.txt pins (the
versions the tests run), CUDA's wheels in a layer of their own, every wheel with its hash, for the base's Python.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def test_cpu_image_env_matches_the_definition() -> None:
    env = dict(
        shlex.split(line)[0].split("=", 1)
        for line in (HERE / "cpu-image.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    definition = json.loads((HERE / "cpu-image.json").read_text())
    base, (wheels, app), config = definition["base"], definition["layers"], definition["config"]
    assert env["IMAGE_NAME"] == definition["name"]
    assert (env["DEBIAN_SUITE"], env["DEBIAN_MIRROR"]) == (base["suite"], base["mirror"])
    assert env["DEBIAN_PACKAGES"].split() == base["packages"]
    assert (env["WHEELS"], env["WHEELS_DEST"], env["PYTHON_VERSION"]) == (
        wheels["wheels"],
        wheels["to"],
        wheels["python"],
    )
    assert (env["APP_SOURCE"], env["APP_DEST"]) == (app["copy"], app["to"])
    assert json.loads(env["ENTRYPOINT"]) == config["Entrypoint"] and env["USER"] == config["User"]
    assert [e for e in config["Env"] if not e.startswith("PATH=")] == env["ENV"].split()
    assert f"PYTHONPATH={env['PYTHONPATH']}" in config["Env"]
    assert env["CARRIES_TORCH"] == "cpu" and "python3-torch" in base["packages"]


def pinned(path: Path) -> dict[str, str]:
    """name -> version of each `name==version --hash=sha256:<hex>` line; every line must have that form."""
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    for line in lines:
        assert re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+ --hash=sha256:[0-9a-f]{64}", line), line
    return dict(line.split(" ")[0].split("==") for line in lines)


def requirements() -> dict[str, str]:
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_gpu_image_pins_what_the_tests_run_with_cuda_apart() -> None:
    definition = json.loads((HERE / "gpu-image.json").read_text())
    base, layers, config = definition["base"], definition["layers"], definition["config"]
    cuda_layer, app_layer, worker = layers
    cuda = pinned(HERE.parent / cuda_layer["wheels"])
    app = pinned(HERE.parent / app_layer["wheels"])
    assert set(cuda) == {"torch"} | {name for name in requirements() if name.startswith("nvidia-")}
    assert not set(cuda) & set(app)
    # Everything requirements.txt pins, at its version, but hf-xet (Hub downloads only; the worker never downloads).
    assert {**cuda, **app} == {k: v for k, v in requirements().items() if k != "hf-xet"}
    assert "python3-torch" not in base["packages"] and base["suite"] == "trixie"
    assert {cuda_layer["python"], app_layer["python"]} == {"3.13"}, "trixie's python3"
    assert cuda_layer["compile"] and app_layer["compile"]
    assert worker["copy"] == "runtime-image/src/longvideo_runtime"
    assert config["User"] == "1000:1000" and config["Entrypoint"] == ["python3", "-m", "longvideo_runtime"]
    assert {"HF_HUB_OFFLINE=1", "TRANSFORMERS_OFFLINE=1"} <= set(config["Env"])
    labels = config["Labels"]
    package = json.loads((HERE.parent / "package.json").read_text())
    assert labels["org.opencontainers.image.version"] == package["version"]
    assert labels["org.opencontainers.image.source"].startswith("https://")
