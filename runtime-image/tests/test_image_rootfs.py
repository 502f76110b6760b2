"""The runtime images as a node runs them: svi on tiny models, animatic and concat, each in its own root filesystem.

Two images, one set of tests. The CPU image (cpu-image.json: Debian's CPU torch) is what the local cluster's real
node runs; the GPU image (gpu-image.json: PyPI's CUDA 12.8 torch and nvidia wheels) is what a GPU cluster runs, and
here, with no GPU, it must import torch, find no CUDA device and fall back to the CPU as the worker documents
(LV_DEVICE auto: cpu, float32). runtime-image/run-tests.sh builds each image with the project's OCI script and sets
LV_CPU_IMAGE_LAYERS / LV_GPU_IMAGE_LAYERS to its unpacked layers (`node test/cluster/oci-image.ts <definition>
--unpack`): the CPU image in every run of the tests, the GPU image with LV_GPU_IMAGE=1 (`make test-gpu-image`: its
wheels are 3.6 GB). Each command runs in the image's root filesystem through image_chroot.py: read-only root, the
image's user, Env and entrypoint, a tmpfs /tmp, the workspace bound read-write and the tiny models (made on the host
by svi/tiny.py) bound read-only. Needs root.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from chain import (
    LAYOUT,
    H,
    W,
    complete_dirs,
    concat_env,
    latents_digest,
    render_chain,
    result_dir,
    segment_env,
    svi_env,
)
from conftest import run_cli, write_reference
from longvideo_runtime import media, safetensors_io
from test_animatic import BLOCK_TORCH
from test_svi_talk_dance import dance_chain, talk_chain

HERE = Path(__file__).resolve().parents[1]
LAUNCHER = Path(__file__).resolve().parent / "image_chroot.py"


@dataclass(frozen=True)
class RuntimeImage:
    """An image definition, the wheel lists it pins, and its unpacked layers when run-tests.sh built it."""

    name: str
    definition: Path
    wheels: tuple[Path, ...]
    layers: str
    cuda: str | None


IMAGES = {
    "cpu": RuntimeImage(
        "cpu",
        HERE / "cpu-image.json",
        (HERE / "cpu-image-wheels.txt",),
        os.environ.get("LV_CPU_IMAGE_LAYERS", ""),
        None,
    ),
    "gpu": RuntimeImage(
        "gpu",
        HERE / "gpu-image.json",
        (HERE / "gpu-image-cuda-wheels.txt", HERE / "gpu-image-wheels.txt"),
        os.environ.get("LV_GPU_IMAGE_LAYERS", ""),
        "12.8",
    ),
}


@pytest.fixture(params=sorted(IMAGES))
def image(request: pytest.FixtureRequest) -> RuntimeImage:
    built = IMAGES[str(request.param)]
    if not built.layers or os.geteuid() != 0:
        variable = f"LV_{built.name.upper()}_IMAGE_LAYERS"
        pytest.skip(f"runs in the {built.name} image's root filesystem: run-tests.sh sets {variable} (as root)")
    return built


def pins(image: RuntimeImage) -> dict[str, str]:
    """name -> version of every wheel the image pins."""
    return dict(
        line.split(" ")[0].split("==")
        for wheels in image.wheels
        for line in wheels.read_text().splitlines()
        if line and not line.startswith("#")
    )


Command = Callable[..., list[str]]


@pytest.fixture
def pod(tmp_path: Path, image: RuntimeImage) -> tuple[Path, Command]:
    """A directory the image's user may write (workspace, termination log) and a command factory for the image."""
    shared = tmp_path / "pod"
    shared.mkdir()
    shared.chmod(0o777)

    def command(*, read_only: tuple[Path, ...] = (), whole: bool = False, workspace: Path = shared) -> list[str]:
        scratch = tmp_path / f"chroot-{len(list(tmp_path.glob('chroot-*')))}"
        scratch.mkdir()
        argv = ["unshare", "--mount", "--fork", "--", sys.executable, str(LAUNCHER), image.layers]
        argv.append(str(image.definition))
        argv += [str(scratch), "--bind", str(workspace)]
        for path in read_only:
            argv += ["--bind-ro", str(path)]
        return [*argv, *(["--command"] if whole else []), "--"]

    return shared, command


def readable(models: dict[str, Path]) -> Path:
    """The tiny model directory, readable by the image's non-root user (pytest makes its directories 0700)."""
    root = models["wan21"].parent
    root.chmod(0o755)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["film", "pro"])
def test_three_chained_svi_segments_and_concat_in_the_image(
    pod: tuple[Path, Command], tiny_models: dict[str, Path], variant: str
) -> None:
    shared, command = pod
    models = readable(tiny_models)
    reference = write_reference(shared / "reference.png")
    ws = shared / "ws"
    image = command(read_only=(models,))
    env = svi_env(tiny_models, variant, reference)
    runs = render_chain(ws, 3, ["a boat on the sea", "gulls over waves"], shared, command=image, **env)
    kept = [8, 8, 13] if variant == "film" else [13, 8, 8]
    for i, run in enumerate(runs):
        assert run.termination == run.message and run.message["ok"] is True
        assert run.message["keptFrames"] == kept[i]
        assert run.message["inputDigest"] == ("" if i == 0 else latents_digest(ws, i - 1))
        loaded = next(line for line in run.logs if line["event"] == "models-loaded")
        assert loaded["device"] == "cpu" and loaded["experts"] == (2 if variant == "pro" else 1)
        trace = next(line for line in run.logs if line["event"] == "svi-trace")
        assert trace["condition"] == [1, 20, 4, H // 8, W // 8]
        if variant == "pro":
            assert trace["experts"].startswith("h") and trace["experts"].endswith("l")
            assert trace["vae_encodes"] == (1 if i == 0 else 0)
        tensors, meta = safetensors_io.load(result_dir(ws, i) / "latents.safetensors")
        assert meta["consumed"] == run.message["inputDigest"]
        if variant == "pro":
            assert tensors["anchor_latent"].shape == (16, 1, H // 8, W // 8)
        else:
            assert tensors["motion_frames"].shape == (5, H, W, 3) and tensors["motion_frames"].dtype == np.uint8
        assert media.probe(result_dir(ws, i) / "clip.mp4").frames == kept[i]
    film = run_cli(["concat"], concat_env(ws, runs, LV_EXPECTED_FRAMES="29"), shared, command=command())
    assert film.code == 0, film.stderr[-3000:]
    assert film.message["frames"] == 29 and media.probe(Path(film.message["path"])).frames == 29


@pytest.mark.slow
def test_three_chained_talk_and_dance_segments_in_the_image(
    pod: tuple[Path, Command], tiny_models: dict[str, Path]
) -> None:
    """wav2vec2, MultiTalk and the pose encoder on the image's torch, each window recorded as planned."""
    shared, command = pod
    models = readable(tiny_models)
    reference = write_reference(shared / "reference.png")
    image = command(read_only=(models,))
    talk = talk_chain(shared, tiny_models, reference, command=image)
    dance = dance_chain(shared, tiny_models, reference, command=image)
    assert [r["keptFrames"] for r in talk] == [13, 13, 13] and len(dance) == 3


def test_the_image_carries_its_torch_and_the_pinned_libraries(pod: tuple[Path, Command], image: RuntimeImage) -> None:
    """The CPU image's torch is Debian's CPU build; the GPU image's is PyPI's CUDA build, which finds no device here."""
    shared, command = pod
    script = shared / "versions.py"
    script.write_text(
        "import json, torch, diffusers, transformers, accelerate, huggingface_hub, tokenizers, safetensors\n"
        "from longvideo_runtime.svi.models import choose_device\n"
        "print(json.dumps({m.__name__: m.__version__ for m in (torch, diffusers, transformers, accelerate,"
        " huggingface_hub, tokenizers, safetensors)} | {'cuda': torch.version.cuda,"
        " 'available': torch.cuda.is_available(), 'device': str(choose_device('auto'))}))\n"
    )
    run = run_cli([str(script)], {}, shared, command=[*command(whole=True), "python3"])
    assert run.code == 0, run.stderr
    pinned = pins(image)
    assert run.message["cuda"] == image.cuda
    assert run.message["available"] is False, "no GPU on this machine"
    assert run.message["device"] == "cpu", "LV_DEVICE auto falls back to the CPU"
    for name in ("diffusers", "transformers", "accelerate", "huggingface_hub", "tokenizers"):
        assert run.message[name] == pinned[name], name
    if image.name == "gpu":
        assert run.message["torch"] == f"{pinned['torch']}+cu128"


def test_animatic_and_concat_in_the_image_never_import_torch(pod: tuple[Path, Command]) -> None:
    shared, command = pod
    script = shared / "blocked.py"
    script.write_text(BLOCK_TORCH)
    reference = write_reference(shared / "reference.png")
    ws = shared / "ws"
    blocked = [*command(whole=True), "python3", str(script)]
    common = {"LV_BACKEND": "animatic", "LV_WIDTH": "96", "LV_HEIGHT": "64", "LV_FRAMES": "17", "LV_VARIANT": "film"}
    runs = render_chain(
        ws,
        2,
        ["a lighthouse", "night falls"],
        shared,
        command=blocked,
        **common,
        LV_REFERENCE_IMAGE_PATH=str(reference),
    )
    assert [r.message["keptFrames"] for r in runs] == [12, 17]
    film = run_cli(["concat"], concat_env(ws, runs, LV_EXPECTED_FRAMES="29"), shared, command=blocked)
    assert film.code == 0, film.stderr[-3000:]
    svi = run_cli(
        ["segment"],
        segment_env(
            shared / "ws-svi",
            0,
            1,
            **{**common, "LV_BACKEND": "svi"},
            LV_PROMPT="x",
            LV_REFERENCE_IMAGE_PATH=str(reference),
        ),
        shared,
        command=blocked,
    )
    assert svi.code == 2 and "needs torch" in svi.message["error"], "the blocker works in the image too"


@pytest.mark.slow
def test_a_model_cache_of_tiny_models_under_the_default_names(pod: tuple[Path, Command], tmp_path: Path) -> None:
    """What a render pod on the real node sees: the cache at /models, the workspace at /workspace, no LV_MODEL."""
    from longvideo_runtime.svi.tiny import build

    shared, command = pod
    models = tmp_path / "model-cache"
    build(models, layout="model-cache")
    models.chmod(0o755)
    reference = write_reference(shared / "reference.png")
    env = {
        "LV_BACKEND": "svi",
        "LV_VARIANT": "pro",
        "LV_WIDTH": str(W),
        "LV_HEIGHT": str(H),
        "LV_FRAMES": "13",
        "LV_STEPS": "2",
        "LV_PROMPT": "a boat",
        "LV_SEGMENT_INDEX": "0",
        "LV_SEGMENT_HASH": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "LV_SEGMENT_COUNT": "2",
        "LV_WORKSPACE": "/workspace",
        "LV_REFERENCE_IMAGE_PATH": f"/workspace/{reference.name}",
    }
    image = command(read_only=(Path(f"{models}:/models"),), workspace=Path(f"{shared}:/workspace"))
    run = run_cli(["segment"], {**env, "LV_TERMINATION_LOG": "/workspace/termination"}, shared, command=image)
    assert run.code == 0, run.stderr[-3000:]
    loaded = next(line for line in run.logs if line["event"] == "models-loaded")
    assert loaded["model"] == "/models/Wan2.2-I2V-A14B-Diffusers" and loaded["experts"] == 2
    merged = next(line for line in run.logs if line["event"] == "lora-merged")
    assert merged["lora"].startswith("/models/svi/version-2.0/") and merged["modules"] > 0
    # The pod's own attempt directory, under the workspace as mounted: /workspace/segments/0/<key>-0, the key of the
    # plan hash and no input digest (segment 0): sha256 of "<hash>|", its first 16 hex characters.
    assert complete_dirs(shared, 0) == [shared / LAYOUT["segmentsDir"] / "0" / "0c050f3d31a90f04-0"]


@pytest.mark.slow
def test_the_probe_checks_a_model_cache_in_the_image_without_torch(pod: tuple[Path, Command], tmp_path: Path) -> None:
    """What the operator's probe does before an svi film's first segment, as the pod runs it: the cache read-only at
    /models, torch blocked (the check reads headers only), a wrong cache named file by file."""
    from longvideo_runtime.svi.tiny import build

    shared, command = pod
    models = tmp_path / "model-cache"
    build(models, layout="model-cache")
    models.chmod(0o755)
    script = shared / "blocked.py"
    script.write_text(BLOCK_TORCH)
    image = command(read_only=(Path(f"{models}:/models"),), workspace=Path(f"{shared}:/workspace"), whole=True)
    blocked = [*image, "python3", "/workspace/blocked.py"]
    env = {
        "LV_CHECK_MODELS": "pro",
        "LV_MODELS_DIR": "/models",
        "LV_WORKSPACE": "/tmp",
        "LV_TERMINATION_LOG": "/workspace/termination",
    }
    passed = run_cli(["probe"], env, shared, command=blocked)
    assert passed.code == 0, passed.stderr[-3000:]
    assert passed.message["ok"] is True and passed.message["modelFiles"] >= 10

    lora = "svi/version-2.0/SVI_Wan2.2-I2V-A14B_high_noise_lora_v2.0_pro.safetensors"
    (models / lora).unlink()
    failed = run_cli(["probe"], env, shared, command=blocked)
    assert failed.code == 2, failed.stderr[-3000:]
    report = json.loads((shared / "termination").read_text())
    assert report["field"] == "spec.storage.models.claimName"
    assert {"file": lora, "problem": "missing"} in report["modelProblems"]
    assert report["error"].startswith("spec.storage.models.claimName: the model cache at /models has 1 problem")
