"""`fetch-models`: fills a model cache with a variant's files from their public Hugging Face Hub repositories.

SOURCES is the one table of where each file the worker reads comes from (repository, revision, path in the
repository) and where it goes in the cache; a variant takes the rows under the paths it reads (its model directory,
its LoRA files, and for talk the audio models). The repositories are the ones SVI's own scripts and READMEs name
(docs/adr/0005-svi-protocol-verified.md, docs/adr/0019-svi-talk-and-dance-verified.md): the Wan diffusers
checkpoints, vita-video-gen/svi-model (whose tree `svi/` mirrors), TencentGameMate/chinese-wav2vec2-base (its
model.safetensors from refs/pr/1, as MultiTalk's README fetches it) and MeiGen-AI/MeiGen-MultiTalk.

Downloads go through huggingface_hub's own functions into `local_dir`s, so HF_ENDPOINT, HF_TOKEN (a gated or
private mirror) and the hub's resumption and skipping of files already there (by their etag) work as they do for
the hub's own CLI. huggingface_hub is imported only here, only by this command.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from longvideo_runtime.errors import WorkerError
from longvideo_runtime.logs import Logger
from longvideo_runtime.variants import MULTITALK_FILE, PROFILES, WAV2VEC_DIR, Variant

_WAN21, _WAN22 = "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", "Wan-AI/Wan2.2-I2V-A14B-Diffusers"
_SVI, _WAV2VEC, _MULTITALK = (
    "vita-video-gen/svi-model",
    "TencentGameMate/chinese-wav2vec2-base",
    "MeiGen-AI/MeiGen-MultiTalk",
)


@dataclass(frozen=True)
class Source:
    """`pattern` (a file, or a folder's files as `folder/*`) of `repo` at `revision`, placed under `into` in the
    cache with its path in the repository kept: the file `p` lands at `<models dir>/<into>/<p>`."""

    repo: str
    revision: str
    pattern: str
    into: str

    def cache_path(self) -> str:
        """Where the file (or the folder, for `folder/*`) lands, relative to the models directory."""
        return f"{self.into}/{self.pattern.removesuffix('/*')}"


def _wan(repo: str, model: str, components: Iterable[str]) -> tuple[Source, ...]:
    return tuple(Source(repo, "main", f"{c}/*", model) for c in components)


def _svi(path: str) -> Source:
    return Source(_SVI, "main", path.removeprefix("svi/"), "svi")


SOURCES: tuple[Source, ...] = (
    *_wan(
        _WAN21,
        PROFILES["film"].model,
        ("tokenizer", "text_encoder", "image_encoder", "image_processor", "vae", "transformer"),
    ),
    *_wan(_WAN22, PROFILES["pro"].model, ("tokenizer", "text_encoder", "vae", "transformer", "transformer_2")),
    *(_svi(path) for v in PROFILES.values() for path in (v.lora, v.lora_2) if path),
    Source(_WAV2VEC, "main", "config.json", WAV2VEC_DIR),
    Source(_WAV2VEC, "main", "preprocessor_config.json", WAV2VEC_DIR),
    Source(_WAV2VEC, "refs/pr/1", "model.safetensors", WAV2VEC_DIR),
    Source(_MULTITALK, "main", Path(MULTITALK_FILE).name, str(Path(MULTITALK_FILE).parent)),
)


def sources(variant: Variant) -> list[Source]:
    """The rows of SOURCES a variant reads: under its model directory, its LoRA files, talk's audio models."""
    profile = PROFILES[variant]
    roots = [f"{profile.model}/", *(p for p in (profile.lora, profile.lora_2) if p)]
    if variant == "talk":
        roots += [f"{WAV2VEC_DIR}/", MULTITALK_FILE]
    found: dict[Source, None] = {}
    for source in SOURCES:
        if any(source.cache_path() == r or source.cache_path().startswith(r) for r in roots):
            found[source] = None
    return list(found)


def fetch_models(variant: Variant, models_dir: Path, log: Logger) -> None:
    """Downloads the variant's files into `models_dir` (files already there with the hub's etag are kept)."""
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError
    except ImportError as e:
        raise WorkerError(f"fetch-models needs huggingface_hub: {e}") from None
    groups: dict[tuple[str, str, str], list[str]] = {}
    for source in sources(variant):
        groups.setdefault((source.repo, source.revision, source.into), []).append(source.pattern)
    for (repo, revision, into), patterns in groups.items():
        target = models_dir / into
        started = time.perf_counter()
        log.info("fetching", repo=repo, revision=revision, files=patterns, into=str(target))
        try:
            if all(not _is_glob(p) for p in patterns):
                for pattern in patterns:
                    hf_hub_download(repo, pattern, revision=revision, local_dir=target)
            else:
                snapshot_download(repo, revision=revision, allow_patterns=patterns, local_dir=target)
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as e:
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise WorkerError(f"fetching {', '.join(patterns)} of {repo}@{revision}: {first}") from e
        log.info("fetched", repo=repo, seconds=round(time.perf_counter() - started, 1))


def _is_glob(pattern: str) -> bool:
    return any(c in pattern for c in "*?[")
