"""Extra LoRAs (LV_LORAS) and per-scene sampling settings on the real svi code path, tiny models, CPU."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from chain import segment_env, svi_env  # noqa: E402
from longvideo_runtime.errors import BadInput  # noqa: E402
from longvideo_runtime.logs import Logger  # noqa: E402
from longvideo_runtime.segment import run_segment  # noqa: E402
from longvideo_runtime.spec import ExtraLora, parse_segment  # noqa: E402
from longvideo_runtime.svi import guidance, models  # noqa: E402
from longvideo_runtime.svi.backend import SviBackend  # noqa: E402
from longvideo_runtime.svi.lora import merge_extra_loras  # noqa: E402
from longvideo_runtime.svi.tiny import STYLE_LORA, style_lora_state  # noqa: E402


def env(models_: dict[str, Path], variant: str, reference: Path, tmp: Path, **extra: str) -> dict[str, str]:
    return {**svi_env(models_, variant, reference), **segment_env(tmp / "ws", 0, 3, LV_PROMPT="a boat"), **extra}


def loras(*items: dict[str, object]) -> str:
    return json.dumps(list(items))


def test_lv_loras_is_read_with_paths_under_the_cache(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    spec = parse_segment(
        env(
            tiny_models,
            "pro",
            reference_png,
            tmp_path,
            LV_LORAS=loras({"path": STYLE_LORA, "strength": 0.5, "expert": "highNoise"}, {"path": "b.safetensors"}),
        )
    )
    root = tiny_models["wan21"].parent
    assert spec.svi.extra_loras == (
        ExtraLora(root / STYLE_LORA, 0.5, "highNoise"),
        ExtraLora(root / "b.safetensors", 1.0, None),
    )
    assert parse_segment(env(tiny_models, "pro", reference_png, tmp_path)).svi.extra_loras == ()


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("not json", "LV_LORAS is not JSON"),
        ('{"path": "a.safetensors"}', "LV_LORAS must be a JSON list"),
        (loras({"path": "a.ckpt"}), "LV_LORAS[0].path"),
        (loras({"path": "a.safetensors"}, {"path": "../b.safetensors"}), "LV_LORAS[1].path"),
        (loras({"path": "a.safetensors", "strength": 9}), "LV_LORAS[0].strength"),
        (loras({"path": "a.safetensors", "strength": True}), "LV_LORAS[0].strength"),
        (loras({"path": "a.safetensors", "expert": "middle"}), "LV_LORAS[0].expert"),
        (loras({"path": "a.safetensors", "scale": 1}), "LV_LORAS[0] must be an object"),
    ],
)
def test_a_malformed_lv_loras_is_bad_input_naming_the_entry(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, value: str, named: str
) -> None:
    with pytest.raises(BadInput, match=re.escape(named)):
        parse_segment(env(tiny_models, "film", reference_png, tmp_path, LV_LORAS=value))


def _weights(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _style_delta(strength: float) -> dict[str, torch.Tensor]:
    """What merging the tiny style LoRA at `strength` adds to each diffusers weight, from its kohya keys by hand."""
    state = style_lora_state()
    names = {"self_attn.q": "attn1.to_q", "cross_attn.o": "attn2.to_out.0", "ffn.2": "ffn.net.2"}
    deltas = {}
    for block in (0, 1):
        for theirs, ours in names.items():
            base = f"diffusion_model.blocks.{block}.{theirs}"
            down, up, alpha = state[f"{base}.lora_down.weight"], state[f"{base}.lora_up.weight"], state[f"{base}.alpha"]
            deltas[f"blocks.{block}.{ours}.weight"] = strength * float(alpha) / down.shape[0] * (up @ down)
    return deltas


@pytest.mark.parametrize(
    ("expert", "changed"), [("highNoise", ["transformer"]), (None, ["transformer", "transformer_2"])]
)
def test_an_extra_lora_merges_at_its_strength_into_its_experts_only(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, expert: str | None, changed: list[str]
) -> None:
    item: dict[str, object] = {"path": STYLE_LORA, "strength": 0.5} | ({"expert": expert} if expert else {})
    spec = parse_segment(env(tiny_models, "pro", reference_png, tmp_path, LV_LORAS=loras(item)))
    components = models.load(spec.svi, two_experts=True, log=Logger(level="error"))
    experts = {"transformer": components.transformer, "transformer_2": components.transformer_2}
    before = {name: _weights(e) for name, e in experts.items()}
    # 2 blocks x 10 targeted modules, once per expert merged into.
    assert merge_extra_loras(components.transformer, components.transformer_2, spec.svi.extra_loras) == 20 * len(
        changed
    )
    expected = _style_delta(0.5)
    for name, transformer in experts.items():
        after = _weights(transformer)
        for key, delta in expected.items():
            moved = after[key] - before[name][key]
            if name in changed:
                torch.testing.assert_close(moved, delta, rtol=1e-4, atol=1e-6)
            else:
                assert torch.equal(moved, torch.zeros_like(moved)), f"{name} {key} changed"
        untouched = [k for k in after if "norm" in k or "patch_embedding" in k]
        assert untouched and all(torch.equal(after[k], before[name][k]) for k in untouched)


def test_an_expert_on_a_one_transformer_model_is_bad_input(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    item = {"path": STYLE_LORA, "expert": "lowNoise"}
    spec = parse_segment(env(tiny_models, "film", reference_png, tmp_path, LV_LORAS=loras(item)))
    components = models.load(spec.svi, two_experts=False, log=Logger(level="error"))
    with pytest.raises(BadInput, match=r"LV_LORAS\[0\] \(tiny-style.safetensors\) names the lowNoise expert"):
        merge_extra_loras(components.transformer, components.transformer_2, spec.svi.extra_loras)


def test_a_missing_lora_file_fails_the_segment_as_bad_input(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    item = {"path": "loras/absent.safetensors"}
    spec = parse_segment(env(tiny_models, "film", reference_png, tmp_path, LV_LORAS=loras(item)))
    with pytest.raises(BadInput, match=r"absent\.safetensors"):
        run_segment(spec, Logger(level="error"), backend=SviBackend())


def _render(
    tmp: Path, models_: dict[str, Path], reference: Path, monkeypatch: pytest.MonkeyPatch, **extra: str
) -> tuple[int, object]:
    """Renders segment 0 in process; returns the transformer passes it ran and its hand-off digest."""
    passes = 0
    run = guidance.run_pass

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        nonlocal passes
        passes += 1
        return run(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(guidance, "run_pass", counted)
    spec = parse_segment(env(models_, "pro", reference, tmp, **extra))
    result = run_segment(spec, Logger(level="error"), backend=SviBackend())
    return passes, result["latentsDigest"]


@pytest.mark.slow
def test_guidance_1_runs_one_transformer_pass_per_step_and_the_settings_change_the_clip(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    guided, base = _render(tmp_path / "a", tiny_models, reference_png, monkeypatch, LV_STEPS="3", LV_GUIDANCE_SCALE="3")
    fast, fast_digest = _render(
        tmp_path / "b", tiny_models, reference_png, monkeypatch, LV_STEPS="2", LV_GUIDANCE_SCALE="1"
    )
    assert guided == 2 * 3, "text guidance: a conditional and an unconditional pass per step"
    assert fast == 2, "guidance 1: the conditional pass alone"
    assert fast_digest != base
    styled = loras({"path": STYLE_LORA, "strength": 1, "expert": "highNoise"})
    _, with_style = _render(
        tmp_path / "c", tiny_models, reference_png, monkeypatch, LV_STEPS="3", LV_GUIDANCE_SCALE="3", LV_LORAS=styled
    )
    _, negative = _render(
        tmp_path / "d",
        tiny_models,
        reference_png,
        monkeypatch,
        LV_STEPS="3",
        LV_GUIDANCE_SCALE="3",
        LV_NEGATIVE_PROMPT="a storm",
    )
    assert len({base, with_style, negative}) == 3, "the LoRA and the negative prompt each change the clip"
