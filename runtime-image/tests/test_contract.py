"""The operator <-> runtime contract (contract.json, generated from src/api/runtime-contract.ts) and its loader."""

from __future__ import annotations

import json
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest

from conftest import SRC
from longvideo_runtime import contract

HERE = Path(__file__).resolve().parents[1]
CONTRACT_FILE = SRC / "longvideo_runtime" / "contract.json"
RAW: dict[str, Any] = json.loads(CONTRACT_FILE.read_text())
ENV: dict[str, dict[str, Any]] = RAW["env"]


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
        ({"workspaceLayout": {"segmentsDir": "segments"}}, r"contract\.workspaceLayout\.clip is missing"),
        ({"backends": ["svi", "comfy"]}, r"contract\.backends\[1\] must be one of svi, animatic"),
        ({"variants": {**RAW["variants"], "talk": RAW["variants"]["film"]}}, r"variants\.talk \(name\) must be one"),
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


def test_the_contract_ships_with_the_package_and_the_images() -> None:
    pyproject = tomllib.loads((HERE / "pyproject.toml").read_text())
    assert "contract.json" in pyproject["tool"]["setuptools"]["package-data"]["longvideo_runtime"]
    image = json.loads((HERE / "cpu-image.json").read_text())
    (app,) = [layer for layer in image["layers"] if "copy" in layer]
    assert Path(app["copy"]) == Path("runtime-image/src/longvideo_runtime")
    assert not [p for p in app.get("exclude", []) if fnmatch("contract.json", p)]
    assert "COPY src/longvideo_runtime /opt/longvideo/longvideo_runtime" in (HERE / "Dockerfile").read_text()
