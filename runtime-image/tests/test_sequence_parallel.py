"""Sequence-parallel segments (LV_GPU_COUNT > 1) on CPU with gloo: the ranks' latents against one process, the
attention each rank holds, the launcher's failures and refusals (docs/adr/0023-sequence-parallel-segments.md)."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from chain import attempt_dir, result_dir, segment_env, svi_env  # noqa: E402
from conftest import SRC, Run, run_cli  # noqa: E402
from longvideo_runtime import media, safetensors_io  # noqa: E402
from longvideo_runtime.svi.guidance import TextGuidance  # noqa: E402
from longvideo_runtime.svi.parallel_plan import allowed_counts, plan_for  # noqa: E402
from longvideo_runtime.svi.sampler import sample  # noqa: E402
from longvideo_runtime.svi.tiny import STYLE_LORA  # noqa: E402
from sequence_parallel_ranks import CASES, STEPS, experts, job  # noqa: E402

TESTS = Path(__file__).resolve().parent
#: Latents of 1, 2 and 4 ranks agree to this (they are about 1 in size). Not bitwise: a rank multiplies matrices of
#: S/P rows instead of S, and attends over H/P heads, so the kernels block and reduce in another order; float32
#: rounding then differs in the last bits, and 4 steps through 2 blocks carry it along. Measured: under 1e-6.
TOLERANCE = 1e-5
WORLDS = {
    2: ["wan21-guided", "wan21-unguided", "wan22-guided", "wan22-unguided"],
    # 4 ranks without guidance split 4 ways over heads: the 4-head tiny transformer.
    4: ["wan21-guided", "wan21-4heads-unguided", "wan22-guided", "wan22-4heads-unguided"],
}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def rank_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Every case of WORLDS run on its ranks (one launch per world size): results by (case, world), by rank."""
    out = tmp_path_factory.mktemp("ranks")
    results: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for world, names in WORLDS.items():
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": os.pathsep.join([str(SRC), str(TESTS)]),
            "WORLD_SIZE": str(world),
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": str(_free_port()),
        }
        command = [sys.executable, str(TESTS / "sequence_parallel_ranks.py"), str(out), *names]
        ranks = [
            subprocess.Popen(command, env={**env, "RANK": str(r)}, stderr=subprocess.PIPE, text=True)
            for r in range(world)
        ]
        for r, process in enumerate(ranks):
            _, stderr = process.communicate(timeout=300)
            assert process.returncode == 0, f"rank {r} of {world}: {stderr[-3000:]}"
        for name in names:
            results[(name, world)] = [torch.load(out / f"{name}-{world}-{r}.pt") for r in range(world)]
    return results


def single_process(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[tuple[int, ...]], int, list[str]]:
    """(latents, self-attention query shapes, bytes of the largest q + k + v, experts used) in one process."""
    case = CASES[name]
    switch = experts(case)
    inputs = job(case)
    shapes: list[tuple[int, ...]] = []
    largest = 0
    original = torch.nn.functional.scaled_dot_product_attention

    def spy(query: Any, key: Any, value: Any, **kwargs: Any) -> Any:
        nonlocal largest
        if query.shape[-2] == key.shape[-2]:  # self-attention: as many keys as queries (cross-attention: 512 or 9)
            shapes.append(tuple(query.shape))
            largest = max(largest, sum(t.numel() * t.element_size() for t in (query, key, value)))
        return original(query=query, key=key, value=value, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    guidance = TextGuidance(inputs["text"], inputs["negative"], inputs["image"], case.guidance)
    latents = sample(switch, inputs["noise"], inputs["condition"], guidance, STEPS, 5.0, torch.float32)
    monkeypatch.undo()
    return latents, shapes, largest, switch.used


CASE_WORLDS = [(name, world) for world, names in WORLDS.items() for name in names]


@pytest.mark.parametrize(("name", "world"), CASE_WORLDS)
def test_ranks_give_the_single_process_latents(
    name: str, world: int, rank_results: dict[tuple[str, int], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, _, _, used = single_process(name, monkeypatch)
    ranks = rank_results[(name, world)]
    for rank in ranks[1:]:
        assert torch.equal(rank["latents"], ranks[0]["latents"]), "every rank ends with the same latents"
    difference = (ranks[0]["latents"] - reference).abs().max().item()
    print(f"{name} on {world} ranks: max |latents - one process| = {difference:.3g}")
    assert difference <= TOLERANCE
    assert ranks[0]["experts"] == used
    if CASES[name].two_experts:
        assert "high" in used and "low" in used


@pytest.mark.parametrize(("name", "world"), CASE_WORLDS)
def test_each_rank_attends_with_its_share_of_the_heads(
    name: str, world: int, rank_results: dict[tuple[str, int], list[dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    plan = plan_for(world, case.guidance > 1)
    _, shapes, single_bytes, _ = single_process(name, monkeypatch)
    batch, heads, tokens, head_dim = shapes[0]
    assert tokens == 45 and heads == case.heads
    for rank in rank_results[(name, world)]:
        record = rank["record"]
        print(f"{name} rank {record['rank']} of {world}: q+k+v {record['attention_qkv_bytes']} of {single_bytes} bytes")
        if plan.ulysses == 1:
            # CFG parallelism alone: each rank runs every token of one pass through diffusers' own processor.
            assert record["attention_calls"] == 0
            continue
        # One pass per step instead of two when the halves split guidance; every block attends once a pass.
        assert record["attention_calls"] == len(shapes) // (2 if plan.cfg else 1)
        # Query [B, S, H/P, d] over the whole (unpadded) sequence, on this rank's heads only.
        assert record["attention_qkv_shape"] == [batch, tokens, heads // plan.ulysses, head_dim]
        assert record["attention_qkv_bytes"] * plan.ulysses == single_bytes


def test_allowed_counts_follow_the_heads_and_the_cfg_split() -> None:
    assert allowed_counts(40, two_passes=False) == [1, 2, 4, 5, 8, 10]
    assert allowed_counts(40, two_passes=True) == [1, 2, 4, 5, 8, 10, 16]
    assert allowed_counts(2, two_passes=False) == [1, 2]
    assert allowed_counts(2, two_passes=True) == [1, 2, 4]
    assert plan_for(3, two_passes=True).ulysses == 3 and not plan_for(3, two_passes=True).cfg


def test_talk_and_indivisible_heads_are_refused_before_any_rank_starts(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    from dataclasses import replace

    from longvideo_runtime.errors import BadInput
    from longvideo_runtime.spec import parse_segment
    from longvideo_runtime.svi.parallel_plan import plan_segment

    env = {
        **svi_env(tiny_models, "film", reference_png, LV_GUIDANCE_SCALE="1", LV_GPU_COUNT="4"),
        **segment_env(tmp_path / "ws", 0, 1, LV_PROMPT="a boat"),
    }
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and run.message["reason"] == "bad-input"
    assert run.message["error"] == (
        "LV_GPU_COUNT 4: the model's 2 attention heads do not split over 4 ranks per pass; allowed counts up to 16 "
        "with guidance scale 1: 1, 2"
    )
    assert not any(line["event"] == "ranks-started" for line in run.logs)
    # With guidance, 4 ranks are two halves of 2: allowed.
    assert plan_segment(parse_segment({**env, "LV_GUIDANCE_SCALE": "5"})).ulysses == 2
    talk = replace(parse_segment(env), variant="talk")
    with pytest.raises(BadInput, match=r"LV_GPU_COUNT 4: the talk variant runs on one GPU only"):
        plan_segment(talk)


def _ranks_started(run: Run) -> list[int]:
    started = [line for line in run.logs if line["event"] == "ranks-started"]
    assert len(started) == 1, run.stderr[-3000:]
    pids: list[int] = started[0]["pids"]
    return pids


def _assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _handoff(workspace: Path) -> dict[str, Any]:
    tensors, _ = safetensors_io.load(result_dir(workspace, 0) / "latents.safetensors")
    return tensors


@pytest.mark.slow
@pytest.mark.parametrize(
    ("variant", "guidance", "split"),
    [("pro", "5", "CFG halves of 1 rank"), ("film", "1", "Ulysses over 2 ranks")],
)
def test_two_ranks_write_what_one_process_writes(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path, variant: str, guidance: str, split: str
) -> None:
    runs: dict[int, Run] = {}
    # An extra LoRA too: every rank must merge it, or the ranks' halves of the attention disagree with one process.
    style = {"path": STYLE_LORA, "strength": 0.8} | ({"expert": "highNoise"} if variant == "pro" else {})
    for count in (1, 2):
        env = {
            **svi_env(tiny_models, variant, reference_png, LV_GUIDANCE_SCALE=guidance, LV_GPU_COUNT=str(count)),
            **segment_env(tmp_path / f"ws{count}", 0, 3, LV_PROMPT="a boat", LV_SEGMENT_HASH="same-plan"),
            "LV_LORAS": json.dumps([style]),
        }
        runs[count] = run_cli(["segment"], env, tmp_path)
        assert runs[count].code == 0, runs[count].stderr[-3000:]
    one, two = runs[1], runs[2]
    pids = _ranks_started(two)
    _assert_gone(pids)
    assert two.termination == two.message, "the termination message is rank 0's, as written"
    # When it ran differs, not what it rendered. The digests of what it rendered are of floats that agree to
    # TOLERANCE, not bitwise (see TOLERANCE; which bits differ depends on the CPU's kernels): the latents and the
    # clip are compared below by value instead.
    timing = {"seconds", "phases", "committedAt", "denoiseStartedAt", "latentsDigest"}
    assert {k: v for k, v in two.message.items() if k not in timing} == {
        k: v for k, v in one.message.items() if k not in timing
    }
    assert two.message.keys() == one.message.keys() and two.message["phases"].keys() == one.message["phases"].keys()
    denoised = [line for line in two.logs if line["event"] == "rank-denoised"]
    assert sorted(line["rank"] for line in denoised) == [0, 1], split
    results = [json.loads((result_dir(tmp_path / f"ws{c}", 0) / "result.json").read_text()) for c in (1, 2)]
    assert results[0].keys() == results[1].keys() and results[0]["timings"].keys() == results[1]["timings"].keys()
    timing |= {"timings", "instants", "files"}
    same = {k: v for k, v in results[0].items() if k not in timing}
    assert same == {k: v for k, v in results[1].items() if k not in timing}
    assert results[0]["files"].keys() == results[1]["files"].keys()
    for c in (1, 2):
        latents = result_dir(tmp_path / f"ws{c}", 0) / "latents.safetensors"
        assert results[c - 1]["latentsDigest"] == runs[c].message["latentsDigest"] == f"sha256:{_sha256(latents)}"
    for name, tensor in _handoff(tmp_path / "ws1").items():
        other = _handoff(tmp_path / "ws2")[name]
        assert other.shape == tensor.shape and other.dtype == tensor.dtype
        # The pixel protocol hands off 8-bit frames: latents this close decode to the same levels, give or take one
        # where a value sits on a rounding edge.
        atol = 1 if name == "motion_frames" else TOLERANCE
        np.testing.assert_allclose(other.astype(np.float64), tensor.astype(np.float64), rtol=0, atol=atol)
    clips = [media.decode_frames(result_dir(tmp_path / f"ws{c}", 0) / "clip.mp4").astype(np.int16) for c in (1, 2)]
    assert clips[0].shape == clips[1].shape and int(np.abs(clips[0] - clips[1]).max()) <= 1


FAULTS = {
    "out-of-memory": "raise MemoryError('injected on rank 1')",
    "killed": "os.kill(os.getpid(), signal.SIGKILL)",
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "code", "reason", "error"),
    [
        ("out-of-memory", 4, "out-of-memory", "rank 1 of 2: out of memory: injected on rank 1"),
        ("killed", 1, "internal", "rank 1 of 2: killed by SIGKILL"),
        ("no-reference", 2, "bad-input", "rank 0 of 2: the svi backend needs the reference image: "),
    ],
)
def test_a_failing_rank_fails_the_segment_with_its_code_and_leaves_no_process(
    tmp_path: Path,
    tiny_models: dict[str, Path],
    reference_png: Path,
    fault: str,
    code: int,
    reason: str,
    error: str,
) -> None:
    env = {
        **svi_env(tiny_models, "pro", reference_png, LV_GPU_COUNT="2"),
        **segment_env(tmp_path / "ws", 0, 3, LV_PROMPT="a boat"),
    }
    if fault in FAULTS:
        # Rank 1 alone fails where it waits for rank 0's conditioning: a fault no other rank shares.
        hooks = tmp_path / "hooks"
        hooks.mkdir()
        (hooks / "sitecustomize.py").write_text(
            "import os, signal\n"
            "if os.environ.get('RANK') == '1':\n"
            "    from longvideo_runtime.svi import parallel_render\n"
            "    def broken(*args, **kwargs):\n"
            f"        {FAULTS[fault]}\n"
            "    parallel_render.broadcast = broken\n"
        )
        env["PYTHONPATH"] = os.pathsep.join([str(hooks), str(SRC)])
    else:
        env["LV_REFERENCE_IMAGE_PATH"] = str(tmp_path / "absent.png")
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == code, run.stderr[-3000:]
    assert run.message["reason"] == reason and run.message["error"].startswith(error)
    assert run.termination == run.message and run.message["segment"] == 0
    _assert_gone(_ranks_started(run))
    assert not list((tmp_path / "ws").glob("segments/0/*/result.json"))


@pytest.mark.slow
def test_a_warm_segment_on_two_ranks_waits_on_rank_0_and_renders_what_one_process_does(
    tmp_path: Path, tiny_models: dict[str, Path], reference_png: Path
) -> None:
    """Rank 0 waits for the predecessor's commit while rank 1 waits in the first broadcast; the hand-off reaches
    rank 1 in the condition rank 0 builds from it."""
    ws = tmp_path / "ws"
    base = svi_env(tiny_models, "film", reference_png, LV_GUIDANCE_SCALE="1")
    first = {**base, **segment_env(ws, 0, 3, LV_PROMPT="a boat")}
    source = str(attempt_dir(first).relative_to(ws))
    warm_env = {**base, **segment_env(ws, 1, 3, LV_PROMPT="gulls", LV_INPUT_FROM=source), "LV_GPU_COUNT": "2"}
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(run_cli, ["segment"], warm_env, tmp_path)
        time.sleep(1.0)
        zero = run_cli(["segment"], first, tmp_path)
        warm = pending.result(timeout=600)
    assert zero.code == 0, zero.stderr[-3000:]
    assert warm.code == 0, warm.stderr[-3000:]
    _assert_gone(_ranks_started(warm))
    assert sorted(line["rank"] for line in warm.logs if line["event"] == "rank-denoised") == [0, 1]
    assert [line.get("rank") for line in warm.logs if line["event"] == "handoff-waiting"] == [0]
    assert warm.message["inputDigest"] == zero.message["latentsDigest"] and warm.message["phases"]["wait"] > 0
    serial_env = {**base, **segment_env(ws, 1, 3, LV_PROMPT="gulls", LV_INPUT_DIGEST=zero.message["latentsDigest"])}
    serial = run_cli(["segment"], serial_env, tmp_path)
    assert serial.code == 0, serial.stderr[-3000:]
    warm_tensors, _ = safetensors_io.load(attempt_dir(warm_env) / "latents.safetensors")
    serial_tensors, _ = safetensors_io.load(attempt_dir(serial_env) / "latents.safetensors")
    assert warm_tensors.keys() == serial_tensors.keys()
    for name, tensor in serial_tensors.items():
        np.testing.assert_allclose(
            warm_tensors[name].astype(np.float64), tensor.astype(np.float64), rtol=0, atol=TOLERANCE
        )


def test_the_ranks_collectives_allow_for_a_warm_wait() -> None:
    from longvideo_runtime.spec import parse_segment
    from longvideo_runtime.svi.parallel_group import COLLECTIVE_TIMEOUT, MAX_WAIT, collective_timeout

    base = {"LV_SEGMENT_INDEX": "1", "LV_SEGMENT_HASH": "h", "LV_PROMPT": "p", "LV_GPU_COUNT": "2"}
    serial = parse_segment({**base, "LV_INPUT_DIGEST": "sha256:" + "ab" * 32, "LV_WAIT_SECONDS": "600"})
    assert collective_timeout(serial) == COLLECTIVE_TIMEOUT
    warm = {**base, "LV_INPUT_FROM": "segments/0/0123456789abcdef-0"}
    assert collective_timeout(parse_segment(warm)).total_seconds() == COLLECTIVE_TIMEOUT.total_seconds() + 3600
    huge = parse_segment({**warm, "LV_WAIT_SECONDS": "1e300"})
    assert collective_timeout(huge) == COLLECTIVE_TIMEOUT + MAX_WAIT
