"""SVI LoRA files (DiffSynth key names) merged into diffusers' Wan transformer; unknown keys are named."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from longvideo_runtime.errors import BadInput  # noqa: E402
from longvideo_runtime.svi.lora import SVI_BLOCK_TARGETS, diffusers_module, merge_lora  # noqa: E402
from longvideo_runtime.svi.tiny import _transformer, svi_lora_state  # noqa: E402


@pytest.fixture
def transformer() -> torch.nn.Module:
    torch.manual_seed(0)
    return _transformer(image_dim=4)


def modules(model: torch.nn.Module) -> set[str]:
    return {n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}


# SVI's trained modules (DiffSynth names) and the diffusers modules they are, as diffusers' own converter maps them
# (loaders/lora_conversion_utils.py, _convert_non_diffusers_wan_lora_to_diffusers); see ADR 0005.
VERIFIED_BLOCK_MAP = {
    "self_attn.q": "attn1.to_q",
    "self_attn.k": "attn1.to_k",
    "self_attn.v": "attn1.to_v",
    "self_attn.o": "attn1.to_out.0",
    "cross_attn.q": "attn2.to_q",
    "cross_attn.k": "attn2.to_k",
    "cross_attn.v": "attn2.to_v",
    "cross_attn.o": "attn2.to_out.0",
    "ffn.0": "ffn.net.0.proj",
    "ffn.2": "ffn.net.2",
}


@pytest.mark.parametrize("image_dim", [4, None], ids=["wan21-i2v", "wan22-expert"])
def test_every_module_svi_trains_exists_in_diffusers_wan(image_dim: int | None) -> None:
    torch.manual_seed(0)
    names = modules(_transformer(image_dim=image_dim))
    assert set(SVI_BLOCK_TARGETS) == set(VERIFIED_BLOCK_MAP), "q, k, v, o, ffn.0, ffn.2 in both attentions"
    for block in range(2):
        for svi, ours in VERIFIED_BLOCK_MAP.items():
            assert diffusers_module(f"blocks.{block}.{svi}", names) == f"blocks.{block}.{ours}"


@pytest.mark.parametrize("image_dim", [4, None], ids=["wan21-i2v", "wan22-expert"])
@pytest.mark.parametrize("prefix", ["", "diffusion_model.", "pipe.dit."], ids=["bare", "diffusion_model", "pipe.dit"])
@pytest.mark.parametrize("peft_default", [True, False], ids=["default", "plain"])
def test_svi_style_files_load_with_every_key_mapped(
    tmp_path: Path, image_dim: int | None, prefix: str, peft_default: bool
) -> None:
    torch.manual_seed(0)
    model = _transformer(image_dim=image_dim)
    state = svi_lora_state(layers=2, seed=5, prefix=prefix, peft_default=peft_default)
    assert len(state) == 2 * len(SVI_BLOCK_TARGETS) * 2
    path = tmp_path / "svi.safetensors"
    save_file(state, str(path))
    before = {n: m.weight.detach().clone() for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    assert merge_lora(model, path) == 2 * len(SVI_BLOCK_TARGETS)
    adapter = ".default" if peft_default else ""
    after = dict(model.named_modules())
    for block in range(2):
        for svi, ours in VERIFIED_BLOCK_MAP.items():
            key = f"{prefix}blocks.{block}.{svi}"
            down, up = state[f"{key}.lora_A{adapter}.weight"], state[f"{key}.lora_B{adapter}.weight"]
            target = f"blocks.{block}.{ours}"
            # SVI merges W + scale * B @ A, with no alpha/rank factor (its files carry no alpha).
            torch.testing.assert_close(after[target].weight, before[target] + up @ down)
    untouched = [n for n in before if not n.startswith("blocks.") or ".norm" in n or "add_" in n]
    assert untouched and all(torch.equal(after[n].weight, before[n]) for n in untouched)


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


def test_kohya_keys_without_alpha_merge_unscaled(tmp_path: Path, transformer: torch.nn.Module) -> None:
    down, up = torch.randn(4, 24), torch.randn(32, 4)
    path = tmp_path / "k.safetensors"
    save_file({"blocks.1.ffn.0.lora_down.weight": down, "blocks.1.ffn.0.lora_up.weight": up}, str(path))
    before = transformer.blocks[1].ffn.net[0].proj.weight.detach().clone()
    merge_lora(transformer, path)
    torch.testing.assert_close(transformer.blocks[1].ffn.net[0].proj.weight, before + up @ down)


def test_a_matrix_named_twice_is_an_error(tmp_path: Path, transformer: torch.nn.Module) -> None:
    path = tmp_path / "twice.safetensors"
    save_file(
        {
            "blocks.0.self_attn.q.lora_A.weight": torch.zeros(2, 24),
            "pipe.dit.blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(2, 24),
            "blocks.0.self_attn.q.lora_B.weight": torch.zeros(24, 2),
        },
        str(path),
    )
    with pytest.raises(BadInput, match=r"same matrix.*self_attn\.q\.lora_A"):
        merge_lora(transformer, path)


def test_image_attention_keys_do_not_fit_a_wan22_expert(tmp_path: Path) -> None:
    torch.manual_seed(0)
    expert = _transformer(image_dim=None)
    state = svi_lora_state(layers=2)
    state["blocks.0.cross_attn.k_img.lora_A.default.weight"] = torch.zeros(2, 24)
    state["blocks.0.cross_attn.k_img.lora_B.default.weight"] = torch.zeros(24, 2)
    path = tmp_path / "wan21-on-wan22.safetensors"
    save_file(state, str(path))
    with pytest.raises(BadInput, match=r"2 key\(s\) match no module.*k_img"):
        merge_lora(expert, path)


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


def test_whole_deltas_of_biases_and_norms_merge_at_the_scale(tmp_path: Path, transformer: torch.nn.Module) -> None:
    # A distilled LoRA's forms: a low-rank pair, a `diff_b` for the same module's bias, `diff`s for norms that only
    # a whole delta can change (Wan's names: norm3 is diffusers' norm2, the cross-attention norm).
    g = torch.Generator().manual_seed(4)
    state = {
        "diffusion_model.blocks.0.self_attn.q.lora_down.weight": torch.randn(4, 24, generator=g),
        "diffusion_model.blocks.0.self_attn.q.lora_up.weight": torch.randn(24, 4, generator=g),
        "diffusion_model.blocks.0.self_attn.q.diff_b": torch.randn(24, generator=g),
        "diffusion_model.blocks.1.norm3.diff": torch.randn(24, generator=g),
        "diffusion_model.blocks.1.norm3.diff_b": torch.randn(24, generator=g),
        "diffusion_model.blocks.1.cross_attn.norm_k.diff": torch.randn(24, generator=g),
        "diffusion_model.img_emb.proj.0.diff": torch.randn(4, generator=g),
        "diffusion_model.head.head.diff_b": torch.randn(64, generator=g),
    }
    path = tmp_path / "distilled.safetensors"
    save_file(state, str(path))
    before = {n: p.detach().clone() for n, p in transformer.named_parameters()}
    # Modules changed: to_q (pair and bias), norm2, attn2.norm_k, the image embedder's norm1, proj_out.
    assert merge_lora(transformer, path, scale=0.5) == 5
    after = dict(transformer.named_parameters())
    expected = {
        "blocks.0.attn1.to_q.bias": "diffusion_model.blocks.0.self_attn.q.diff_b",
        "blocks.1.norm2.weight": "diffusion_model.blocks.1.norm3.diff",
        "blocks.1.norm2.bias": "diffusion_model.blocks.1.norm3.diff_b",
        "blocks.1.attn2.norm_k.weight": "diffusion_model.blocks.1.cross_attn.norm_k.diff",
        "condition_embedder.image_embedder.norm1.weight": "diffusion_model.img_emb.proj.0.diff",
        "proj_out.bias": "diffusion_model.head.head.diff_b",
    }
    for name, key in expected.items():
        torch.testing.assert_close(after[name], before[name] + 0.5 * state[key])
    changed = {n for n, p in after.items() if not torch.equal(p, before[n])}
    assert changed == set(expected) | {"blocks.0.attn1.to_q.weight"}


def test_a_whole_delta_of_another_shape_or_module_is_an_error(tmp_path: Path, transformer: torch.nn.Module) -> None:
    path = tmp_path / "bad.safetensors"
    save_file({"blocks.0.norm3.diff": torch.zeros(32)}, str(path))
    with pytest.raises(BadInput, match=r"blocks\.0\.norm2\.weight \(32,\)"):
        merge_lora(transformer, path)
    # norm1 has no weights in Wan (no affine): nothing there to change.
    save_file({"blocks.0.norm1.diff": torch.zeros(24), "blocks.0.self_attn.q.diff_b": torch.zeros(24)}, str(path))
    with pytest.raises(BadInput, match=r"1 key\(s\) match no module of the Wan transformer: blocks\.0\.norm1\.diff$"):
        merge_lora(transformer, path)
