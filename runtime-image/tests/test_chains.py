"""Films of several chains (docs/adr/0025): a keyframed scene's first segment starts a chain above index 0
(LV_CHAIN_START, no input digest), and concat walks each chain back from its end (LV_FINAL_DIGEST as
`lastIndex:digest,...`), joining the clips in index order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from chain import result_dir, segment_env
from conftest import SRC, Run, run_cli, write_reference
from longvideo_runtime import media, output_claim, safetensors_io
from longvideo_runtime.animatic import caption_height

CONTRACT: dict[str, Any] = json.loads((SRC / "longvideo_runtime" / "contract.json").read_text())
W, H = 64, 48
COMMON = {"LV_BACKEND": "animatic", "LV_WIDTH": str(W), "LV_HEIGHT": str(H), "LV_FRAMES": "9", "LV_FPS": "16"}
PROMPTS = ["a lighthouse", "gulls", "a market at noon", "night falls"]
#: Film, 9 frames a clip, each chain's last segment keeping its 5-frame tail: chain one 4 + 9, chain two 4 + 9.
FILM_FRAMES = 4 + 9 + 4 + 9


def keyframe(path: Path) -> Path:
    """An image unlike the reference: its negative."""
    negative = 255 - np.asarray(Image.open(write_reference(path)).convert("RGB"))
    Image.fromarray(negative.astype(np.uint8)).save(path)
    return path


@pytest.fixture
def keyframe_png(tmp_path: Path) -> Path:
    return keyframe(tmp_path / "keyframe.png")


def picture_diff(frame: np.ndarray, image: Path) -> float:
    """Mean difference above the animatic's caption bar between a decoded frame and an image at the render size."""
    rows = H - caption_height(H) - 2
    want = media.load_rgb(image, W, H)
    return float(np.abs(frame[:rows].astype(np.float32) - want[:rows].astype(np.float32)).mean())


def assert_shows(frame: np.ndarray, image: Path, other: Path) -> None:
    """The frame is `image` (up to h264's noise), far from `other`."""
    near, far = picture_diff(frame, image), picture_diff(frame, other)
    assert near < 6 and far > 40, (near, far)


def segment(ws: Path, index: int, image: Path, digest: str, tmp: Path, variant: str = "film", **extra: str) -> Run:
    """Segment `index` of a 4-segment film, from `image`: its chain's reference image (or keyframe)."""
    given = {"LV_PROMPT": PROMPTS[index], "LV_INPUT_DIGEST": digest, "LV_REFERENCE_IMAGE_PATH": str(image)}
    env = segment_env(ws, index, 4, **{**COMMON, "LV_VARIANT": variant, **given, **extra})
    return run_cli(["segment"], env, tmp)


def render_two_chains(ws: Path, tmp: Path, reference: Path, key: Path) -> list[Run]:
    """Segments 0, 1 from the reference and 2, 3 from the keyframe, chain two first (it waits for nothing). Each
    chain's last segment keeps its tail (film), as the operator sets it."""
    runs: dict[int, Run] = {}
    for first, last, image in ((2, 3, key), (0, 1, reference)):
        digest = ""
        for index in range(first, last + 1):
            flag = {"LV_CHAIN_START": "true"} if index == first and first > 0 else {}
            tail = "0" if index == last else "5"
            run = segment(ws, index, image, digest, tmp, LV_TRIM_HEAD="0", LV_TRIM_TAIL=tail, **flag)
            assert run.code == 0, run.stderr[-3000:]
            runs[index] = run
            digest = str(run.message["latentsDigest"])
    return [runs[i] for i in range(4)]


def final_digest(runs: list[Run], *lasts: int) -> str:
    return ",".join(f"{i}:{runs[i].message['latentsDigest']}" for i in lasts)


def concat(ws: Path, tmp: Path, final: str, **extra: str) -> Run:
    env = {"LV_WORKSPACE": str(ws), "LV_SEGMENT_COUNT": "4", "LV_FINAL_DIGEST": final, "LV_FPS": "16", **extra}
    return run_cli(["concat"], env, tmp)


def assert_missing(run: Run, segment: int, *wanted: str) -> None:
    assert run.code == 3, run.stderr[-2000:]
    assert run.termination == run.message and run.message["reason"] == "handoff"
    assert run.message["missingSegment"] == segment and f"broken at segment {segment}:" in run.message["error"]
    for text in wanted:
        assert text in run.message["error"], run.message["error"]


@pytest.mark.parametrize(("variant", "kept"), [("film", 4), ("pro", 9)])
def test_a_chain_start_renders_from_its_keyframe_with_no_predecessor(
    tmp_path: Path, reference_png: Path, keyframe_png: Path, variant: str, kept: int
) -> None:
    ws = tmp_path / "ws"
    # Default trims: a film clip before the film's last drops its tail; a pro chain start keeps its head.
    run = segment(ws, 2, keyframe_png, "", tmp_path, variant=variant, LV_CHAIN_START="true")
    assert run.code == 0, run.stderr[-3000:]
    assert sorted(p.name for p in (ws / "segments").iterdir()) == ["2"], "nothing of segments 0 and 1 was read"
    assert run.termination == run.message
    assert set(run.message) == set(CONTRACT["terminationMessage"]["segment"]) - {"reused", "handoffSeenAt"}
    assert (run.message["segment"], run.message["inputDigest"], run.message["keptFrames"]) == (2, "", kept)
    assert not [line for line in run.logs if line["event"] == "handoff-verified"]
    directory = result_dir(ws, 2)
    result = json.loads((directory / "result.json").read_text())
    assert (result["chainStart"], result["inputDigest"], result["trimHead"]) == (True, "", 0)
    _, meta = safetensors_io.load(directory / "latents.safetensors")
    assert (meta["consumed"], meta["segment"]) == ("", "2")
    # The clip opens on the keyframe, not on the film's reference image.
    opening = media.decode_frames(directory / "clip.mp4")[0]
    assert_shows(opening, keyframe_png, reference_png)

    # The next segment continues the chain start's hand-off, as any segment continues its predecessor's.
    after = segment(ws, 3, keyframe_png, str(run.message["latentsDigest"]), tmp_path, variant=variant)
    assert after.code == 0, after.stderr[-3000:]
    assert json.loads((result_dir(ws, 3) / "result.json").read_text())["chainStart"] is False
    assert any(line["event"] == "handoff-verified" for line in after.logs)


def test_a_segment_above_0_starts_a_chain_only_when_told(
    tmp_path: Path, keyframe_png: Path, reference_png: Path
) -> None:
    ws = tmp_path / "ws"
    unmarked = segment(ws, 2, keyframe_png, "", tmp_path)
    assert (
        unmarked.code == 2 and "segment 2 continues segment 1: LV_INPUT_DIGEST is required" in unmarked.message["error"]
    )
    first = segment(ws, 0, reference_png, "", tmp_path)
    consuming = segment(ws, 1, keyframe_png, str(first.message["latentsDigest"]), tmp_path, LV_CHAIN_START="true")
    assert consuming.code == 2 and "segment 1 starts a chain" in consuming.message["error"]
    assert "LV_INPUT_DIGEST must be empty" in consuming.message["error"]
    bad = segment(ws, 2, keyframe_png, "", tmp_path, LV_CHAIN_START="yes")
    assert bad.code == 2 and "LV_CHAIN_START must be true or false" in bad.message["error"]
    assert not (ws / "segments" / "1").exists() and not (ws / "segments" / "2").exists()


@pytest.fixture
def two_chains(tmp_path: Path, reference_png: Path, keyframe_png: Path) -> tuple[Path, list[Run]]:
    ws = tmp_path / "ws"
    return ws, render_two_chains(ws, tmp_path, reference_png, keyframe_png)


def test_two_chains_concat_in_index_order(
    tmp_path: Path, two_chains: tuple[Path, list[Run]], reference_png: Path, keyframe_png: Path
) -> None:
    ws, runs = two_chains
    assert [r.message["inputDigest"] for r in runs] == [
        "",
        runs[0].message["latentsDigest"],
        "",
        runs[2].message["latentsDigest"],
    ]
    final = final_digest(runs, 1, 3)
    run = concat(ws, tmp_path, final, LV_EXPECTED_FRAMES=str(FILM_FRAMES))
    assert run.code == 0, run.stderr[-2000:]
    assert run.termination == run.message and set(run.message) == set(CONTRACT["terminationMessage"]["concat"])
    assert (run.message["frames"], run.message["segments"]) == (FILM_FRAMES, 4)
    verified = next(line for line in run.logs if line["event"] == "chain-verified")["directories"]
    assert verified == [str(result_dir(ws, i)) for i in range(4)]
    film = ws / "film.mp4"
    assert output_claim.current_owner(film) == final
    assert Path(run.message["contactSheet"]).is_file()
    frames = media.decode_frames(film)
    assert len(frames) == FILM_FRAMES
    # Chain one opens on the reference, chain two (after chain one's 13 frames) on its keyframe.
    assert_shows(frames[0], reference_png, keyframe_png)
    assert_shows(frames[13], keyframe_png, reference_png)

    wrong = concat(ws, tmp_path, final, LV_EXPECTED_FRAMES=str(FILM_FRAMES - 5))
    assert wrong.code == 2 and f"keep {FILM_FRAMES} frames" in wrong.message["error"]


def test_the_bare_digest_of_a_two_chain_film_is_one_broken_chain(
    tmp_path: Path, two_chains: tuple[Path, list[Run]]
) -> None:
    """Without the list, segment 3's chain would run from segment 0: segment 2 consumed nothing, so it breaks there."""
    ws, runs = two_chains
    run = concat(ws, tmp_path, str(runs[3].message["latentsDigest"]))
    assert_missing(run, 2, "the chain ending in", "records no input", "but it continues segment 1")
    assert not (ws / "film.mp4").exists()


def test_a_missing_chain_start_is_named(tmp_path: Path, two_chains: tuple[Path, list[Run]]) -> None:
    ws, runs = two_chains
    shutil.rmtree(ws / "segments" / "2")
    run = concat(ws, tmp_path, final_digest(runs, 1, 3))
    wanted = runs[2].message["latentsDigest"]
    assert_missing(
        run,
        2,
        f"chain 2 of 2 (segments 2..3, ending in {runs[3].message['latentsDigest']})",
        f"no complete attempt in {ws}/segments/2/*/ hands off {wanted}",
    )
    assert "later problem" not in run.message["error"]


def test_a_chain_start_that_consumed_a_hand_off_breaks_its_chain(
    tmp_path: Path, two_chains: tuple[Path, list[Run]], keyframe_png: Path
) -> None:
    """Chain two rendered again as a continuation of chain one: its first segment consumed segment 1's digest."""
    ws, runs = two_chains
    d1 = str(runs[1].message["latentsDigest"])
    continued = segment(ws, 2, keyframe_png, d1, tmp_path, LV_TRIM_HEAD="0", LV_TRIM_TAIL="5")
    assert continued.code == 0, continued.stderr[-3000:]
    last = segment(ws, 3, keyframe_png, str(continued.message["latentsDigest"]), tmp_path, LV_TRIM_TAIL="0")
    assert last.code == 0, last.stderr[-3000:]
    final = f"1:{d1},3:{last.message['latentsDigest']}"
    assert_missing(concat(ws, tmp_path, final), 2, "chain 2 of 2", f"records input {d1}", "but it starts a chain")
    # The chain as rendered first is still whole beside it.
    assert concat(ws, tmp_path, final_digest(runs, 1, 3)).code == 0


def test_the_lowest_problem_of_every_chain_is_named(tmp_path: Path, two_chains: tuple[Path, list[Run]]) -> None:
    ws, runs = two_chains
    shutil.rmtree(ws / "segments" / "3")
    run = concat(ws, tmp_path, final_digest(runs, 1, 3))
    assert_missing(run, 3, "chain 2 of 2 (segments 2..3")
    (result_dir(ws, 1) / "clip.mp4").write_bytes(b"damaged")
    run = concat(ws, tmp_path, final_digest(runs, 1, 3))
    assert_missing(run, 1, "chain 1 of 2 (segments 0..1", "segment 1's clip is damaged", "(and 1 later problem(s))")


def test_every_segment_its_own_chain(tmp_path: Path, reference_png: Path, keyframe_png: Path) -> None:
    ws = tmp_path / "ws"
    runs = []
    for index in range(4):
        image = reference_png if index % 2 == 0 else keyframe_png
        flag = {"LV_CHAIN_START": "true"} if index else {}
        run = segment(ws, index, image, "", tmp_path, LV_TRIM_HEAD="0", LV_TRIM_TAIL="0", **flag)
        assert run.code == 0, run.stderr[-3000:]
        runs.append(run)
    film = concat(ws, tmp_path, final_digest(runs, 0, 1, 2, 3), LV_EXPECTED_FRAMES=str(4 * 9))
    assert film.code == 0, film.stderr[-2000:]
    assert film.message["frames"] == 4 * 9 and len(media.decode_frames(ws / "film.mp4")) == 4 * 9


def test_chains_of_another_size_are_not_joined(tmp_path: Path, reference_png: Path, keyframe_png: Path) -> None:
    ws = tmp_path / "ws"
    first = segment(ws, 0, reference_png, "", tmp_path, LV_TRIM_TAIL="0")
    wide = segment(ws, 1, keyframe_png, "", tmp_path, LV_CHAIN_START="true", LV_TRIM_TAIL="0", LV_WIDTH="96")
    assert first.code == wide.code == 0
    final = f"0:{first.message['latentsDigest']},1:{wide.message['latentsDigest']}"
    run = concat(ws, tmp_path, final, LV_SEGMENT_COUNT="2")
    assert run.code == 2 and "rendered at sizes 64x48, 96x48" in run.message["error"], run.message
    assert not (ws / "film.mp4").exists()
