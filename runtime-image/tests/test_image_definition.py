"""cpu-image.env summarises cpu-image.json (the definition the OCI script builds): the two must agree."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def test_cpu_image_env_matches_the_definition() -> None:
    env = dict(
        shlex.split(line)[0].split("=", 1)
        for line in (HERE / "cpu-image.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    definition = json.loads((HERE / "cpu-image.json").read_text())
    base, (wheels, app), config = definition["base"], definition["layers"], definition["config"]
    assert env["IMAGE_NAME"] == definition["name"]
    assert (env["DEBIAN_SUITE"], env["DEBIAN_MIRROR"]) == (base["suite"], base["mirror"])
    assert env["DEBIAN_PACKAGES"].split() == base["packages"]
    assert (env["WHEELS"], env["WHEELS_DEST"], env["PYTHON_VERSION"]) == (
        wheels["wheels"],
        wheels["to"],
        wheels["python"],
    )
    assert (env["APP_SOURCE"], env["APP_DEST"]) == (app["copy"], app["to"])
    assert json.loads(env["ENTRYPOINT"]) == config["Entrypoint"] and env["USER"] == config["User"]
    assert [e for e in config["Env"] if not e.startswith("PATH=")] == env["ENV"].split()
    assert f"PYTHONPATH={env['PYTHONPATH']}" in config["Env"]
    assert env["CARRIES_TORCH"] == "cpu" and "python3-torch" in base["packages"]
