"""The runtime on CUDA, for the next time a GPU is at hand (`make test-gpu`): the tiny models through the real code
paths in bfloat16, scaled-dot-product attention on its fused kernels, and NCCL between two ranks of one segment.

Without a CUDA device every test here is skipped, and pytest's summary says why (`-ra`): nothing here is counted as
run on a machine without one. The CPU runs of the same code are in test_svi.py, test_extra_loras.py and
test_sequence_parallel.py; these compare against them where bfloat16 allows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

if not torch.cuda.is_available():
    pytest.skip("no CUDA device here: the GPU tests run with `make test-gpu` on a GPU machine", allow_module_level=True)

from chain import latents_digest, result_dir, segment_env, svi_env  # noqa: E402
from conftest import Run, run_cli  # noqa: E402
from longvideo_runtime import safetensors_io  # noqa: E402
from longvideo_runtime.svi.tiny import STYLE_LORA  # noqa: E402

pytestmark = pytest.mark.gpu

#: bfloat16 keeps 8 bits of mantissa: two runs of the same clip that differ only in the reduction order or the
#: precision of the transformer agree to a few hundredths on latents of unit scale after a few steps.
BF16_LATENTS = 0.1
#: Decoded uint8 motion frames of the same clip at float32 on the CPU and bfloat16 on the GPU: mean absolute
#: difference in grey levels (the VAE runs in float32 on both; only the transformer's precision differs).
BF16_PIXELS = 12.0


def _segment(tmp: Path, models: dict[str, Path], variant: str, reference: Path, name: str, **extra: str) -> Run:
    env = {
        **svi_env(models, variant, reference),
        **segment_env(tmp / name, 0, 3, LV_PROMPT="a boat", LV_SEGMENT_HASH="same-plan"),
        **extra,
    }
    run = run_cli(["segment"], env, tmp, timeout=600)
    assert run.code == 0, run.stderr[-3000:]
    return run


def _loaded(run: Run) -> dict[str, Any]:
    return next(line for line in run.logs if line["event"] == "models-loaded")


def _handoff(workspace: Path) -> dict[str, np.ndarray]:
    tensors, _ = safetensors_io.load(result_dir(workspace, 0) / "latents.safetensors")
    return tensors


@pytest.mark.parametrize("variant", ["film", "pro"])
def test_a_segment_renders_on_the_gpu_in_bfloat16_close_to_the_cpu(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, variant: str
) -> None:
    gpu = _segment(tmp_path, tiny_models, variant, reference_png, "gpu", LV_DEVICE="cuda", LV_DTYPE="bfloat16")
    cpu = _segment(tmp_path, tiny_models, variant, reference_png, "cpu", LV_DEVICE="cpu", LV_DTYPE="float32")
    assert _loaded(gpu)["device"].startswith("cuda") and _loaded(gpu)["dtype"] == "bfloat16"
    assert _loaded(cpu)["device"] == "cpu"
    on_gpu, on_cpu = _handoff(tmp_path / "gpu"), _handoff(tmp_path / "cpu")
    assert on_gpu.keys() == on_cpu.keys()
    for name, tensor in on_cpu.items():
        other = on_gpu[name]
        assert other.shape == tensor.shape and other.dtype == tensor.dtype
        if tensor.dtype == np.uint8:
            diff = np.abs(other.astype(np.float64) - tensor.astype(np.float64)).mean()
            assert diff < BF16_PIXELS, f"{name}: mean difference {diff:.2f} grey levels"
        else:
            np.testing.assert_allclose(other, tensor, rtol=0, atol=BF16_LATENTS)


def test_an_extra_lora_merges_on_the_gpu(tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path) -> None:
    lora = json.dumps([{"path": STYLE_LORA, "strength": 0.8, "expert": "highNoise"}])
    plain = _segment(tmp_path, tiny_models, "pro", reference_png, "plain", LV_DEVICE="cuda")
    styled = _segment(tmp_path, tiny_models, "pro", reference_png, "styled", LV_DEVICE="cuda", LV_LORAS=lora)
    merged = [line["modules"] for run in (plain, styled) for line in run.logs if line["event"] == "lora-merged"]
    assert merged == [40, 60]
    assert latents_digest(tmp_path / "plain", 0) != latents_digest(tmp_path / "styled", 0)


def test_attention_runs_on_the_fused_bfloat16_kernels() -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention

    # Wan's attention shape at 480p: 40 heads of 128, here over a short sequence.
    q, k, v = (torch.randn(1, 40, 1024, 128, device="cuda", dtype=torch.bfloat16) for _ in range(3))
    reference = scaled_dot_product_attention(q.float(), k.float(), v.float())
    backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
    for backend in backends:
        with sdpa_kernel(backend):
            fused = scaled_dot_product_attention(q, k, v)
        torch.testing.assert_close(fused.float(), reference, rtol=0, atol=2e-2)


def test_two_ranks_on_two_gpus_talk_over_nccl_and_match_one(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    if torch.cuda.device_count() < 2:
        pytest.skip(f"one CUDA device here ({torch.cuda.get_device_name(0)}): NCCL between ranks needs two")
    env = {"LV_DEVICE": "cuda", "LV_DTYPE": "bfloat16", "LV_GUIDANCE_SCALE": "1"}
    one = _segment(tmp_path, tiny_models, "film", reference_png, "one", LV_GPU_COUNT="1", **env)
    two = _segment(tmp_path, tiny_models, "film", reference_png, "two", LV_GPU_COUNT="2", **env)
    ranks = {line["rank"] for line in two.logs if line["event"] == "rank-denoised"}
    assert ranks == {0, 1}
    assert one.message["keptFrames"] == two.message["keptFrames"]
    for name, tensor in _handoff(tmp_path / "one").items():
        other = _handoff(tmp_path / "two")[name]
        if tensor.dtype == np.uint8:
            assert np.abs(other.astype(np.float64) - tensor.astype(np.float64)).mean() < BF16_PIXELS
        else:
            np.testing.assert_allclose(other, tensor, rtol=0, atol=BF16_LATENTS)
