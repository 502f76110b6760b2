"""fetch-models against a stand-in for the Hugging Face Hub on 127.0.0.1 (no internet): the tiny model cache's files
served under the Hub's URL scheme as huggingface_hub 0.36 requests it, mapped back through model_fetch.SOURCES;
the fetched cache passes the check, a wrong file fetched fails it, and HF_ENDPOINT and HF_TOKEN are honoured.

What the client asks (read from huggingface_hub 0.36.2's file_download.py and hf_api.py): snapshot_download gets
`GET /api/models/{repo}/revision/{revision}` (the revision URL-quoted: refs%2Fpr%2F1) for the commit `sha` and the
`siblings`' `rfilename`s, filters them by allow_patterns, then downloads each at that commit; hf_hub_download sends
`HEAD /{repo}/resolve/{revision}/{path}` and reads X-Repo-Commit, ETag (or X-Linked-Etag) and Content-Length (or
X-Linked-Size), then `GET`s the same URL and checks the size.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

pytest.importorskip("torch")
pytest.importorskip("huggingface_hub")

from conftest import SRC
from longvideo_runtime.model_cache_check import check_model_cache
from longvideo_runtime.model_fetch import SOURCES, sources
from longvideo_runtime.variants import MULTITALK_FILE, PROFILES, VARIANTS, WAV2VEC_DIR


@dataclass
class Hub:
    """Serves `root`'s files as the repositories SOURCES names; records what was asked."""

    root: Path
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    #: (repo, revision) by the commit sha the server reports for it.
    commits: dict[str, tuple[str, str]] = field(default_factory=dict)

    def commit(self, repo: str, revision: str) -> str:
        sha = hashlib.sha1(f"{repo}@{revision}".encode()).hexdigest()
        self.commits[sha] = (repo, revision)
        return sha

    def into(self, repo: str, revision: str) -> Path | None:
        if revision in self.commits:
            repo, revision = self.commits[revision]
        for source in SOURCES:
            if (source.repo, source.revision) == (repo, revision):
                return self.root / source.into
        return None


def handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command == "GET":
                self.wfile.write(body)

        def _missing(self) -> None:
            self._send(404, b"not found", {"X-Error-Code": "EntryNotFound", "X-Error-Message": "Entry not found"})

        def _serve(self) -> None:
            path = urlsplit(self.path).path
            hub.requests.append((self.command, unquote(path), self.headers.get("Authorization", "")))
            parts = path.strip("/").split("/")
            if parts[:2] == ["api", "models"] and len(parts) == 6 and parts[4] == "revision":
                repo, revision = f"{parts[2]}/{parts[3]}", unquote(parts[5])
                into = hub.into(repo, revision)
                if into is None:
                    return self._missing()
                files = sorted(p.relative_to(into).as_posix() for p in into.rglob("*") if p.is_file())
                info = {"id": repo, "sha": hub.commit(repo, revision), "siblings": [{"rfilename": f} for f in files]}
                return self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
            if len(parts) >= 5 and parts[2] == "resolve":
                repo, revision, name = f"{parts[0]}/{parts[1]}", unquote(parts[3]), unquote("/".join(parts[4:]))
                into = hub.into(repo, revision)
                if into is None or not (into / name).is_file():
                    return self._missing()
                body = (into / name).read_bytes()
                headers = {
                    "X-Repo-Commit": hub.commit(*hub.commits.get(revision, (repo, revision))),
                    "ETag": f'"{hashlib.sha256(body).hexdigest()}"',
                    "Content-Type": "application/octet-stream",
                }
                return self._send(200, body, headers)
            return self._missing()

        def do_GET(self) -> None:
            self._serve()

        def do_HEAD(self) -> None:
            self._serve()

    return Handler


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from longvideo_runtime.svi.tiny import build

    root = tmp_path_factory.mktemp("hub")
    build(root, layout="model-cache")
    return root


@pytest.fixture
def hub(hub_files: Path, tmp_path: Path) -> Iterator[tuple[Hub, str]]:
    state = Hub(Path(shutil.copytree(hub_files, tmp_path / "hub")))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(variant: str, models: Path, endpoint: str, tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "longvideo_runtime", "fetch-models", "--variant", variant, "--models-dir", str(models)],
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(SRC),
            "HF_ENDPOINT": endpoint,
            "HF_HOME": str(tmp / "hf-home"),
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "NO_PROXY": "127.0.0.1",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("variant", ["talk", "pro"])
def test_a_fetched_cache_passes_the_check(hub: tuple[Hub, str], tmp_path: Path, variant: str) -> None:
    state, endpoint = hub
    models = tmp_path / "models"
    done = fetch(variant, models, endpoint, tmp_path, HF_TOKEN="hf_test_token")
    assert done.returncode == 0, done.stderr[-3000:]
    report = check_model_cache(models, variant)  # type: ignore[arg-type]
    assert report.ok and done.stdout == f"ok: {len(report.files)} files\n"
    model = PROFILES[variant].model  # type: ignore[index]
    # Only what the worker reads: the tiny checkpoint's scheduler and model_index.json stay on the hub.
    assert (state.root / model / "scheduler").is_dir() and not (models / model / "scheduler").exists()
    assert not (models / model / "model_index.json").exists()
    assert all(auth == "Bearer hf_test_token" for _, _, auth in state.requests)
    asked = {(method, path) for method, path, _ in state.requests}
    repo = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers" if variant == "talk" else "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
    assert ("GET", f"/api/models/{repo}/revision/main") in asked
    if variant == "talk":
        assert ("HEAD", f"/{'TencentGameMate/chinese-wav2vec2-base'}/resolve/refs/pr/1/model.safetensors") in asked
        assert ("GET", "/MeiGen-AI/MeiGen-MultiTalk/resolve/main/multitalk.safetensors") in asked
        assert (models / WAV2VEC_DIR / "model.safetensors").read_bytes() == (
            state.root / WAV2VEC_DIR / "model.safetensors"
        ).read_bytes()
    else:
        assert ("GET", f"/vita-video-gen/svi-model/resolve/main/{PROFILES['pro'].lora_2.removeprefix('svi/')}") in asked

    # Again: every file is there with the hub's etag, so nothing is downloaded a second time.
    state.requests.clear()
    again = fetch(variant, models, endpoint, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not [r for r in state.requests if r[0] == "GET" and "/resolve/" in r[1]]


def test_a_wrong_file_fetched_fails_the_check(hub: tuple[Hub, str], tmp_path: Path) -> None:
    state, endpoint = hub
    lora = state.root / PROFILES["shot"].lora
    lora.write_bytes(lora.read_bytes()[:-64])
    done = fetch("shot", tmp_path / "models", endpoint, tmp_path)
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stdout.startswith(f"{PROFILES['shot'].lora}: not a safetensors file: truncated")


def test_a_file_the_hub_does_not_have_fails_naming_the_repository(hub: tuple[Hub, str], tmp_path: Path) -> None:
    state, endpoint = hub
    (state.root / MULTITALK_FILE).unlink()
    done = fetch("talk", tmp_path / "models", endpoint, tmp_path)
    assert done.returncode == 1
    message = json.loads(done.stdout.splitlines()[-1])
    assert message["error"].startswith("fetching multitalk.safetensors of MeiGen-AI/MeiGen-MultiTalk@main: ")


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_sources_cover_every_file_the_check_reads(hub_files: Path, variant: str) -> None:
    report = check_model_cache(hub_files, variant)
    roots = [s.cache_path() for s in sources(variant)]
    uncovered = [f for f in report.files if not any(f == r or f.startswith(f"{r}/") for r in roots)]
    assert report.ok and uncovered == []
    # And nothing another variant needs: each source is under a path this variant reads.
    assert all(any(f == r or f.startswith(f"{r}/") for f in report.files) for r in roots)
