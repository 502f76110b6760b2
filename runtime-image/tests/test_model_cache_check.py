"""The model cache check on tiny model caches (svi.tiny --layout model-cache): a whole cache passes for every
variant; a missing file, a broken or truncated safetensors file, a misshapen tensor, a dropped block and a LoRA for
another width are each named with their file; the probe fails as bad input naming spec.storage.models.claimName
with every problem that fits the termination message; and the check never imports torch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from conftest import SRC, run_cli
from longvideo_runtime.cli import MAX_TERMINATION_BYTES, compact, fitting
from longvideo_runtime.contract import CONTRACT
from longvideo_runtime.model_cache_check import (
    FIELD,
    ModelCacheError,
    ModelCacheReport,
    ModelProblem,
    check_model_cache,
    multitalk_shapes,
    pose_encoder_shapes,
    transformer_linears,
    transformer_parameters,
)
from longvideo_runtime.variants import MULTITALK_FILE, PROFILES, VARIANTS, WAV2VEC_DIR

WAN21, WAN22 = PROFILES["film"].model, PROFILES["pro"].model


@pytest.fixture(scope="session")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from longvideo_runtime.svi.tiny import build

    root = tmp_path_factory.mktemp("model-cache")
    build(root, layout="model-cache")
    return root


@pytest.fixture
def cache(tiny_cache: Path, tmp_path: Path) -> Path:
    """A copy of the tiny cache a test may break."""
    return Path(shutil.copytree(tiny_cache, tmp_path / "models"))


def problems(root: Path, variant: str) -> list[tuple[str, str]]:
    return [(p.file, p.problem) for p in check_model_cache(root, variant).problems]  # type: ignore[arg-type]


def rewrite(path: Path, change: object) -> None:
    """Loads a safetensors file with the official library, lets `change` edit the dict, writes it back."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(str(path))
    change(tensors)  # type: ignore[operator]
    save_file(tensors, str(path))


# --- a whole cache ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_tiny_cache_passes_for_every_variant(tiny_cache: Path, variant: str) -> None:
    report = check_model_cache(tiny_cache, variant)  # type: ignore[arg-type]
    assert report.problems == ()
    assert report.ok and report.files and len(set(report.files)) == len(report.files)
    assert all((tiny_cache / f).is_file() for f in report.files)
    profile = PROFILES[variant]  # type: ignore[index]
    assert profile.lora in report.files
    assert f"{profile.model}/transformer/diffusion_pytorch_model.safetensors" in report.files
    assert (f"{profile.model}/transformer_2/config.json" in report.files) == (variant == "pro")
    assert (f"{profile.model}/image_encoder/model.safetensors" in report.files) == (variant != "pro")
    assert (MULTITALK_FILE in report.files) == (variant == "talk")
    assert (f"{WAV2VEC_DIR}/model.safetensors" in report.files) == (variant == "talk")
    if variant == "pro":
        assert profile.lora_2 in report.files
    print(f"check of the tiny {variant} cache: {len(report.files)} files in {report.seconds * 1000:.1f} ms")


def test_the_check_does_not_import_torch(tiny_cache: Path) -> None:
    code = (
        "import sys, time, json\n"
        "from pathlib import Path\n"
        "started = time.perf_counter()\n"
        "from longvideo_runtime.model_cache_check import check_model_cache\n"
        "from longvideo_runtime import cli, probe\n"
        f"reports = [check_model_cache(Path({str(tiny_cache)!r}), v) for v in {list(VARIANTS)!r}]\n"
        "print(json.dumps({'ok': [r.ok for r in reports], 'seconds': time.perf_counter() - started,\n"
        "    'torch': sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'safetensors',\n"
        "    'diffusers', 'transformers')))}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["ok"] == [True] * len(VARIANTS)
    assert result["torch"] == [], "the check imported torch or a model library"
    print(f"import and check of all {len(VARIANTS)} variants without torch: {result['seconds']:.3f} s")


# --- one thing wrong at a time ------------------------------------------------------------------------------------


def test_a_missing_file_is_named(cache: Path) -> None:
    (cache / WAN21 / "vae" / "diffusion_pytorch_model.safetensors").unlink()
    (cache / WAN21 / "tokenizer" / "tokenizer.json").unlink()
    found = problems(cache, "film")
    assert (f"{WAN21}/tokenizer/tokenizer.json", "missing") in found
    assert any(f == f"{WAN21}/vae/diffusion_pytorch_model.safetensors" and p.startswith("missing") for f, p in found)
    assert len(found) == 2


def test_a_file_that_is_not_safetensors_or_cut_short_is_named(cache: Path) -> None:
    lora = cache / PROFILES["shot"].lora
    lora.write_bytes(lora.read_bytes()[:20])
    multitalk = cache / MULTITALK_FILE
    data = multitalk.read_bytes()
    multitalk.write_bytes(data[: len(data) - 100])
    shot = problems(cache, "shot")
    assert len(shot) == 1 and shot[0][0] == PROFILES["shot"].lora
    assert (
        shot[0][1].startswith("not a safetensors file: its header length") and "does not fit a file of 20" in shot[0][1]
    )
    talk = problems(cache, "talk")
    assert len(talk) == 1 and talk[0][0] == MULTITALK_FILE
    assert talk[0][1].startswith("not a safetensors file: truncated: its tensors need")


def test_a_tensor_of_the_wrong_shape_is_named_with_the_shape_the_config_needs(cache: Path) -> None:
    path = cache / WAN21 / "transformer" / "diffusion_pytorch_model.safetensors"
    rewrite(path, lambda t: t.update({"blocks.1.attn1.to_q.weight": np.zeros((24, 12), np.float32)}))
    found = problems(cache, "dance")
    assert found == [
        (
            f"{WAN21}/transformer/diffusion_pytorch_model.safetensors",
            "tensor blocks.1.attn1.to_q.weight has shape [24, 12], the config (dim 24 = 2 heads x 12, ffn_dim 32) "
            "needs [24, 24]",
        )
    ]


def test_a_dropped_block_and_a_missing_tensor_are_named(cache: Path) -> None:
    path = cache / WAN22 / "transformer_2" / "diffusion_pytorch_model.safetensors"
    rewrite(path, lambda t: [t.pop(k) for k in [k for k in t if k.startswith("blocks.1.")]])
    encoder = cache / WAN22 / "text_encoder" / "model.safetensors"
    rewrite(encoder, lambda t: t.pop("encoder.block.0.layer.1.DenseReluDense.wo.weight"))
    found = problems(cache, "pro")
    assert (
        f"{WAN22}/transformer_2/diffusion_pytorch_model.safetensors",
        "no tensors for block 1 of the config's 2",
    ) in found
    assert (
        f"{WAN22}/text_encoder/model.safetensors",
        "no tensor encoder.block.0.layer.1.DenseReluDense.wo.weight (the config (d_model 32, 4 heads of d_kv 8, "
        "d_ff 64) needs [32, 64])",
    ) in found
    assert len(found) == 2


def test_a_block_past_the_configs_is_named(cache: Path) -> None:
    config = cache / WAN21 / "transformer" / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_layers": 1}))
    found = problems(cache, "film")
    assert (
        f"{WAN21}/transformer/diffusion_pytorch_model.safetensors",
        "tensors for block 1, past the config's 1 (weights of another model size?)",
    ) in found


def test_a_lora_for_another_width_is_named(cache: Path) -> None:
    from safetensors.torch import save_file

    from longvideo_runtime.svi.tiny import svi_lora_state

    save_file(svi_lora_state(2, dim=32, ffn=40), str(cache / PROFILES["film"].lora))
    found = problems(cache, "film")
    assert len(found) == 1 and found[0][0] == PROFILES["film"].lora
    assert found[0][1].startswith(
        "20 module(s)' LoRA matrices do not fit the Wan transformer (dim 24, 2 blocks): "
        "blocks.0.attn1.to_k: down [2, 32], up [32, 2] for a [24, 24] weight"
    )


def test_the_talk_and_dance_adapters_are_checked_against_the_transformer(cache: Path) -> None:
    rewrite(cache / MULTITALK_FILE, lambda t: t.update({"blocks.2.norm_x.weight": np.zeros(24, np.float32)}))
    dance = cache / PROFILES["dance"].lora
    rewrite(dance, lambda t: t.update({"dwpose_embedding.12.weight": np.zeros((32, 4, 1, 2, 2), np.float32)}))
    config = cache / WAV2VEC_DIR / "config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "num_hidden_layers": 3}))
    talk = problems(cache, "talk")
    wav2vec = f"{WAV2VEC_DIR}/model.safetensors"
    assert (wav2vec, "no tensors for block 2 of the config's 3") in talk
    multitalk = [p for f, p in talk if f == MULTITALK_FILE]
    assert multitalk[0].startswith("1 key(s) match no parameter of the audio adapter for a transformer of width 24")
    assert "blocks.2.norm_x.weight" in multitalk[0]
    # wav2vec2 now claims 3 layers: proj1 takes 5 x 2 x 8 inputs, not 5 x 3 x 8.
    assert any("tensor audio_proj.proj1.weight has shape [16, 80]" in p and "needs [16, 120]" in p for p in multitalk)
    assert problems(cache, "dance") == [
        (
            PROFILES["dance"].lora,
            "tensor dwpose_embedding.12.weight has shape [32, 4, 1, 2, 2], the pose encoder for a DiT of width 24 "
            "needs [24, 4, 1, 2, 2]",
        )
    ]


def test_a_sharded_checkpoint_is_read_through_its_index(cache: Path) -> None:
    """The real checkpoints are sharded: every shard the index names is checked, and the index against them."""
    from safetensors.numpy import load_file, save_file

    directory = cache / WAN21 / "transformer"
    tensors = load_file(str(directory / "diffusion_pytorch_model.safetensors"))
    (directory / "diffusion_pytorch_model.safetensors").unlink()
    names = sorted(tensors)
    shards = {"diffusion_pytorch_model-00001-of-00002.safetensors": names[::2]}
    shards["diffusion_pytorch_model-00002-of-00002.safetensors"] = names[1::2]
    for shard, keys in shards.items():
        save_file({k: tensors[k] for k in keys}, str(directory / shard))
    weight_map = {k: shard for shard, keys in shards.items() for k in keys}
    index = directory / "diffusion_pytorch_model.safetensors.index.json"
    index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    report = check_model_cache(cache, "film")
    assert report.ok and all(f"{WAN21}/transformer/{s}" in report.files for s in shards)
    moved = names[0]
    index.write_text(
        json.dumps({"weight_map": {**weight_map, moved: "diffusion_pytorch_model-00002-of-00002.safetensors"}})
    )
    (directory / "diffusion_pytorch_model-00001-of-00002.safetensors").write_bytes(b"")
    found = problems(cache, "film")
    rel = f"{WAN21}/transformer"
    assert (
        f"{rel}/diffusion_pytorch_model-00001-of-00002.safetensors",
        "not a safetensors file: the file has 0 bytes, fewer than a safetensors header's 8",
    ) in found
    assert (
        f"{rel}/diffusion_pytorch_model.safetensors.index.json",
        f"1 tensor(s) it puts in diffusion_pytorch_model-00002-of-00002.safetensors are not in that file: {moved}",
    ) in found
    assert len(found) == 2


def test_several_problems_are_all_reported(cache: Path) -> None:
    (cache / WAN21 / "image_processor" / "preprocessor_config.json").unlink()
    (cache / WAN21 / "text_encoder" / "config.json").write_text("{not json")
    (cache / PROFILES["talk"].lora).write_bytes(b"\x00" * 7)
    (cache / WAN21 / "transformer_2").mkdir()
    vae = cache / WAN21 / "vae" / "config.json"
    vae.write_text(json.dumps({**json.loads(vae.read_text()), "latents_std": [1.0]}))
    found = problems(cache, "talk")
    files = [f for f, _ in found]
    assert files == [
        f"{WAN21}/text_encoder/config.json",
        f"{WAN21}/vae/config.json",
        f"{WAN21}/transformer_2",
        f"{WAN21}/image_processor/preprocessor_config.json",
        PROFILES["talk"].lora,
    ]
    assert found[0][1].startswith("not readable JSON: ")
    assert found[1][1] == "latents_std must hold z_dim 16 values (the worker normalises latents by it), got 1 values"
    assert found[2][1].startswith("a second expert (a Wan 2.2 model)")
    assert found[3][1] == "missing"
    assert found[4][1] == "not a safetensors file: the file has 7 bytes, fewer than a safetensors header's 8"


def test_a_cache_for_another_model_width_fails_the_cross_checks(cache: Path) -> None:
    encoder = cache / WAN22 / "text_encoder" / "config.json"
    encoder.write_text(json.dumps({**json.loads(encoder.read_text()), "d_model": 48}))
    vae = cache / WAN22 / "vae" / "config.json"
    vae.write_text(
        json.dumps({**json.loads(vae.read_text()), "z_dim": 8, "latents_mean": [0.0] * 8, "latents_std": [1.0] * 8})
    )
    found = problems(cache, "pro")
    config = f"{WAN22}/transformer/config.json"
    assert (config, "text_dim 32 is not the text encoder's d_model 48") in found
    assert any(
        f == config and p.startswith("in_channels 36 and out_channels 16 do not fit the VAE's z_dim 8")
        for f, p in found
    )
    # The shapes the wrong configs imply are what the files are checked against.
    assert any(f.endswith("text_encoder/model.safetensors") and "d_model 48" in p for f, p in found)
    assert any(f.endswith("vae/diffusion_pytorch_model.safetensors") and "z_dim 8" in p for f, p in found)


# --- the check's tables are the loaders' ------------------------------------------------------------------------


def test_the_tables_are_the_modules_the_loaders_build(tiny_cache: Path) -> None:
    import torch
    from diffusers import WanTransformer3DModel

    from longvideo_runtime import model_cache_check as check
    from longvideo_runtime.svi import audio_features, pose_encoder, protocol
    from longvideo_runtime.svi.multitalk import MultiTalk
    from longvideo_runtime.svi.pose_encoder import PoseEncoder

    for directory in (f"{WAN21}/transformer", f"{WAN22}/transformer_2"):
        model = WanTransformer3DModel.from_pretrained(tiny_cache / directory)
        linears = {n: tuple(m.weight.shape) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        assert transformer_linears(json.loads((tiny_cache / directory / "config.json").read_text())) == linears
    # Wan 2.1 I2V 14B's own config also sets added_kv_proj_dim (the image keys and values of every cross-attention).
    config = {**json.loads((tiny_cache / WAN21 / "transformer" / "config.json").read_text()), "added_kv_proj_dim": 24}
    model = WanTransformer3DModel.from_config(config)
    linears = {n: tuple(m.weight.shape) for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert "blocks.1.attn2.add_k_proj" in linears and transformer_linears(config) == linears
    # The parameters a whole delta may change: every parameter of the Linear and norm modules, no more.
    for built, built_config in (
        (model, config),
        (
            WanTransformer3DModel.from_pretrained(tiny_cache / WAN22 / "transformer"),
            json.loads((tiny_cache / WAN22 / "transformer" / "config.json").read_text()),
        ),
    ):
        kinds = (torch.nn.Linear, torch.nn.LayerNorm, torch.nn.RMSNorm)
        owned = {n for n, m in built.named_modules() if isinstance(m, kinds)}
        parameters = {n: tuple(p.shape) for n, p in built.named_parameters() if n.rpartition(".")[0] in owned}
        assert "blocks.1.norm2.bias" in parameters and "blocks.0.attn1.norm_q.weight" in parameters
        assert transformer_parameters(built_config) == parameters
    assert check.POSE_MARKER == pose_encoder.MARKER
    assert (check.AUDIO_WINDOW, check.AUDIO_LATENT_WINDOW) == (audio_features.WINDOW, audio_features.LATENT_WINDOW)
    assert protocol.condition_mask(5, 16, 16).shape[1] == check.MASK_CHANNELS
    assert pose_encoder_shapes(40, 6) == {k: tuple(v.shape) for k, v in PoseEncoder(40, hidden=6).state_dict().items()}
    module = MultiTalk(3, 24, 2, 2, 8, intermediate=16, tokens=4, token_channels=8)
    assert multitalk_shapes(3, 24, 2, 8, 16, 4, 8) == {k: tuple(v.shape) for k, v in module.state_dict().items()}


def test_what_the_check_refuses_the_loaders_refuse(cache: Path) -> None:
    """A LoRA of another width and a MultiTalk file of another depth fail the real loaders as the check says."""
    import torch
    from diffusers import WanTransformer3DModel
    from safetensors.torch import save_file

    from longvideo_runtime.errors import BadInput
    from longvideo_runtime.svi.lora import merge_lora
    from longvideo_runtime.svi.multitalk import load_multitalk
    from longvideo_runtime.svi.tiny import svi_lora_state

    save_file(svi_lora_state(2, dim=32, ffn=40), str(cache / PROFILES["film"].lora))
    rewrite(cache / MULTITALK_FILE, lambda t: [t.pop(k) for k in [k for k in t if k.startswith("blocks.1.")]])
    found = problems(cache, "talk") + problems(cache, "film")
    assert {f for f, _ in found} == {MULTITALK_FILE, PROFILES["film"].lora}
    transformer = WanTransformer3DModel.from_pretrained(cache / WAN21 / "transformer").to(torch.float32)
    with pytest.raises(BadInput, match="do not fit its weight"):
        merge_lora(transformer, cache / PROFILES["film"].lora)
    with pytest.raises(BadInput, match="are missing"):
        load_multitalk(cache / MULTITALK_FILE, transformer, 2, 8)


# --- the termination message --------------------------------------------------------------------------------------


def test_a_huge_list_of_problems_still_fits_the_termination_message(tmp_path: Path) -> None:
    report = ModelCacheReport(
        "pro",
        Path("/models"),
        (),
        tuple(
            ModelProblem(f"Wan2.2/transformer/shard-{i:05d}.safetensors", "missing " + "x" * (i % 400))
            for i in range(2000)
        ),
        0.1,
    )
    error = ModelCacheError(report)
    assert error.message.startswith(f"{FIELD}: the model cache at /models has 2000 problems for variant pro: ")
    message = {
        "kind": "probe",
        "ok": False,
        "exitCode": 2,
        "reason": "bad-input",
        "error": error.message,
        "field": FIELD,
    }
    message["modelProblems"] = fitting(message, error.model_problems)
    text = compact(message)
    assert len(text.encode()) <= MAX_TERMINATION_BYTES
    parsed = json.loads(text)
    assert 1 < len(parsed["modelProblems"]) < 2000
    assert parsed["modelProblems"][0] == {"file": "Wan2.2/transformer/shard-00000.safetensors", "problem": "missing "}
    assert parsed["error"] == error.message and "and 19" in parsed["error"]


# --- through the CLI ------------------------------------------------------------------------------------------------


def test_the_probe_fails_a_wrong_cache_naming_the_field_and_every_problem(cache: Path, tmp_path: Path) -> None:
    (cache / PROFILES["pro"].lora_2).unlink()
    rewrite(cache / WAN22 / "vae" / "diffusion_pytorch_model.safetensors", lambda t: t.pop("decoder.conv_out.weight"))
    run = run_cli(
        ["probe"], {"LV_CHECK_MODELS": "pro", "LV_MODELS_DIR": str(cache), "LV_WORKSPACE": str(tmp_path)}, tmp_path
    )
    assert run.code == CONTRACT.exit_codes.bad_input, run.stderr[-2000:]
    assert run.termination == run.message
    message = run.message
    assert set(message) <= set(CONTRACT.termination_message.failure) | {"kind"}
    assert message["reason"] == "bad-input" and message["field"] == FIELD == "spec.storage.models.claimName"
    assert message["error"].startswith(f"{FIELD}: the model cache at {cache} has 2 problems for variant pro: ")
    assert message["modelProblems"] == [
        {
            "file": f"{WAN22}/vae/diffusion_pytorch_model.safetensors",
            "problem": "no tensor decoder.conv_out.weight (the config (base_dim 3, z_dim 16, dim_mult [1, 1, 1, 1]) "
            "needs [3, 3, 3, 3, 3])",
        },
        {"file": PROFILES["pro"].lora_2, "problem": "missing"},
    ]


def test_the_probe_of_an_empty_cache_lists_what_fits(tmp_path: Path) -> None:
    empty = tmp_path / "models"
    empty.mkdir()
    run = run_cli(["probe", "--check-models", "talk", "--models-dir", str(empty)], {}, tmp_path)
    assert run.code == 2 and run.termination is not None
    text = json.dumps(run.termination, separators=(",", ":"), ensure_ascii=False)
    assert len(text.encode()) <= MAX_TERMINATION_BYTES
    listed = run.termination["modelProblems"]
    assert f"has {len(listed)} problems" in run.termination["error"]
    assert {"file": MULTITALK_FILE, "problem": "missing"} in listed


def write_wav(path: Path, seconds: float) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(np.zeros(int(16000 * seconds), "<i2").tobytes())
    return path


def test_the_probe_of_a_right_cache_reports_its_files_beside_the_audio(tiny_cache: Path, tmp_path: Path) -> None:
    write_wav(tmp_path / "voice.wav", 1.5)
    env = {
        "LV_CHECK_MODELS": "talk",
        "LV_MODELS_DIR": str(tiny_cache),
        "LV_AUDIO": json.dumps({"pvc": {"claimName": "inputs", "path": "voice.wav"}}),
        "LV_AUDIO_DIR": str(tmp_path),
        "LV_WORKSPACE": str(tmp_path),
    }
    run = run_cli(["probe"], env, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    assert run.termination == run.message
    assert run.message["modelFiles"] == len(check_model_cache(tiny_cache, "talk").files)
    assert run.message["audioSeconds"] == pytest.approx(1.5, abs=1e-3)
    assert set(run.message) <= set(CONTRACT.termination_message.probe)
    checked = [e for e in run.logs if e.get("event") == "models-checked"]
    assert checked and checked[0]["problems"] == 0
    print(f"probe's model check of the tiny talk cache: {checked[0]['seconds']} s")


def test_a_cache_that_is_not_there_is_one_problem(tmp_path: Path) -> None:
    run = run_cli(["probe"], {"LV_CHECK_MODELS": "film", "LV_MODELS_DIR": str(tmp_path / "gone")}, tmp_path)
    assert run.code == 2 and run.message["field"] == FIELD
    problem = f"{tmp_path / 'gone'} is not a directory (is the model cache mounted there?)"
    assert run.message["modelProblems"] == [{"file": ".", "problem": problem}]
    assert (
        run.message["error"]
        == f"{FIELD}: the model cache at {tmp_path / 'gone'} has 1 problem for variant film: .: {problem}"
    )


def test_the_probe_refuses_an_unknown_variant(tmp_path: Path) -> None:
    run = run_cli(["probe"], {"LV_CHECK_MODELS": "sing"}, tmp_path)
    assert run.code == 2 and "LV_CHECK_MODELS must be one of shot, film, pro, talk, dance" in run.message["error"]


def test_check_models_prints_a_line_per_problem_or_ok(cache: Path, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC)}
    command = [
        sys.executable,
        "-m",
        "longvideo_runtime",
        "check-models",
        "--variant",
        "shot",
        "--models-dir",
        str(cache),
    ]
    ok = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    files = len(check_model_cache(cache, "shot").files)
    assert (ok.returncode, ok.stdout) == (0, f"ok: {files} files\n")
    (cache / PROFILES["shot"].lora).unlink()
    (cache / WAN21 / "tokenizer" / "tokenizer_config.json").write_text("[]")
    bad = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stdout.splitlines() == [
        f"{WAN21}/tokenizer/tokenizer_config.json: not a JSON object",
        f"{PROFILES['shot'].lora}: missing",
    ]


# --- extra LoRAs (LV_LORAS) -------------------------------------------------------------------------------------


def probe_loras(cache: Path, tmp_path: Path, variant: str, loras: list[dict[str, object]]) -> dict[str, object]:
    env = {
        "LV_CHECK_MODELS": variant,
        "LV_MODELS_DIR": str(cache),
        "LV_WORKSPACE": str(tmp_path),
        "LV_LORAS": json.dumps(loras),
    }
    run = run_cli(["probe"], env, tmp_path)
    assert run.code in (0, CONTRACT.exit_codes.bad_input), run.stderr[-2000:]
    return run.message


def test_the_probe_checks_each_extra_lora_against_the_experts_it_goes_into(cache: Path, tmp_path: Path) -> None:
    from longvideo_runtime.svi.tiny import STYLE_LORA

    fine = probe_loras(cache, tmp_path, "pro", [{"path": STYLE_LORA}, {"path": STYLE_LORA, "expert": "lowNoise"}])
    assert fine["ok"] is True
    assert fine["modelFiles"] == len(check_model_cache(cache, "pro").files) + 1  # type: ignore[arg-type]

    wrong = probe_loras(
        cache,
        tmp_path,
        "film",
        [{"path": "loras/absent.safetensors"}, {"path": STYLE_LORA, "expert": "highNoise"}, {"path": STYLE_LORA}],
    )
    assert wrong["modelProblems"] == [
        {"file": "loras/absent.safetensors", "problem": "missing"},
        {"file": STYLE_LORA, "problem": "LV_LORAS[1] names the highNoise expert, but this model has one transformer"},
    ]


def test_an_extra_lora_for_another_model_is_named_per_expert(cache: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from longvideo_runtime.svi.tiny import svi_lora_state

    save_file(svi_lora_state(2, dim=32, ffn=40), str(cache / "loras" / "wide.safetensors"))
    wrong = probe_loras(cache, tmp_path, "pro", [{"path": "loras/wide.safetensors", "strength": 0.5}])
    found = wrong["modelProblems"]
    assert isinstance(found, list) and [p["file"] for p in found] == ["loras/wide.safetensors"] * 2
    assert "do not fit the Wan transformer (dim 24" in found[0]["problem"]
    assert "do not fit the Wan transformer_2 (dim 24" in found[1]["problem"]


def test_a_distilled_loras_whole_deltas_are_checked_against_the_parameters(cache: Path, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from longvideo_runtime.svi.tiny import svi_lora_state

    state = {
        **svi_lora_state(2, prefix="diffusion_model."),
        "diffusion_model.blocks.0.self_attn.q.diff_b": torch_zeros(24),
        "diffusion_model.blocks.1.norm3.diff": torch_zeros(24),
        "diffusion_model.head.head.diff_b": torch_zeros(64),
    }
    save_file(state, str(cache / "loras" / "distilled.safetensors"))
    assert probe_loras(cache, tmp_path, "pro", [{"path": "loras/distilled.safetensors"}])["ok"] is True
    state["diffusion_model.blocks.1.norm3.diff"] = torch_zeros(32)
    state["diffusion_model.blocks.0.norm1.diff"] = torch_zeros(24)
    save_file(state, str(cache / "loras" / "distilled.safetensors"))
    found = probe_loras(cache, tmp_path, "film", [{"path": "loras/distilled.safetensors"}])["modelProblems"]
    assert isinstance(found, list) and len(found) == 2
    assert found[0]["problem"].startswith("1 key(s) match no module of the Wan transformer (dim 24, 2 blocks): ")
    assert found[0]["problem"].endswith("diffusion_model.blocks.0.norm1.diff")
    assert "blocks.1.norm2.weight: a delta of [32] for a [24] parameter" in found[1]["problem"]


def torch_zeros(*shape: int) -> object:
    import torch

    return torch.zeros(*shape)
