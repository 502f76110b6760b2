"""The real svi code path on tiny random-weight Wan checkpoints (2.1 I2V and 2.2 two experts), on CPU."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")

from chain import (  # noqa: E402
    H,
    W,
    attempt_dir,
    complete_dirs,
    concat_env,
    latents_digest,
    render_chain,
    result_dir,
    segment_env,
    svi_env,
)
from conftest import run_cli  # noqa: E402
from longvideo_runtime import media, safetensors_io  # noqa: E402
from longvideo_runtime.logs import Logger  # noqa: E402
from longvideo_runtime.segment import run_segment  # noqa: E402
from longvideo_runtime.spec import parse_segment  # noqa: E402
from longvideo_runtime.svi import models, protocol  # noqa: E402
from longvideo_runtime.svi.backend import SviBackend  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["film", "pro"])
def test_three_chained_segments_through_the_cli(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, variant: str
) -> None:
    ws = tmp_path / "ws"
    runs = render_chain(
        ws, 3, ["a boat on the sea", "gulls over waves"], tmp_path, **svi_env(tiny_models, variant, reference_png)
    )
    kept = [8, 8, 13] if variant == "film" else [13, 8, 8]
    for i, run in enumerate(runs):
        assert run.message["keptFrames"] == kept[i]
        assert run.message["inputDigest"] == ("" if i == 0 else latents_digest(ws, i - 1))
        trace = next(line for line in run.logs if line["event"] == "svi-trace")
        assert trace["condition"] == [1, 20, 4, H // 8, W // 8]
        if variant == "pro":
            # Two experts: high noise first, then low; segments after the first never touch the VAE encoder.
            assert trace["experts"].startswith("h") and trace["experts"].endswith("l")
            assert trace["vae_encodes"] == (1 if i == 0 else 0)
        else:
            assert trace["experts"] == "hhh" and trace["vae_encodes"] == 1
        assert trace["vae_decodes"] == 1
        tensors, meta = safetensors_io.load(result_dir(ws, i) / "latents.safetensors")
        if variant == "pro":
            assert tensors["motion_latents"].shape == (16, 1, H // 8, W // 8)
            assert tensors["anchor_latent"].shape == (16, 1, H // 8, W // 8)
        else:
            assert tensors["motion_frames"].shape == (5, H, W, 3) and tensors["motion_frames"].dtype == np.uint8
        assert meta["consumed"] == run.message["inputDigest"]
        assert media.probe(result_dir(ws, i) / "clip.mp4").frames == kept[i]
    if variant == "pro":
        anchors = [safetensors_io.load(result_dir(ws, i) / "latents.safetensors")[0]["anchor_latent"] for i in range(3)]
        assert all(np.array_equal(anchors[0], a) for a in anchors), "the anchor latent is carried, not re-encoded"
    film = run_cli(["concat"], concat_env(ws, runs, LV_EXPECTED_FRAMES="29"), tmp_path)
    assert film.code == 0 and film.message["frames"] == 29


def in_process(
    ws: Path, models: dict[str, Path], variant: str, reference: Path, index: int = 0, **extra: str
) -> tuple[dict[str, object], SviBackend]:
    env = {**svi_env(models, variant, reference, **extra), **segment_env(ws, index, 3, LV_PROMPT="a boat")}
    env.update(extra)
    backend = SviBackend()
    result = run_segment(parse_segment(env), Logger(level="error"), backend=backend)
    return result, backend


@pytest.mark.slow
def test_same_seed_and_inputs_give_the_same_output_and_seeds_differ(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    a, _ = in_process(tmp_path / "a", tiny_models, "film", reference_png)
    b, _ = in_process(tmp_path / "b", tiny_models, "film", reference_png)
    c, _ = in_process(tmp_path / "c", tiny_models, "film", reference_png, LV_SEED="42")
    assert a["latentsDigest"] == b["latentsDigest"]
    assert a["files"]["clip.mp4"] == b["files"]["clip.mp4"]  # type: ignore[index]
    assert a["latentsDigest"] != c["latentsDigest"]


@pytest.mark.slow
def test_shot_condition_pads_with_the_reference_and_film_with_zeros(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    _, shot = in_process(tmp_path / "shot", tiny_models, "shot", reference_png)
    _, film = in_process(tmp_path / "film", tiny_models, "film", reference_png)
    assert shot.last_condition is not None and film.last_condition is not None
    mask_shot, latent_shot = shot.last_condition[:, :4], shot.last_condition[:, 4:]
    mask_film, latent_film = film.last_condition[:, :4], film.last_condition[:, 4:]
    assert torch.equal(mask_shot, mask_film)
    assert torch.all(mask_shot[:, :, 0] == 1) and torch.all(mask_shot[:, :, 1:] == 0)
    # The first latent frame encodes the same reference; the padding differs (reference vs zeros).
    torch.testing.assert_close(latent_shot[:, :, 0], latent_film[:, :, 0])
    assert not torch.allclose(latent_shot[:, :, 2:], latent_film[:, :, 2:])


@pytest.mark.slow
def test_pro_segment_builds_its_condition_from_latents_only(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = tmp_path / "ws"
    first, _ = in_process(ws, tiny_models, "pro", reference_png)
    from diffusers import AutoencoderKLWan

    calls: list[str] = []
    original_encode, original_decode = AutoencoderKLWan.encode, AutoencoderKLWan.decode

    def encode(self: object, x: torch.Tensor, *a: object, **k: object) -> object:
        calls.append("encode")
        return original_encode(self, x, *a, **k)

    def decode(self: object, z: torch.Tensor, *a: object, **k: object) -> object:
        calls.append(f"decode:{z.shape[2]}")
        return original_decode(self, z, *a, **k)

    monkeypatch.setattr(AutoencoderKLWan, "encode", encode)
    monkeypatch.setattr(AutoencoderKLWan, "decode", decode)
    second, backend = in_process(
        ws, tiny_models, "pro", reference_png, index=1, LV_INPUT_DIGEST=str(first["latentsDigest"])
    )
    assert calls == ["decode:4"], "only this clip's own latents are decoded; the previous clip is never decoded"
    handoff, _ = safetensors_io.load(result_dir(ws, 0) / "latents.safetensors")
    assert backend.last_condition is not None
    mask = backend.last_condition[0, :4]
    assert torch.all(mask[:, 0] == 1) and torch.all(mask[:, 1:] == 0), "only the anchor frame is marked known"
    condition = backend.last_condition[0, 4:]
    np.testing.assert_allclose(condition[:, 0].numpy(), handoff["anchor_latent"][:, 0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(condition[:, 1].numpy(), handoff["motion_latents"][:, 0], rtol=0, atol=1e-6)
    assert torch.all(condition[:, 2:] == 0)
    assert second["trimHead"] == 5


class EncodeRecording(SviBackend):
    """The svi backend, keeping every video it VAE-encodes."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[torch.Tensor] = []

    def _encode(self, components: models.WanComponents, video: torch.Tensor) -> torch.Tensor:
        self.encoded.append(video.detach().cpu())
        return super()._encode(components, video)


@pytest.mark.slow
def test_a_pro_chain_start_encodes_its_keyframe_as_its_anchor(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    """Segment 2 of a keyframed chain, with no segment before it in the workspace: as segment 0, its anchor latent is
    its reference image's (the keyframe's), nothing else is known, and it keeps its head."""
    keyframe = tmp_path / "keyframe.png"
    Image.fromarray((255 - media.load_rgb(reference_png, W, H)).astype(np.uint8)).save(keyframe)
    ws = tmp_path / "ws"
    env = {
        **svi_env(tiny_models, "pro", keyframe),
        **segment_env(ws, 2, 4, LV_PROMPT="a market at noon", LV_CHAIN_START="true", LV_TRIM_TAIL="0"),
    }
    backend = EncodeRecording()
    result = run_segment(parse_segment(env), Logger(level="error"), backend=backend)
    assert sorted(p.name for p in (ws / "segments").iterdir()) == ["2"]
    assert (result["chainStart"], result["inputDigest"], result["trimHead"], result["keptFrames"]) == (True, "", 0, 13)
    (still,) = backend.encoded
    expected = protocol.to_model_range(torch.from_numpy(media.load_rgb(keyframe, W, H))[None]).permute(1, 0, 2, 3)
    assert torch.equal(still, expected[None]), "the anchor is encoded from the keyframe"
    handoff, meta = safetensors_io.load(result_dir(ws, 2) / "latents.safetensors")
    assert (meta["consumed"], meta["segment"]) == ("", "2")
    assert backend.last_condition is not None
    mask, condition = backend.last_condition[0, :4], backend.last_condition[0, 4:]
    assert torch.all(mask[:, 0] == 1) and torch.all(mask[:, 1:] == 0)
    np.testing.assert_allclose(condition[:, 0].numpy(), handoff["anchor_latent"][:, 0], rtol=0, atol=1e-6)
    assert torch.all(condition[:, 1:] == 0), "no motion latents: a chain start continues nothing"


@pytest.mark.slow
def test_unknown_lora_key_and_missing_model_are_bad_input(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    from safetensors.torch import save_file

    from longvideo_runtime.svi.tiny import svi_lora_state

    state = svi_lora_state(layers=2)
    state["blocks.0.self_attn.gate.lora_A.default.weight"] = torch.zeros(2, 24)
    lora = tmp_path / "odd.safetensors"
    save_file(state, str(lora))
    env = {
        **svi_env(tiny_models, "film", reference_png, LV_LORA=str(lora)),
        **segment_env(tmp_path / "ws", 0, 1, LV_PROMPT="a boat"),
    }
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and "blocks.0.self_attn.gate.lora_A.default.weight" in run.message["error"]
    assert complete_dirs(tmp_path / "ws", 0) == []
    env.update(LV_LORA="", LV_MODEL="absent")
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and "does not exist" in run.message["error"]
    env.update(LV_MODEL="wan22-i2v")
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and "two experts" in run.message["error"]


def test_out_of_memory_maps_to_exit_4() -> None:
    from longvideo_runtime.cli import _classify
    from longvideo_runtime.errors import ExitCode

    assert (
        _classify(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")).code == ExitCode.OUT_OF_MEMORY
    )
    assert _classify(MemoryError()).code == ExitCode.OUT_OF_MEMORY
    assert _classify(RuntimeError("DefaultCPUAllocator: can't allocate memory")).code == ExitCode.OUT_OF_MEMORY
    assert _classify(ValueError("boom")).code == ExitCode.INTERNAL


@pytest.mark.slow
def test_a_warm_pro_segment_loads_first_then_renders_what_the_serial_one_does(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    """Warm hand-off (ADR 0026) on the real code path: segment 1 loads its models, waits for segment 0's commit (made
    before segment 0's VAE decode), and hands off exactly what segment 1 rendered serially from that digest does."""
    ws = tmp_path / "ws"
    first = {**svi_env(tiny_models, "pro", reference_png), **segment_env(ws, 0, 3, LV_PROMPT="a boat")}
    source = str(attempt_dir(first).relative_to(ws))
    warm_env = {
        **svi_env(tiny_models, "pro", reference_png),
        **segment_env(ws, 1, 3, LV_PROMPT="gulls", LV_INPUT_FROM=source),
    }
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(run_cli, ["segment"], warm_env, tmp_path)
        time.sleep(0.5)
        zero = run_cli(["segment"], first, tmp_path)
        warm = pending.result(timeout=600)
    assert zero.code == 0, zero.stderr[-3000:]
    assert warm.code == 0, warm.stderr[-3000:]
    serial_env = {
        **svi_env(tiny_models, "pro", reference_png),
        **segment_env(ws, 1, 3, LV_PROMPT="gulls", LV_INPUT_DIGEST=zero.message["latentsDigest"]),
    }
    assert serial_env["LV_SEGMENT_HASH"] == warm_env["LV_SEGMENT_HASH"]
    serial = run_cli(["segment"], serial_env, tmp_path)
    assert serial.code == 0, serial.stderr[-3000:]

    assert warm.message["inputDigest"] == serial.message["inputDigest"] == zero.message["latentsDigest"]
    assert warm.message["latentsDigest"] == serial.message["latentsDigest"], "the warm path renders the same thing"
    assert datetime.fromisoformat(warm.message["handoffSeenAt"]) >= datetime.fromisoformat(zero.message["committedAt"])
    assert "handoffSeenAt" not in serial.message
    # The models were loaded and the LoRAs merged before the wait began.
    events = [line["event"] for line in warm.logs]
    assert events.index("lora-merged") < events.index("handoff-waiting") < events.index("handoff-seen")
    for run, directory in (
        (zero, attempt_dir(first)),
        (warm, attempt_dir(warm_env)),
        (serial, attempt_dir(serial_env)),
    ):
        result = json.loads((directory / "result.json").read_text())
        assert set(run.message["phases"]) == set(result["phases"]) == {"ready", "wait", "denoise", "decode", "encode"}
        for phase in ("ready", "denoise", "decode", "encode"):
            assert result["phases"][phase] > 0, phase
        marks = {k: datetime.fromisoformat(v) for k, v in result["instants"].items()}
        # Pro commits its latents between the denoising and the VAE decode.
        assert marks["denoised"] <= marks["committed"] <= marks["decode"] < marks["decoded"] <= marks["encode"]
        assert json.loads((directory / "handoff.json").read_text())["latentsDigest"] == result["latentsDigest"]
    assert warm.message["phases"]["wait"] > 0
    assert serial.message["phases"]["wait"] == 0
