"""Concat walks the chain of hand-offs back from LV_FINAL_DIGEST, checks every clip, and names the first segment
whose data is missing or corrupt (exit 3, missingSegment)."""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from chain import attempt_dir, concat_env, render_chain, result_dir, segment_env
from conftest import Run, run_cli
from longvideo_runtime import concat as concat_command
from longvideo_runtime import fsio, media, output_claim
from longvideo_runtime.errors import Superseded
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import parse_concat

COMMON = {"LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "9"}
PROMPTS = ["a lighthouse", "gulls", "night falls"]
#: Frames kept by three film segments of 9 frames (the first two drop their 5-frame tail).
FILM_FRAMES = 4 + 4 + 9


@pytest.fixture
def film(tmp_path: Path, reference_png: Path) -> tuple[Path, list[Run]]:
    ws = tmp_path / "ws"
    runs = render_chain(ws, 3, PROMPTS, tmp_path, **COMMON, LV_REFERENCE_IMAGE_PATH=str(reference_png))
    return ws, runs


def concat(ws: Path, runs: list[Run], tmp: Path, **extra: str) -> Run:
    return run_cli(["concat"], concat_env(ws, runs, **extra), tmp)


def chain_dirs(run: Run) -> list[str]:
    return next(line for line in run.logs if line["event"] == "chain-verified")["directories"]


def assert_missing(run: Run, segment: int, *wanted: str) -> None:
    assert run.code == 3, run.stderr[-2000:]
    assert run.termination == run.message and run.message["kind"] == "concat"
    assert run.message["reason"] == "handoff" and run.message["missingSegment"] == segment
    assert f"broken at segment {segment}:" in run.message["error"]
    for text in wanted:
        assert text in run.message["error"]


def test_concat_takes_each_segments_attempt_directory(tmp_path: Path, film: tuple[Path, list[Run]]) -> None:
    ws, runs = film
    run = concat(ws, runs, tmp_path, LV_EXPECTED_FRAMES=str(FILM_FRAMES))
    assert run.code == 0, run.stderr[-2000:]
    assert chain_dirs(run) == [str(result_dir(ws, i)) for i in range(3)]
    assert media.probe(Path(run.message["path"])).frames == FILM_FRAMES


def test_concat_claims_the_film_it_writes(tmp_path: Path, film: tuple[Path, list[Run]]) -> None:
    ws, runs = film
    run = concat(ws, runs, tmp_path)
    assert run.code == 0, run.stderr[-2000:]
    target = ws / "film.mp4"
    assert output_claim.current_owner(target) == runs[-1].message["latentsDigest"]
    assert run.message["digest"] == fsio.sha256_file(target)
    assert Path(run.message["contactSheet"]).is_file()
    assert run.logs[0]["event"] == "output-claimed", "claimed before anything else"


RIVAL = "sha256:" + "c0ffee" * 10 + "abcd"


def run_in_process(ws: Path, runs: list[Run]) -> dict[str, Any]:
    """run_concat in this process, so a test can replace a step of it."""
    return concat_command.run_concat(parse_concat(concat_env(ws, runs)), Logger(io.StringIO()))


def test_a_concatenation_superseded_before_its_commit_writes_nothing(
    film: tuple[Path, list[Run]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A newer concatenation claims the output while this one checks its film: this one writes neither the film
    nor its contact sheet, and leaves no temporary file."""
    ws, runs = film
    target = ws / "film.mp4"
    probe = media.probe

    def rival_claims_then_probe(path: Path) -> media.Probe:
        output_claim.claim(target, owner=RIVAL)
        return probe(path)

    monkeypatch.setattr(media, "probe", rival_claims_then_probe)
    with pytest.raises(Superseded, match=re.escape(f"final digest c0ffeec0ffee) now writes {target}")):
        run_in_process(ws, runs)
    assert not target.exists() and not (ws / "film.contact.png").exists()
    assert [p.name for p in ws.iterdir() if fsio.TMP_MARK in p.name] == []
    assert output_claim.current_owner(target) == RIVAL


def test_a_concatenation_superseded_after_its_film_writes_no_contact_sheet(
    film: tuple[Path, list[Run]], monkeypatch: pytest.MonkeyPatch
) -> None:
    ws, runs = film
    sheet = concat_command.contact_sheet

    def rival_claims_then_sheet(posters: list[Path], target: Path, claim: output_claim.OutputClaim) -> None:
        output_claim.claim(ws / "film.mp4", owner=RIVAL)
        sheet(posters, target, claim)

    monkeypatch.setattr(concat_command, "contact_sheet", rival_claims_then_sheet)
    with pytest.raises(Superseded, match=r"nothing was written to .*film\.contact\.png"):
        run_in_process(ws, runs)
    assert (ws / "film.mp4").is_file() and not (ws / "film.contact.png").exists()
    assert [p.name for p in ws.iterdir() if fsio.TMP_MARK in p.name] == []


@pytest.mark.parametrize("damaged", [0, 2])
def test_a_clip_with_altered_bytes_fails_naming_its_segment(
    tmp_path: Path, film: tuple[Path, list[Run]], damaged: int
) -> None:
    ws, runs = film
    clip = result_dir(ws, damaged) / "clip.mp4"
    data = bytearray(clip.read_bytes())
    data[-10] ^= 0xFF
    clip.write_bytes(bytes(data))
    run = concat(ws, runs, tmp_path)
    assert_missing(run, damaged, f"{clip} has digest", "its result.json records")
    assert not (ws / "film.mp4").exists()


def test_the_lowest_damaged_segment_is_named(tmp_path: Path, film: tuple[Path, list[Run]]) -> None:
    ws, runs = film
    (result_dir(ws, 2) / "clip.mp4").write_bytes(b"damaged")
    (result_dir(ws, 1) / "clip.mp4").unlink()
    run = concat(ws, runs, tmp_path)
    assert_missing(run, 1, "clip.mp4 is missing", "1 later problem")


@pytest.mark.parametrize("missing", [0, 1, 2])
def test_a_missing_segment_breaks_the_chain(tmp_path: Path, film: tuple[Path, list[Run]], missing: int) -> None:
    ws, runs = film
    shutil.rmtree(ws / "segments" / str(missing))
    wanted = runs[missing].message["latentsDigest"]
    run = concat(ws, runs, tmp_path)
    assert_missing(run, missing, f"no complete attempt in {ws}/segments/{missing}/*/ hands off {wanted}")


def test_an_unfinished_attempt_is_not_part_of_the_chain(tmp_path: Path, film: tuple[Path, list[Run]]) -> None:
    ws, runs = film
    (result_dir(ws, 1) / "result.json").unlink()
    assert_missing(concat(ws, runs, tmp_path), 1, "no complete attempt")


def test_segment_0_must_start_from_the_reference_image(tmp_path: Path, film: tuple[Path, list[Run]]) -> None:
    ws, runs = film
    path = result_dir(ws, 0) / "result.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "inputDigest": "sha256:" + "1" * 64}))
    assert_missing(concat(ws, runs, tmp_path), 0, "starts from the reference image")


def test_concat_follows_the_chain_past_stale_attempts(
    tmp_path: Path, reference_png: Path, film: tuple[Path, list[Run]]
) -> None:
    ws, old = film
    old_dirs = [str(result_dir(ws, i)) for i in range(3)]
    # A stale attempt of another plan (another hash) at segment 1, from the same input: the animatic's hand-off
    # holds no caption, so only the plan hash in its metadata tells its latents from the chain's.
    stale = segment_env(
        ws, 1, 3, **COMMON, LV_PROMPT="an edit, reverted", LV_INPUT_DIGEST=old[0].message["latentsDigest"]
    )
    stale_run = run_cli(["segment"], stale, tmp_path)
    assert stale_run.code == 0 and stale_run.message["latentsDigest"] != old[1].message["latentsDigest"]
    # A whole other chain: every segment again with other seeds.
    new = render_chain(ws, 3, PROMPTS, tmp_path, **COMMON, LV_REFERENCE_IMAGE_PATH=str(reference_png), LV_SEED="5")
    assert not {r.message["latentsDigest"] for r in new} & {r.message["latentsDigest"] for r in old}
    assert len(list((ws / "segments" / "1").iterdir())) == 3

    for runs, expected in ((old, old_dirs), (new, [str(attempt_dir_of(ws, r)) for r in new])):
        run = concat(ws, runs, tmp_path, LV_EXPECTED_FRAMES=str(FILM_FRAMES))
        assert run.code == 0, run.stderr[-2000:]
        assert chain_dirs(run) == expected
        assert str(attempt_dir(stale)) not in chain_dirs(run)


def attempt_dir_of(ws: Path, run: Run) -> Path:
    """The complete attempt directory that handed off what `run` reported."""
    return result_dir(ws, int(run.message["segment"]), str(run.message["latentsDigest"]))


def test_concat_needs_the_final_digest(tmp_path: Path, film: tuple[Path, list[Run]]) -> None:
    ws, _ = film
    run = run_cli(["concat"], {"LV_WORKSPACE": str(ws), "LV_SEGMENT_COUNT": "3"}, tmp_path)
    assert run.code == 2 and "LV_FINAL_DIGEST is required" in run.message["error"]
    assert "missingSegment" not in run.message
