"""The worker against the operator <-> runtime contract (contract.json, generated from src/api/runtime-contract.ts).

Each test reads contract.json itself, as plain JSON, and compares what the worker does: the LV_* variables its
source reads, its variant profiles, exit codes and reasons, workspace layout, mount-path defaults and the fields of
every termination message. contract.py's loader is checked too (a file of another version is refused).
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from chain import concat_env, latents_digest, render_chain, result_dir, segment_env
from conftest import SRC, run_cli
from longvideo_runtime import contract, errors, fsio, workspace_layout
from longvideo_runtime.backends import FACTORIES
from longvideo_runtime.cli import CONCAT_OPTIONS, MAX_TERMINATION_BYTES, SEGMENT_OPTIONS
from longvideo_runtime.errors import ExitCode, WorkerError
from longvideo_runtime.segment import summary
from longvideo_runtime.spec import BACKENDS, parse_concat, parse_segment
from longvideo_runtime.variants import FRAMES_PER_LATENT, PADDINGS, PROFILES, VARIANTS

HERE = Path(__file__).resolve().parents[1]
CONTRACT_FILE = SRC / "longvideo_runtime" / "contract.json"
RAW: dict[str, Any] = json.loads(CONTRACT_FILE.read_text())
ENV: dict[str, dict[str, Any]] = RAW["env"]
FIELDS: dict[str, list[str]] = RAW["terminationMessage"]
LV_NAME = re.compile(r"LV_[A-Z0-9_]+")


def names_for(command: str, set_by: str | None = None) -> set[str]:
    return {n for n, v in ENV.items() if command in v["commands"] and set_by in (None, v["setBy"])}


# --- the loader ------------------------------------------------------------------------------------------------


def test_the_package_contract_is_the_generated_file() -> None:
    assert RAW["version"] == contract.VERSION == contract.CONTRACT.version
    assert contract.load(CONTRACT_FILE) == contract.CONTRACT
    assert set(contract.CONTRACT.env) == set(ENV)


def write_contract(path: Path, **changes: Any) -> Path:
    path.write_text(json.dumps({**RAW, **changes}))
    return path


def test_a_contract_of_another_version_is_refused(tmp_path: Path) -> None:
    path = write_contract(tmp_path / "contract.json", version="longvideo.dev/runtime-contract/v2")
    with pytest.raises(contract.ContractError, match=r"'longvideo.dev/runtime-contract/v2'.*reads only.*/v1'"):
        contract.load(path)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"exitCodes": {**RAW["exitCodes"], "badInput": "2"}}, r"contract\.exitCodes\.badInput must be an integer"),
        ({"workspaceLayout": {"segmentsDir": "segments"}}, r"contract\.workspaceLayout\.attemptKeyChars is missing"),
        (
            {"workspaceLayout": {**RAW["workspaceLayout"], "attemptKeyChars": "16"}},
            r"workspaceLayout\.attemptKeyChars must be an integer",
        ),
        (
            {"workspaceLayout": {**RAW["workspaceLayout"], "attemptKeyChars": 0}},
            r"attemptKeyChars must be from 1 to 64",
        ),
        (
            {"workspaceLayout": {**RAW["workspaceLayout"], "attemptKeyChars": 65}},
            r"attemptKeyChars must be from 1 to 64",
        ),
        (
            {"workspaceLayout": {k: v for k, v in RAW["workspaceLayout"].items() if k != "clip"}},
            r"contract\.workspaceLayout\.clip is missing",
        ),
        ({"backends": ["svi", "comfy"]}, r"contract\.backends\[1\] must be one of svi, animatic"),
        ({"variants": {**RAW["variants"], "sing": RAW["variants"]["film"]}}, r"variants\.sing \(name\) must be one"),
        ({"env": {**ENV, "XY": ENV["LV_FPS"]}}, "start with LV_"),
        ({"failureReasons": {**RAW["failureReasons"], "handoff": "internal"}}, "distinct"),
    ],
)
def test_a_contract_this_worker_does_not_understand_is_refused(
    tmp_path: Path, changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(contract.ContractError, match=message):
        contract.load(write_contract(tmp_path / "contract.json", **changes))


def test_extra_fields_are_ignored(tmp_path: Path) -> None:
    assert contract.load(write_contract(tmp_path / "contract.json", audio={"codecs": ["aac"]})) == contract.CONTRACT


def test_a_worker_with_a_contract_of_another_version_does_not_start(tmp_path: Path) -> None:
    package = tmp_path / "site" / "longvideo_runtime"
    shutil.copytree(SRC / "longvideo_runtime", package, ignore=shutil.ignore_patterns("__pycache__"))
    write_contract(package / "contract.json", version="longvideo.dev/runtime-contract/v0")
    done = subprocess.run(
        [sys.executable, "-m", "longvideo_runtime", "segment"],
        env={"PYTHONPATH": str(tmp_path / "site"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "ContractError" in done.stderr and "runtime-contract/v0" in done.stderr


def test_the_contract_ships_with_the_package_and_the_images() -> None:
    pyproject = tomllib.loads((HERE / "pyproject.toml").read_text())
    assert "contract.json" in pyproject["tool"]["setuptools"]["package-data"]["longvideo_runtime"]
    image = json.loads((HERE / "cpu-image.json").read_text())
    (app,) = [layer for layer in image["layers"] if "copy" in layer]
    assert Path(app["copy"]) == Path("runtime-image/src/longvideo_runtime")
    assert not [p for p in app.get("exclude", []) if fnmatch("contract.json", p)]
    gpu = json.loads((HERE / "gpu-image.json").read_text())
    (gpu_app,) = [layer for layer in gpu["layers"] if "copy" in layer]
    assert gpu_app["copy"] == app["copy"] and gpu_app["to"] == app["to"]
    assert f"COPY {app['copy']} {app['to']}" in (HERE / "Dockerfile").read_text()


# --- LV_* variables ----------------------------------------------------------------------------------------------


def source_names() -> dict[str, set[str]]:
    """Every LV_* name the worker's source holds as a string of its own, by module (the names it reads)."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / "longvideo_runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and LV_NAME.fullmatch(node.value):
                found.setdefault(node.value, set()).add(path.name)
    return found


def test_every_variable_the_worker_reads_is_in_the_contract_and_back() -> None:
    read = source_names()
    assert set(read) - set(ENV) == set(), "read by the worker, missing from the contract"
    assert set(ENV) - set(read) == set(), "in the contract, read nowhere in the worker"


class Recording(Mapping[str, str]):
    """An environment that remembers every name looked up."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.asked: set[str] = set()

    def __getitem__(self, name: str) -> str:
        self.asked.add(name)
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)


def test_each_command_reads_its_own_variables() -> None:
    segment = Recording(
        {
            "LV_SEGMENT_INDEX": "1",
            "LV_SEGMENT_HASH": "0123456789abcdef" * 4,
            "LV_SEGMENT_COUNT": "3",
            "LV_BACKEND": "svi",
            "LV_PROMPT": "gulls",
            "LV_INPUT_DIGEST": "sha256:" + "ab" * 32,
        }
    )
    parse_segment(segment)
    assert segment.asked <= names_for("segment")
    assert names_for("segment", "operator") <= segment.asked, "the operator sets it, the segment ignores it"
    concat = Recording(
        {
            "LV_SEGMENT_COUNT": "2",
            "LV_FINAL_DIGEST": "sha256:" + "cd" * 32,
            "LV_EXPECTED_FRAMES": "10",
            "LV_AUDIO_PATH": "a.wav",
        }
    )
    parse_concat(concat)
    assert concat.asked <= names_for("concat")
    assert names_for("concat", "operator") <= concat.asked, "the operator sets it, concat ignores it"
    assert {v for _, v in SEGMENT_OPTIONS} <= names_for("segment")
    assert {v for _, v in CONCAT_OPTIONS} <= names_for("concat")


def test_the_new_operator_variables_are_read_and_required() -> None:
    """LV_SEGMENT_HASH names the attempt directory, LV_FINAL_DIGEST the end of the chain concat walks."""
    assert ENV["LV_SEGMENT_HASH"]["commands"] == ["segment"] and ENV["LV_SEGMENT_HASH"]["setBy"] == "operator"
    assert ENV["LV_FINAL_DIGEST"]["commands"] == ["concat"] and ENV["LV_FINAL_DIGEST"]["setBy"] == "operator"
    read = source_names()
    assert read["LV_SEGMENT_HASH"] >= {"spec.py"} and read["LV_FINAL_DIGEST"] >= {"spec.py"}
    base = {"LV_SEGMENT_INDEX": "0", "LV_BACKEND": "animatic", "LV_SEGMENT_HASH": "ab" * 32, "LV_ATTEMPT": "3"}
    key = hashlib.sha256(("ab" * 32 + "|").encode()).hexdigest()[:16]
    assert parse_segment(base).attempt_dir == Path(RAW["mountPaths"]["workspace"], "segments", "0", key + "-3")
    with pytest.raises(WorkerError, match="LV_SEGMENT_HASH is required"):
        parse_segment({k: v for k, v in base.items() if k != "LV_SEGMENT_HASH"})
    assert parse_concat({"LV_SEGMENT_COUNT": "1", "LV_FINAL_DIGEST": "sha256:" + "0" * 64}).final_digest.endswith("0")
    with pytest.raises(WorkerError, match="LV_FINAL_DIGEST is required"):
        parse_concat({"LV_SEGMENT_COUNT": "1"})


# --- facts ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(RAW["variants"]))
def test_variant_profiles_are_the_contracts(variant: str) -> None:
    raw = RAW["variants"][variant]
    profile = PROFILES[variant]
    assert (profile.protocol, profile.motion_frames, profile.padding, profile.trim) == (
        raw["motionUnit"],
        raw["motionFrames"],
        raw["padding"],
        raw["trim"],
    )
    assert (profile.model, profile.lora, profile.lora_2) == tuple(raw["weights"][k] for k in ("model", "lora", "lora2"))
    assert profile.guidance_scale == raw["guidanceScale"] and profile.padding in PADDINGS
    # A talk or dance segment needs its input's window; the window's place does not change the defaults.
    inputs = {
        "text": {},
        "audio": {"LV_AUDIO": '{"url":"https://example.com/a.wav"}', "LV_AUDIO_WINDOW": "0:81"},
        "pose": {"LV_POSE": '{"url":"https://example.com/p.mp4"}', "LV_POSE_WINDOW": "0:81:true"},
    }[raw["conditioning"]]
    first = parse_segment(
        {"LV_SEGMENT_INDEX": "0", "LV_SEGMENT_HASH": "h", "LV_VARIANT": variant, "LV_BACKEND": "animatic", **inputs}
    )
    assert first.audio_guidance_scale == raw["audioGuidanceScale"]
    assert (first.motion_frames, first.padding, first.guidance_scale) == (
        raw["motionFrames"],
        raw["padding"],
        raw["guidanceScale"],
    )
    assert (first.svi.model, first.svi.lora) == (
        Path(RAW["mountPaths"]["models"], raw["weights"]["model"]),
        Path(RAW["mountPaths"]["models"], raw["weights"]["lora"]),
    )


def test_variants_backends_and_frames_are_the_contracts() -> None:
    assert tuple(RAW["variants"]) == VARIANTS and set(PROFILES) == set(RAW["variants"])
    assert tuple(RAW["backends"]) == BACKENDS and set(FACTORIES) == set(RAW["backends"])
    assert RAW["framesPerLatent"] == FRAMES_PER_LATENT
    spec = parse_segment(
        {
            "LV_SEGMENT_INDEX": "3",
            "LV_SEGMENT_HASH": "h",
            "LV_BACKEND": "animatic",
            "LV_INPUT_DIGEST": "sha256:" + "0" * 64,
        }
    )
    assert spec.frames == RAW["clipFrames"]["default"]
    assert spec.seed == 3 * RAW["defaultSeedMultiplier"]


def test_mount_path_defaults_are_the_contracts() -> None:
    mounts = RAW["mountPaths"]
    spec = parse_segment({"LV_SEGMENT_INDEX": "0", "LV_SEGMENT_HASH": "h", "LV_BACKEND": "animatic"})
    assert (spec.workspace, spec.svi.models_dir, spec.reference_dir) == (
        Path(mounts["workspace"]),
        Path(mounts["models"]),
        Path(mounts["reference"]),
    )
    concat = parse_concat({"LV_SEGMENT_COUNT": "1", "LV_FINAL_DIGEST": "sha256:" + "0" * 64})
    assert concat.workspace == Path(mounts["workspace"])
    image = json.loads((HERE / "cpu-image.json").read_text())
    assert f"LV_WORKSPACE={mounts['workspace']}" in image["config"]["Env"]
    assert image["config"]["WorkingDir"] == mounts["scratch"]
    gpu = json.loads((HERE / "gpu-image.json").read_text())["config"]
    assert {f"LV_MODELS_DIR={mounts['models']}", f"LV_WORKSPACE={mounts['workspace']}"} <= set(gpu["Env"])
    assert gpu["WorkingDir"] == mounts["scratch"]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()


def test_exit_codes_and_failure_reasons_are_the_contracts() -> None:
    assert {snake(k): v for k, v in RAW["exitCodes"].items()} == {c.name: c.value for c in ExitCode}
    classes = [WorkerError, *WorkerError.__subclasses__()]
    assert {(c.code, c.kind) for c in classes} == {
        (RAW["exitCodes"][k], reason) for k, reason in RAW["failureReasons"].items()
    }
    assert errors.BadInput.code == RAW["exitCodes"]["badInput"] and errors.BadInput.kind == "bad-input"


def test_workspace_layout_is_the_contracts() -> None:
    layout = RAW["workspaceLayout"]
    keys = ("segmentsDir", "attemptKeyChars", "clip", "poster", "result", "handoff", "temporaryMark")
    assert tuple(layout[k] for k in keys) == (
        workspace_layout.SEGMENTS_DIR,
        workspace_layout.ATTEMPT_KEY_CHARS,
        workspace_layout.CLIP_FILE,
        workspace_layout.POSTER_FILE,
        workspace_layout.RESULT_FILE,
        workspace_layout.HANDOFF_FILE,
        fsio.TMP_MARK,
    )
    ws = Path("/w")
    segment = ws / layout["segmentsDir"] / "4"
    plan_hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    input_digest = "sha256:" + "ab" * 32
    # attemptDir() in runtime-contract.ts: `${segmentDir(index)}/${attemptKey(hash, inputDigest)}-${attempt}`, the key
    # the first attemptKeyChars hex characters of sha256 over the UTF-8 text `<hash>|<inputDigest>`.
    key = hashlib.sha256(f"{plan_hash}|{input_digest}".encode()).hexdigest()[: layout["attemptKeyChars"]]
    # The vectors src/api/runtime-contract.test.ts checks attemptDir() against.
    assert key == "0c724370f2057ac5"
    assert workspace_layout.attempt_key(plan_hash, "") == "0c050f3d31a90f04"
    attempt = segment / f"{key}-7"
    assert workspace_layout.segment_dir(ws, 4) == segment
    assert workspace_layout.attempt_key(plan_hash, input_digest) == key
    assert workspace_layout.attempt_dir(ws, 4, plan_hash, input_digest, 7) == attempt
    assert workspace_layout.attempt_dir(ws, 4, plan_hash, "sha256:" + "cd" * 32, 7) != attempt, "another input"
    assert workspace_layout.parse_attempt_name(attempt.name) == workspace_layout.AttemptName(key, 7)
    assert workspace_layout.parse_attempt_name("." + attempt.name + layout["temporaryMark"] + "x") is None
    assert fsio.temp_path(attempt / "clip.mp4").name.startswith("." + layout["clip"] + layout["temporaryMark"])


# --- termination messages ------------------------------------------------------------------------------------------


def test_the_segment_summary_carries_only_the_contracts_fields() -> None:
    result = dict.fromkeys(FIELDS["segment"], 1) | {"scene": 0, "fingerprint": "x", "files": {}, "reused": True}
    assert list(summary(result)) == FIELDS["segment"]
    assert "reused" not in summary({**result, "reused": False})
    assert FIELDS["maxBytes"] == MAX_TERMINATION_BYTES


COMMON = {"LV_BACKEND": "animatic", "LV_VARIANT": "film", "LV_WIDTH": "64", "LV_HEIGHT": "48", "LV_FRAMES": "9"}


def test_every_message_the_worker_ends_with_has_only_the_contracts_fields(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    runs = render_chain(ws, 2, ["a sea"], tmp_path, **COMMON, LV_REFERENCE_IMAGE_PATH=str(reference_png))
    for run in runs:
        assert run.termination == run.message
        # handoffSeenAt: a warm attempt's only (a serial one read its hand-off, it saw no commit).
        assert set(run.message) == set(FIELDS["segment"]) - {"reused", "handoffSeenAt"}
    warm = run_cli(
        ["segment"],
        segment_env(
            ws,
            1,
            2,
            **COMMON,
            LV_PROMPT="a sea",
            LV_INPUT_FROM=str(result_dir(ws, 0).relative_to(ws)),
            LV_REFERENCE_IMAGE_PATH=str(reference_png),
        ),
        tmp_path,
    )
    assert warm.code == 0 and warm.termination == warm.message, warm.stderr[-2000:]
    assert set(warm.message) == set(FIELDS["segment"]) - {"reused"}
    again = run_cli(
        ["segment"],
        segment_env(
            ws,
            1,
            2,
            **COMMON,
            LV_PROMPT="a sea",
            LV_INPUT_DIGEST=latents_digest(ws, 0),
            LV_REFERENCE_IMAGE_PATH=str(reference_png),
        ),
        tmp_path,
    )
    assert again.code == 0 and set(again.message) == set(FIELDS["segment"]) - {"handoffSeenAt"}

    film = run_cli(["concat"], concat_env(ws, runs), tmp_path)
    assert film.code == 0 and set(film.message) == set(FIELDS["concat"])

    failures = [
        run_cli(["segment"], segment_env(ws, 1, 2, **COMMON, LV_INPUT_DIGEST="sha256:" + "0" * 64), tmp_path),
        run_cli(["segment"], {"LV_WORKSPACE": str(ws)}, tmp_path),
        run_cli(["concat"], concat_env(ws, runs, LV_SEGMENT_COUNT="3"), tmp_path),
        run_cli(["concat"], concat_env(ws, runs, LV_EXPECTED_FRAMES="1"), tmp_path),
    ]
    codes = [RAW["exitCodes"][k] for k in ("handoff", "badInput", "handoff", "badInput")]
    assert [f.code for f in failures] == codes
    for failure in failures:
        assert set(failure.message) <= set(FIELDS["failure"]), failure.message
        assert failure.message["reason"] in RAW["failureReasons"].values()
        assert failure.termination == failure.message
        # missingSegment: only on hand-off failures, where it names the segment to render again.
        handoff = failure.message["reason"] == RAW["failureReasons"]["handoff"]
        assert ("missingSegment" in failure.message) == handoff
    assert [f.message.get("missingSegment") for f in failures] == [0, None, 2, None]
