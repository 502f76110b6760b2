"""The segment and concat contracts: LV_* variables, CLI overrides, defaults from the variant, validation."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pytest

from longvideo_runtime import workspace_layout
from longvideo_runtime.errors import BadInput
from longvideo_runtime.spec import ChainEnd, parse_concat, parse_segment

DIGEST = "sha256:" + "ab" * 32
#: What the operator's plan hashes look like: sha256 in hex.
PLAN_HASH = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def env(**overrides: str) -> dict[str, str]:
    base = {
        "LV_SEGMENT_INDEX": "1",
        "LV_SEGMENT_HASH": PLAN_HASH,
        "LV_SEGMENT_COUNT": "3",
        "LV_PROMPT": "gulls take off",
        "LV_VARIANT": "film",
        "LV_BACKEND": "animatic",
        "LV_INPUT_DIGEST": DIGEST,
        "LV_WORKSPACE": "/workspace",
    }
    base.update(overrides)
    return base


def test_operator_environment_parses_with_variant_defaults() -> None:
    spec = parse_segment(env())
    assert (spec.index, spec.frames, spec.motion_frames, spec.padding) == (1, 81, 5, "zeros")
    assert (spec.trim_head, spec.trim_tail, spec.kept_frames) == (0, 5, 76)
    assert spec.seed == 42
    assert spec.segment_dir == Path("/workspace/segments/1")
    # The key: sha256 of "<LV_SEGMENT_HASH>|<LV_INPUT_DIGEST>", its first 16 hex characters.
    assert spec.attempt_key == "0c724370f2057ac5"
    assert spec.attempt_dir == Path("/workspace/segments/1/0c724370f2057ac5-0")
    assert parse_segment(env(LV_ATTEMPT="12")).attempt_dir == Path("/workspace/segments/1/0c724370f2057ac5-12")
    first = parse_segment(env(LV_SEGMENT_INDEX="0", LV_INPUT_DIGEST=""))
    assert first.attempt_dir == Path("/workspace/segments/0/0c050f3d31a90f04-0")
    assert spec.protocol == "pixel"


def test_last_film_segment_keeps_its_tail_and_pro_trims_heads() -> None:
    assert parse_segment(env(LV_SEGMENT_INDEX="2")).trim_tail == 0
    pro = parse_segment(env(LV_VARIANT="pro"))
    assert (pro.motion_frames, pro.padding, pro.trim_head, pro.trim_tail, pro.protocol) == (1, "anchor", 5, 0, "latent")
    first = parse_segment(env(LV_VARIANT="pro", LV_SEGMENT_INDEX="0", LV_INPUT_DIGEST=""))
    assert first.trim_head == 0


def test_cli_options_override_environment() -> None:
    spec = parse_segment(env(), {"LV_FRAMES": "17", "LV_SEED": "7", "LV_PROMPT": None})
    assert (spec.frames, spec.seed, spec.prompt) == (17, 7, "gulls take off")


def test_planner_trims_are_taken_as_given() -> None:
    spec = parse_segment(env(LV_TRIM_HEAD="0", LV_TRIM_TAIL="0", LV_KEPT_FRAMES="81"))
    assert spec.kept_frames == 81


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LV_SEGMENT_INDEX": "x"}, "LV_SEGMENT_INDEX must be an integer"),
        ({"LV_SEGMENT_INDEX": "3"}, "outside the film's 3 segments"),
        ({"LV_FRAMES": "80"}, r"4n\+1"),
        ({"LV_WIDTH": "830"}, "multiple of 16"),
        ({"LV_VARIANT": "sing"}, "LV_VARIANT must be one of shot, film, pro, talk, dance"),
        ({"LV_BACKEND": "gpu"}, "LV_BACKEND must be one of"),
        ({"LV_PADDING": "anchor"}, "does not fit variant 'film'"),
        ({"LV_INPUT_DIGEST": ""}, "LV_INPUT_DIGEST is required"),
        ({"LV_INPUT_DIGEST": "md5:00"}, "sha256:<64 hex>"),
        ({"LV_SEGMENT_INDEX": "0"}, "must be empty"),
        ({"LV_KEPT_FRAMES": "80"}, "LV_KEPT_FRAMES 80"),
        ({"LV_MOTION_FRAMES": "81"}, "fewer than LV_FRAMES"),
        ({"LV_BACKEND": "svi", "LV_PROMPT": " "}, "LV_PROMPT is required"),
        ({"LV_GUIDANCE_SCALE": "nan"}, "finite"),
        ({"LV_OFFLOAD_ENCODERS": "maybe"}, "true, false or auto"),
        ({"LV_SEGMENT_HASH": ""}, "LV_SEGMENT_HASH must be"),
        ({"LV_SEGMENT_HASH": "../../etc"}, "LV_SEGMENT_HASH must be"),
        ({"LV_SEGMENT_HASH": "ab/cd"}, "LV_SEGMENT_HASH must be"),
        ({"LV_SEGMENT_HASH": "-ab"}, "LV_SEGMENT_HASH must be"),
        ({"LV_SEGMENT_HASH": ".."}, "LV_SEGMENT_HASH must be"),
        ({"LV_SEGMENT_HASH": "ab\x00"}, "LV_SEGMENT_HASH must be"),
        ({"LV_SEGMENT_HASH": "a" * 129}, "LV_SEGMENT_HASH must be"),
        ({"LV_INPUT_DIGEST": "sha256:" + "AB" * 32}, "sha256:<64 hex>"),
        ({"LV_CHAIN_START": "yes"}, "LV_CHAIN_START must be true or false, got 'yes'"),
        ({"LV_CHAIN_START": "TRUE"}, "LV_CHAIN_START must be true or false"),
        ({"LV_CHAIN_START": "1"}, "LV_CHAIN_START must be true or false"),
        (
            {"LV_CHAIN_START": "true"},
            r"segment 1 starts a chain \(LV_CHAIN_START=true\) from LV_REFERENCE_IMAGE: LV_INPUT_DIGEST must be empty",
        ),
        (
            {"LV_CHAIN_START": "false", "LV_INPUT_DIGEST": ""},
            "segment 1 continues segment 0: LV_INPUT_DIGEST is required",
        ),
        ({"LV_CHAIN_START": "true", "LV_SEGMENT_INDEX": "0"}, "segment 0 starts from the reference image"),
    ],
)
def test_bad_segment_specs_are_refused_with_the_variable_named(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_segment(env(**overrides))


def test_a_chain_start_begins_without_a_predecessor_above_index_0() -> None:
    start = parse_segment(env(LV_SEGMENT_INDEX="2", LV_SEGMENT_COUNT="4", LV_INPUT_DIGEST="", LV_CHAIN_START="true"))
    assert (start.index, start.chain_start, start.starts_chain, start.input_digest) == (2, True, True, "")
    # The attempt key of an empty input digest, as segment 0's.
    assert start.attempt_dir == Path("/workspace/segments/2/0c050f3d31a90f04-0")
    # Film trims its tail by default anywhere but the film's last segment: a chain's last is the operator's to keep.
    assert (start.trim_head, start.trim_tail) == (0, 5)
    pro = parse_segment(env(LV_VARIANT="pro", LV_INPUT_DIGEST="", LV_CHAIN_START="true"))
    assert (pro.trim_head, pro.trim_tail, pro.kept_frames) == (0, 0, 81), "a chain's first clip keeps its head"
    assert (
        parse_segment(env(LV_VARIANT="pro", LV_INPUT_DIGEST="", LV_CHAIN_START="true", LV_TRIM_HEAD="5")).trim_head == 5
    )
    for unset in ({"LV_CHAIN_START": "false"}, {"LV_CHAIN_START": ""}, {}):
        continuing = parse_segment(env(**unset))
        assert not continuing.chain_start and not continuing.starts_chain
    assert parse_segment(env(LV_CHAIN_START=" true ", LV_INPUT_DIGEST="")).chain_start


def test_segment_0_starts_a_chain_with_or_without_the_flag() -> None:
    """LV_CHAIN_START=true at index 0 is allowed and changes nothing: the same directory, the same fingerprint."""
    plain = parse_segment(env(LV_SEGMENT_INDEX="0", LV_INPUT_DIGEST=""))
    flagged = parse_segment(env(LV_SEGMENT_INDEX="0", LV_INPUT_DIGEST="", LV_CHAIN_START="true"))
    assert plain.starts_chain and flagged.starts_chain and not plain.chain_start
    assert flagged.attempt_dir == plain.attempt_dir and flagged.fingerprint() == plain.fingerprint()


def test_fingerprint_covers_inputs_not_placement() -> None:
    a = parse_segment(env())
    assert a.fingerprint() == parse_segment(env(LV_WORKSPACE="/elsewhere", LV_ATTEMPT="2")).fingerprint()
    assert a.fingerprint() != parse_segment(env(LV_SEED="43")).fingerprint()
    assert a.fingerprint() != parse_segment(env(LV_INPUT_DIGEST="sha256:" + "cd" * 32)).fingerprint()
    assert a.fingerprint() != parse_segment(env(LV_SEGMENT_HASH="0" * 64)).fingerprint(), "another plan's segment"


def test_the_attempt_directory_names_the_plan_hash_and_the_input() -> None:
    """Another input digest (the predecessor rendered again) is another directory, at the same plan hash and attempt."""
    a = parse_segment(env())
    again = parse_segment(env(LV_INPUT_DIGEST="sha256:" + "cd" * 32))
    assert (again.segment_hash, again.attempt) == (a.segment_hash, a.attempt)
    assert again.attempt_key != a.attempt_key and again.attempt_dir != a.attempt_dir
    assert again.attempt_dir.parent == a.attempt_dir.parent
    assert parse_segment(env(LV_SEGMENT_HASH="0" * 64)).attempt_dir != a.attempt_dir
    assert parse_segment(env(LV_SEED="43")).attempt_dir == a.attempt_dir, "only the plan hash, input and attempt count"


def test_a_segment_hash_is_one_safe_path_component() -> None:
    for value in (PLAN_HASH, "h", "A_b-9", "a" * 128):
        assert parse_segment(env(LV_SEGMENT_HASH=value)).attempt_dir.parent == Path("/workspace/segments/1")
    with pytest.raises(BadInput, match="LV_SEGMENT_HASH is required"):
        parse_segment({k: v for k, v in env().items() if k != "LV_SEGMENT_HASH"})


def test_concat_contract() -> None:
    spec = parse_concat(
        {
            "LV_WORKSPACE": "/workspace",
            "LV_SEGMENT_COUNT": "4",
            "LV_FINAL_DIGEST": DIGEST,
            "LV_OUTPUT_PATH": "/workspace/out/film.mp4",
            "LV_EXPECTED_FRAMES": "305",
            "LV_FPS": "16",
            "LV_AUDIO_PATH": "audio/track.wav",
        }
    )
    assert spec.output_path == Path("/workspace/out/film.mp4")
    assert spec.audio_path == Path("/workspace/audio/track.wav")
    assert (spec.segment_count, spec.expected_frames, spec.final_digest) == (4, 305, DIGEST)
    with pytest.raises(BadInput, match=r"\.mp4"):
        parse_concat({"LV_SEGMENT_COUNT": "1", "LV_FINAL_DIGEST": DIGEST, "LV_OUTPUT_PATH": "/workspace/film.webm"})
    with pytest.raises(BadInput, match="LV_FINAL_DIGEST must be sha256"):
        parse_concat({"LV_SEGMENT_COUNT": "1", "LV_FINAL_DIGEST": "abc"})


D1, D3 = "sha256:" + "1" * 64, "sha256:" + "3" * 64


def concat_env(**overrides: str) -> dict[str, str]:
    return {"LV_WORKSPACE": "/workspace", "LV_SEGMENT_COUNT": "4", "LV_FINAL_DIGEST": DIGEST, **overrides}


def test_the_final_digest_names_one_chain_or_each_chains_end() -> None:
    one = parse_concat(concat_env())
    assert one.chains == (ChainEnd(3, DIGEST),) and one.claim_owner == DIGEST
    # One chain written as a list is the same film, claimed as the bare digest an older concat would write.
    listed = parse_concat(concat_env(LV_FINAL_DIGEST=f"3:{DIGEST}"))
    assert listed.chains == one.chains and listed.claim_owner == DIGEST
    two = parse_concat(concat_env(LV_FINAL_DIGEST=f" 1:{D1} , 3:{D3}"))
    assert two.chains == (ChainEnd(1, D1), ChainEnd(3, D3))
    assert two.claim_owner == f"1:{D1},3:{D3}" and two.final_digest == f"1:{D1} , 3:{D3}"
    each = parse_concat(concat_env(LV_FINAL_DIGEST=",".join(f"{i}:{d}" for i, d in enumerate([D1, DIGEST, D3, D1]))))
    assert [c.last for c in each.chains] == [0, 1, 2, 3]
    assert parse_concat(concat_env(LV_SEGMENT_COUNT="1", LV_FINAL_DIGEST=f"0:{D1}")).chains == (ChainEnd(0, D1),)


@pytest.mark.parametrize(
    ("final", "message"),
    [
        ("abc", r"LV_FINAL_DIGEST must be sha256:<64 hex> \(the last segment's latents\), got 'abc'"),
        ("sha256:" + "g" * 64, "LV_FINAL_DIGEST must be sha256:<64 hex>"),
        (f"1:{D1},3:sha256:12", r"LV_FINAL_DIGEST entry 2 \('3:sha256:12'\) must be lastIndex:sha256:<64 hex>"),
        (f"{D1},3:{D3}", r"LV_FINAL_DIGEST entry 1 \('sha256:1+'\) must be lastIndex:sha256:<64 hex>"),
        (f"x:{D1},3:{D3}", r"entry 1 \('x:sha256:1+'\) must be lastIndex"),
        (f"-1:{D1},3:{D3}", r"entry 1 \('-1:sha256:1+'\) must be lastIndex"),
        (f"1:{D1},,3:{D3}", r"entry 2 \(''\) must be lastIndex"),
        (f"1:{D1},3:{D3},", r"entry 3 \(''\) must be lastIndex"),
        (f"1:{D1};3:{D3}", r"entry 1 \('1:sha256:1+;3:sha256:3+'\) must be lastIndex"),
        (
            f"2:{D1},1:{D3}",
            r"entry 2 \('1:sha256:3+'\) ends at segment 1, not after the previous chain's last segment 2",
        ),
        (
            f"1:{D1},1:{D3}",
            r"entry 2 \('1:sha256:3+'\) ends at segment 1, not after the previous chain's last segment 1",
        ),
        (f"1:{D1},2:{D3}", r"last entry ends at segment 2, but the film's last segment is 3 \(LV_SEGMENT_COUNT 4\)"),
        (f"1:{D1},5:{D3}", r"last entry ends at segment 5, but the film's last segment is 3"),
        (f"2:{D1}", r"last entry ends at segment 2, but the film's last segment is 3"),
    ],
)
def test_a_bad_final_digest_is_refused_naming_the_entry(final: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_concat(concat_env(LV_FINAL_DIGEST=final))


# --- warm start (LV_INPUT_FROM, LV_WAIT_SECONDS; ADR 0026) --------------------------------------------------------

FROM = "segments/0/0c724370f2057ac5-2"


def test_a_warm_start_names_its_predecessors_attempt_and_is_keyed_by_it() -> None:
    warm = parse_segment(env(LV_INPUT_DIGEST="", LV_INPUT_FROM=FROM))
    assert (warm.warm, warm.input_from, warm.input_digest, warm.wait_seconds) == (True, FROM, "", 3600.0)
    assert warm.predecessor_dir == Path("/workspace") / FROM
    # The attempt key of `from:<LV_INPUT_FROM>` in place of an input digest: the operator names it the same way.
    key = hashlib.sha256(f"{PLAN_HASH}|from:{FROM}".encode()).hexdigest()[:16]
    assert warm.attempt_key == key == workspace_layout.attempt_key(PLAN_HASH, "from:" + FROM)
    assert warm.attempt_dir == Path(f"/workspace/segments/1/{key}-0")
    assert warm.attempt_dir != parse_segment(env()).attempt_dir
    other = parse_segment(env(LV_INPUT_DIGEST="", LV_INPUT_FROM="segments/0/0c724370f2057ac5-3"))
    assert other.attempt_dir != warm.attempt_dir, "another predecessor attempt, another directory"
    # Once the digest is seen, the spec is the serial one's but for where it writes.
    seen = replace(warm, input_digest=DIGEST)
    assert seen.fingerprint() == parse_segment(env()).fingerprint()
    assert seen.attempt_dir == warm.attempt_dir
    assert parse_segment(env(LV_INPUT_DIGEST="", LV_INPUT_FROM=FROM, LV_WAIT_SECONDS="0.3")).wait_seconds == 0.3
    assert parse_segment(env(LV_INPUT_DIGEST="", LV_INPUT_FROM=FROM, LV_WAIT_SECONDS="")).wait_seconds == 3600.0
    assert parse_segment(env(LV_WAIT_SECONDS="5")).warm is False


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"LV_INPUT_FROM": FROM}, "LV_INPUT_FROM and LV_INPUT_DIGEST are exclusive"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM, "LV_CHAIN_START": "true"}, "LV_INPUT_FROM must be empty"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM, "LV_SEGMENT_INDEX": "0"}, "LV_INPUT_FROM must be empty"),
        (
            {"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "segments/1/0c724370f2057ac5-2"},
            "LV_INPUT_FROM must be segments/0/",
        ),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "segments/00/0c724370f2057ac5-2"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "/workspace/" + FROM}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "/" + FROM}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "segments/0/../0/0c724370f2057ac5-2"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "segments/0/.."}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "../segments/0/0c724370f2057ac5-2"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "inputs/0/0c724370f2057ac5-2"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "segments/0/0c724370f2057ac5"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": "segments/0/..-2"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM + "/"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM + "/latents.safetensors"}, "LV_INPUT_FROM must be"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM, "LV_WAIT_SECONDS": "0"}, "LV_WAIT_SECONDS must be positive"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM, "LV_WAIT_SECONDS": "-1"}, "LV_WAIT_SECONDS must be positive"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM, "LV_WAIT_SECONDS": "soon"}, "LV_WAIT_SECONDS must be a number"),
        ({"LV_INPUT_DIGEST": "", "LV_INPUT_FROM": FROM, "LV_WAIT_SECONDS": "inf"}, "LV_WAIT_SECONDS must be finite"),
    ],
)
def test_a_bad_warm_start_is_refused_naming_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        parse_segment(env(**overrides))
