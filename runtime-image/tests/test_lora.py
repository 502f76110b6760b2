"""SVI LoRA files (DiffSynth key names) merged into diffusers' Wan transformer; unknown keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from longvideo_runtime.errors import BadInput  # noqa: E402
from longvideo_runtime.svi.lora import diffusers_module, merge_lora  # noqa: E402
from longvideo_runtime.svi.tiny import _transformer, svi_lora_state  # noqa: E402


@pytest.fixture
def transformer() -> torch.nn.Module:
    torch.manual_seed(0)
    return _transformer(image_dim=4)


def modules(model: torch.nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


def test_svi_names_map_to_diffusers_modules(transformer: torch.nn.Module) -> None:
    names = modules(transformer)
    assert diffusers_module("blocks.1.self_attn.q", names) == "blocks.1.attn1.to_q"
    assert diffusers_module("diffusion_model.blocks.0.cross_attn.o", names) == "blocks.0.attn2.to_out.0"
    assert diffusers_module("blocks.0.ffn.0", names) == "blocks.0.ffn.net.0.proj"
    assert diffusers_module("blocks.0.ffn.2", names) == "blocks.0.ffn.net.2"
    assert diffusers_module("head.head", names) == "proj_out"
    assert diffusers_module("blocks.0.attn1.to_k", names) == "blocks.0.attn1.to_k"
    assert diffusers_module("blocks.9.self_attn.q", names) is None


def test_merge_adds_b_times_a(tmp_path: Path, transformer: torch.nn.Module) -> None:
    state = svi_lora_state(layers=2, seed=3)
    path = tmp_path / "svi-film.safetensors"
    save_file(state, str(path))
    before = transformer.blocks[1].attn1.to_q.weight.detach().clone()
    assert merge_lora(transformer, path, scale=0.5) == 2 * (4 + 4 + 2)
    expected = before + 0.5 * (
        state["blocks.1.self_attn.q.lora_B.default.weight"] @ state["blocks.1.self_attn.q.lora_A.default.weight"]
    )
    torch.testing.assert_close(transformer.blocks[1].attn1.to_q.weight, expected)


def test_kohya_keys_with_alpha(tmp_path: Path, transformer: torch.nn.Module) -> None:
    down, up = torch.randn(4, 24), torch.randn(24, 4)
    path = tmp_path / "k.safetensors"
    save_file(
        {
            "diffusion_model.blocks.0.cross_attn.k.lora_down.weight": down,
            "diffusion_model.blocks.0.cross_attn.k.lora_up.weight": up,
            "diffusion_model.blocks.0.cross_attn.k.alpha": torch.tensor(2.0),
        },
        str(path),
    )
    before = transformer.blocks[0].attn2.to_k.weight.detach().clone()
    merge_lora(transformer, path)
    torch.testing.assert_close(transformer.blocks[0].attn2.to_k.weight, before + 0.5 * up @ down)


def test_unknown_keys_are_listed(tmp_path: Path, transformer: torch.nn.Module) -> None:
    state = svi_lora_state(layers=2)
    state["blocks.0.self_attn.norm_q.lora_A.default.weight"] = torch.zeros(2, 24)
    state["dwpose_embedding.0.weight"] = torch.zeros(3, 3)
    path = tmp_path / "svi-dance.safetensors"
    save_file(state, str(path))
    before = transformer.blocks[0].attn1.to_q.weight.detach().clone()
    with pytest.raises(BadInput, match=r"2 key\(s\) match no module.*blocks\.0\.self_attn\.norm_q.*dwpose_embedding"):
        merge_lora(transformer, path)
    assert torch.equal(before, transformer.blocks[0].attn1.to_q.weight), "nothing is merged from a refused file"


def test_more_blocks_than_the_model_is_an_error(tmp_path: Path, transformer: torch.nn.Module) -> None:
    path = tmp_path / "big.safetensors"
    save_file(svi_lora_state(layers=3), str(path))
    with pytest.raises(BadInput, match=r"blocks\.2\."):
        merge_lora(transformer, path)


def test_half_pairs_shapes_and_missing_files(tmp_path: Path, transformer: torch.nn.Module) -> None:
    path = tmp_path / "half.safetensors"
    save_file({"blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(2, 24)}, str(path))
    with pytest.raises(BadInput, match="only one of their two"):
        merge_lora(transformer, path)
    save_file(
        {
            "blocks.0.self_attn.q.lora_A.weight": torch.zeros(2, 7),
            "blocks.0.self_attn.q.lora_B.weight": torch.zeros(24, 2),
        },
        str(path),
    )
    with pytest.raises(BadInput, match="do not fit"):
        merge_lora(transformer, path)
    with pytest.raises(BadInput, match="does not exist"):
        merge_lora(transformer, tmp_path / "absent.safetensors")
