"""The animatic backend through the CLI: continuity, timing, handoff files, concat, no torch, Debian's python3."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chain import concat_env, latents_digest, render_chain, result_dir, segment_env
from conftest import SRC, run_cli
from longvideo_runtime import media, safetensors_io
from longvideo_runtime.animatic import caption_height

W, H, FPS = 96, 64, 16
COMMON = {"LV_BACKEND": "animatic", "LV_WIDTH": str(W), "LV_HEIGHT": str(H), "LV_FPS": str(FPS), "LV_FRAMES": "33"}
PROMPTS = ["a lighthouse at dusk", "gulls take off over the waves", "night falls on the sea"]


def picture(frame: np.ndarray) -> np.ndarray:
    """The frame above the caption bar as luma in 4x4 blocks: h264's chroma subsampling and ringing average out."""
    rows = (H - caption_height(H) - 2) // 4 * 4
    luma = frame[:rows].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return luma.reshape(rows // 4, 4, W // 4, 4).mean(axis=(1, 3))


def mean_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(picture(a) - picture(b)).mean())


@pytest.mark.parametrize(("variant", "kept"), [("film", [28, 28, 33]), ("pro", [33, 28, 28]), ("shot", [32, 32, 33])])
def test_three_segments_continue_each_other_and_concat_to_the_plan(
    tmp_path: Path, reference_png: Path, variant: str, kept: list[int]
) -> None:
    ws = tmp_path / "ws"
    env = {**COMMON, "LV_VARIANT": variant, "LV_REFERENCE_IMAGE_PATH": str(reference_png)}
    runs = render_chain(ws, 3, PROMPTS, tmp_path, **env)

    # The result and the termination message name the chain of digests.
    for i, run in enumerate(runs):
        assert run.termination == run.message
        assert run.message["ok"] is True and run.message["segment"] == i
        assert run.message["frames"] == 33 and run.message["keptFrames"] == kept[i]
        assert run.message["inputDigest"] == ("" if i == 0 else latents_digest(ws, i - 1))
        assert len(json.dumps(run.termination)) < 4096
        seg = result_dir(ws, i)
        assert sorted(p.name for p in seg.iterdir()) == [
            "clip.mp4",
            "handoff.json",
            "latents.safetensors",
            "poster.png",
            "result.json",
        ]
        _, meta = safetensors_io.load(seg / "latents.safetensors")
        assert meta["consumed"] == run.message["inputDigest"] and meta["segment"] == str(i)
        probe = media.probe(seg / "clip.mp4")
        assert (probe.codec, probe.frames, probe.width, probe.height) == ("h264", kept[i], W, H)

    # Segment 0 opens on the reference image; each later clip opens where the previous one's kept frames end.
    clips = [media.decode_frames(result_dir(ws, i) / "clip.mp4") for i in range(3)]
    reference = media.load_rgb(reference_png, W, H)
    if variant != "pro":
        assert mean_diff(clips[0][0], reference) < 1.5
    for i in (1, 2):
        # Up to h264 noise, the seam is one camera step: no jump back to the reference, no cut.
        seam = mean_diff(clips[i - 1][-1], clips[i][0])
        assert seam < 1.5, f"seam {i}: {seam}"
        assert seam < 0.5 * mean_diff(clips[i][0], clips[i - 1][0]), "the seam is smaller than a clip's own motion"
        # Exactly: the carried frames open the next clip (stitching drops them from one of the two clips).
        carried = safetensors_io.load(result_dir(ws, i - 1) / "latents.safetensors")[0]["motion_frames"]
        first_generated = clips[i][0] if variant != "pro" else clips[i - 1][-1]
        assert mean_diff(first_generated, carried[0 if variant != "pro" else -1]) < 1.5

    out = ws / "out" / "film.mp4"
    total = sum(kept)
    run = run_cli(
        ["concat"],
        concat_env(ws, runs, LV_OUTPUT_PATH=str(out), LV_EXPECTED_FRAMES=str(total), LV_FPS=str(FPS)),
        tmp_path,
    )
    assert run.code == 0, run.stderr
    assert run.message["frames"] == total
    probe = ffprobe(out)
    assert probe["nb_read_packets"] == total
    assert abs(probe["duration"] - total / FPS) < 1 / FPS
    sheet = out.with_name("film.contact.png")
    assert sheet.is_file() and run.message["contactSheet"] == str(sheet)


def ffprobe(path: Path) -> dict[str, float]:
    out = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-count_packets",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_packets,codec_name:format=duration",
            "-of",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    info = json.loads(out.stdout)
    return {
        "nb_read_packets": int(info["streams"][0]["nb_read_packets"]),
        "duration": float(info["format"]["duration"]),
    }


def test_concat_with_audio_and_frame_check(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    runs = render_chain(
        ws, 2, PROMPTS, tmp_path, **COMMON, LV_VARIANT="film", LV_REFERENCE_IMAGE_PATH=str(reference_png)
    )
    audio = ws / "audio.wav"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", str(audio)], check=True
    )
    base = concat_env(ws, runs, LV_FPS=str(FPS))
    wrong = run_cli(["concat"], {**base, "LV_EXPECTED_FRAMES": "30"}, tmp_path)
    assert wrong.code == 2 and "plan expects 30" in wrong.message["error"]
    assert not (ws / "film.mp4").exists()
    run = run_cli(["concat", "--audio", "audio.wav", "--expected-frames", "61"], base, tmp_path)
    assert run.code == 0, run.stderr
    assert run.message["audio"] is True and run.message["frames"] == 61
    assert abs(run.message["seconds"] - 61 / FPS) < 1.5 / FPS


def test_concat_refuses_a_broken_chain(tmp_path: Path, reference_png: Path) -> None:
    ws = tmp_path / "ws"
    runs = render_chain(
        ws, 2, PROMPTS, tmp_path, **COMMON, LV_VARIANT="film", LV_REFERENCE_IMAGE_PATH=str(reference_png)
    )
    # Segment 0 re-rendered with another seed, and the attempt segment 1 continued removed: the chain is broken.
    env = segment_env(
        ws, 0, 2, **COMMON, LV_VARIANT="film", LV_PROMPT="x", LV_SEED="5", LV_REFERENCE_IMAGE_PATH=str(reference_png)
    )
    assert run_cli(["segment"], env, tmp_path).code == 0
    shutil.rmtree(result_dir(ws, 0, runs[0].message["latentsDigest"]))
    run = run_cli(["concat"], concat_env(ws, runs), tmp_path)
    assert run.code == 3 and run.message["missingSegment"] == 0
    assert f"hands off {runs[0].message['latentsDigest']}" in run.message["error"]


def test_missing_reference_draws_a_placeholder(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    env = segment_env(
        ws, 0, 1, **COMMON, LV_VARIANT="film", LV_PROMPT="x", LV_REFERENCE_IMAGE='{"url":"http://127.0.0.1:9/none.png"}'
    )
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 2 and "refused address range (loopback)" in run.message["error"]
    env["LV_REFERENCE_IMAGE"] = '{"pvc":{"claimName":"stills","path":"a/missing.png"}}'
    env["LV_REFERENCE_DIR"] = str(tmp_path / "ref")
    run = run_cli(["segment"], env, tmp_path)
    assert run.code == 0 and any(line["event"] == "reference-unavailable" for line in run.logs)


def test_reference_sources_pvc_and_url(tmp_path: Path, reference_png: Path) -> None:
    import http.server
    import threading

    (tmp_path / "ref" / "stills").mkdir(parents=True)
    shutil.copy(reference_png, tmp_path / "ref" / "stills" / "a.png")
    env = segment_env(
        tmp_path / "ws",
        0,
        1,
        **COMMON,
        LV_VARIANT="film",
        LV_PROMPT="x",
        LV_REFERENCE_DIR=str(tmp_path / "ref"),
        LV_REFERENCE_IMAGE='{"pvc":{"claimName":"c","path":"stills/a.png"}}',
    )
    assert run_cli(["segment"], env, tmp_path).code == 0
    env["LV_REFERENCE_IMAGE"] = '{"pvc":{"claimName":"c","path":"../../etc/passwd"}}'
    bad = run_cli(["segment"], env, tmp_path)
    assert bad.code == 2 and "outside" in bad.message["error"]

    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "ref"))  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/stills/a.png"
        env["LV_REFERENCE_IMAGE"] = json.dumps({"url": url})
        env["LV_FETCH_POLICY"] = json.dumps({"allowCidrs": ["127.0.0.0/8"]})
        env["LV_WORKSPACE"] = str(tmp_path / "ws2")
        assert run_cli(["segment"], env, tmp_path).code == 0
        assert len(list((tmp_path / "ws2" / "inputs").glob("reference-*"))) == 1
    finally:
        server.shutdown()
        server.server_close()


BLOCK_TORCH = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "diffusers", "transformers", "safetensors", "accelerate"}:
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
from longvideo_runtime.cli import main
sys.exit(main())
"""


def test_animatic_and_concat_never_import_torch(tmp_path: Path, reference_png: Path) -> None:
    script = tmp_path / "blocked.py"
    script.write_text(BLOCK_TORCH)
    ws = tmp_path / "ws"
    for i in range(2):
        env = segment_env(
            ws,
            i,
            2,
            **COMMON,
            LV_VARIANT="pro",
            LV_PROMPT="x",
            LV_INPUT_DIGEST=latents_digest(ws, 0) if i else "",
            LV_REFERENCE_IMAGE_PATH=str(reference_png),
            PYTHONPATH=str(SRC),
        )
        done = subprocess.run(
            [sys.executable, str(script), "segment"], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr


DEBIAN_PYTHON = Path("/usr/bin/python3")


def test_runs_on_debian_python_with_numpy_and_pillow_only(tmp_path: Path, reference_png: Path) -> None:
    """Debian's python3 with python3-numpy, python3-pil and ffmpeg only is enough: no venv, no torch."""
    check = subprocess.run([str(DEBIAN_PYTHON), "-c", "import numpy, PIL"], capture_output=True, check=False)
    if check.returncode != 0:
        pytest.fail("install-dev.sh installs python3-numpy and python3-pil; run it first")
    ws = tmp_path / "ws"
    digest = ""
    for i in range(2):
        env = segment_env(
            ws,
            i,
            2,
            **COMMON,
            LV_VARIANT="film",
            LV_PROMPT=PROMPTS[i],
            LV_INPUT_DIGEST=digest,
            LV_REFERENCE_IMAGE_PATH=str(reference_png),
        )
        run = run_cli(["segment"], env, tmp_path, python=str(DEBIAN_PYTHON))
        assert run.code == 0, run.stderr
        digest = latents_digest(ws, i)
    run = run_cli(
        ["concat"],
        {"LV_WORKSPACE": str(ws), "LV_SEGMENT_COUNT": "2", "LV_EXPECTED_FRAMES": "61", "LV_FINAL_DIGEST": digest},
        tmp_path,
        python=str(DEBIAN_PYTHON),
    )
    assert run.code == 0, run.stderr


def test_svi_without_torch_is_bad_input(tmp_path: Path, reference_png: Path) -> None:
    script = tmp_path / "blocked.py"
    script.write_text(BLOCK_TORCH)
    env = segment_env(
        tmp_path / "ws",
        0,
        1,
        **{**COMMON, "LV_BACKEND": "svi"},
        LV_PROMPT="x",
        LV_REFERENCE_IMAGE_PATH=str(reference_png),
        PYTHONPATH=str(SRC),
    )
    done = subprocess.run(
        [sys.executable, str(script), "segment"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "needs torch" in done.stdout
