"""The segment and concat contracts: read from LV_* environment variables, overridable by CLI options.

Every field is validated here, so a render never starts from a spec it would fail on later (exit code 2).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, cast

from longvideo_runtime import workspace_layout
from longvideo_runtime.contract import CONTRACT, BackendName, Padding
from longvideo_runtime.errors import BadInput
from longvideo_runtime.guarded_fetch import FetchPolicy, parse_policy
from longvideo_runtime.variants import (
    FRAMES_PER_LATENT,
    PADDINGS,
    PROFILES,
    VARIANTS,
    Variant,
    latent_frames,
    overlap_frames,
)

Backend = BackendName
BACKENDS: tuple[Backend, ...] = CONTRACT.backends
#: Where the operator mounts the workspace, the model cache and a volume reference image.
WORKSPACE_DIR = CONTRACT.mount_paths.workspace
MODELS_DIR = CONTRACT.mount_paths.models
REFERENCE_DIR = CONTRACT.mount_paths.reference
AUDIO_DIR = CONTRACT.mount_paths.audio
POSE_DIR = CONTRACT.mount_paths.pose
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
#: LV_WAIT_SECONDS when unset.
DEFAULT_WAIT_SECONDS = 3600.0
#: LV_SEGMENT_HASH (the operator's plan hash, 64 hex characters) names a directory: letters, digits, `_` and `-`,
#: not starting with `-`, so it is one safe path component whatever its length.
SEGMENT_HASH = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}")
_T = TypeVar("_T", bound=str)


#: Which of Wan 2.2's experts an extra LoRA is merged into: the high-noise `transformer` or the low-noise
#: `transformer_2`; None merges it into every expert the model has.
LoraExpert = Literal["highNoise", "lowNoise"]
_LORA_EXPERTS: tuple[LoraExpert, ...] = ("highNoise", "lowNoise")
#: As the CRD bounds them (spec.render.loras and each scene's).
_MAX_LORAS = 16
_MAX_STRENGTH = 4.0


@dataclass(frozen=True)
class ExtraLora:
    """A LoRA of LV_LORAS: a style, character or distillation LoRA merged after the variant's own."""

    path: Path
    strength: float
    expert: LoraExpert | None


@dataclass(frozen=True)
class SviSettings:
    """How the svi backend runs: model files and memory options (ignored by the animatic backend)."""

    models_dir: Path
    model: Path
    lora: Path | None
    lora_2: Path | None
    lora_scale: float
    device: str
    dtype: str
    offload_encoders: bool | None
    vae_tiling: bool | None
    shift: float
    boundary_ratio: float
    negative_prompt: str
    extra_loras: tuple[ExtraLora, ...] = ()
    #: Ranks one segment runs on, one per GPU (LV_GPU_COUNT): how it runs, not what it renders (svi/launcher.py).
    gpu_count: int = 1


#: SegmentSpec fields left out of its fingerprint: where and how it runs, not what it renders.
_NOT_FINGERPRINTED = frozenset(
    {
        "workspace",
        "attempt",
        "svi",
        "reference_dir",
        "reference_image_path",
        "segment_count",
        "fetch_policy",
        "audio_dir",
        "pose_dir",
        # Implied by the index and the input digest (a segment above 0 without one is a chain start, or refused):
        # left out so that segment 0's fingerprint is the same with LV_CHAIN_START=true as without.
        "chain_start",
        # Where a warm attempt waited for its hand-off, and for how long: the digest it consumed (input_digest, once
        # seen) is what it renders from, so a warm result has the fingerprint of the serial one.
        "input_from",
        "wait_seconds",
    }
)


@dataclass(frozen=True)
class ConditioningWindow:
    """The part of an audio track or skeleton video one segment is conditioned on (or concat muxes).

    Frames are counted on the input's own timeline at the film's fps: frame n of an audio track starts at n / fps
    seconds; frame n of a skeleton video is its n-th decoded frame.
    """

    #: The spec's JSON source, same shape as LV_REFERENCE_IMAGE ({"configMap": ..} | {"pvc": ..} | {"url": ..}).
    source: str
    #: First frame of the window: for Talk audio SVI's `i * frames - motion_frames` (0 for clip 0) plus the offset.
    start_frame: int
    #: Frames the window covers (the clip's generated frames; for concat the film's).
    frames: int
    #: Dance pose: indices wrap around the video's length. Audio: False (past the end is silence).
    loop: bool


def parse_window(name: str, raw: str, source: str, *, with_loop: bool) -> ConditioningWindow:
    """`start:frames` (audio) or `start:frames:loop` (pose) from LV_AUDIO_WINDOW / LV_POSE_WINDOW."""
    parts = raw.strip().split(":")
    shape = "start:frames:loop" if with_loop else "start:frames"
    if len(parts) != (3 if with_loop else 2):
        raise BadInput(f"{name} must be {shape}, got {raw[:80]!r}")
    try:
        start, frames = int(parts[0]), int(parts[1])
    except ValueError:
        raise BadInput(f"{name} must be {shape} with integers, got {raw[:80]!r}") from None
    if frames < 1:
        raise BadInput(f"{name} must cover at least one frame, got {raw[:80]!r}")
    loop = False
    if with_loop:
        if parts[2] not in ("true", "false"):
            raise BadInput(f"{name}'s loop must be true or false, got {parts[2][:20]!r}")
        loop = parts[2] == "true"
    if start < 0 and loop:
        raise BadInput(f"{name} starts before the video's first frame: {start}")
    return ConditioningWindow(source=source, start_frame=start, frames=frames, loop=loop)


def _source_json(name: str, raw: str) -> str:
    """The source as given, once it is known to be a JSON object naming exactly one of configMap, pvc, url."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as e:
        raise BadInput(f"{name} is not JSON: {e}") from None
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in ("configMap", "pvc", "url"):
        raise BadInput(f"{name} must name exactly one of configMap, pvc, url")
    return raw


def _window(src: _Source, source_name: str, window_name: str, *, with_loop: bool) -> ConditioningWindow | None:
    raw_source = src.get(source_name)
    raw_window = src.get(window_name)
    if not raw_source:
        if raw_window:
            raise BadInput(f"{window_name} is set but {source_name} is not")
        return None
    if not raw_window:
        raise BadInput(f"{source_name} is set but {window_name} is not")
    return parse_window(window_name, raw_window, _source_json(source_name, raw_source), with_loop=with_loop)


@dataclass(frozen=True)
class SegmentSpec:
    index: int
    #: The operator's plan hash of the segment: with `input_digest` and `attempt`, it names the directory this attempt
    #: writes.
    segment_hash: str
    scene: int
    segment_count: int | None
    prompt: str
    seed: int
    frames: int
    motion_frames: int
    trim_head: int
    trim_tail: int
    input_digest: str
    workspace: Path
    backend: Backend
    variant: Variant
    padding: Padding
    fps: int
    width: int
    height: int
    steps: int
    guidance_scale: float
    reference_image: str
    reference_image_path: Path | None
    reference_dir: Path
    attempt: int
    svi: SviSettings = field(compare=False)
    #: Where a url reference image may be fetched from (LV_FETCH_POLICY): how, not what, so not in the fingerprint.
    fetch_policy: FetchPolicy = field(compare=False)
    #: Talk: the audio window this clip speaks (LV_AUDIO, LV_AUDIO_WINDOW); None for the other variants.
    audio: ConditioningWindow | None = None
    #: Dance: the skeleton frames this clip follows (LV_POSE, LV_POSE_WINDOW); None for the other variants.
    pose: ConditioningWindow | None = None
    #: Talk's audio guidance (LV_AUDIO_GUIDANCE_SCALE); 1.0 is no audio pass.
    audio_guidance_scale: float = 1.0
    #: Where a configMap or pvc audio / pose source is mounted.
    audio_dir: Path = Path(AUDIO_DIR)
    pose_dir: Path = Path(POSE_DIR)
    #: LV_CHAIN_START: a later chain's first segment (a keyframed scene's first clip), above index 0.
    chain_start: bool = False
    #: LV_INPUT_FROM: a warm attempt's predecessor attempt directory, relative to the workspace (ADR 0026); "" when
    #: serial. A warm spec's input_digest is "" until the worker has seen the committed hand-off.
    input_from: str = ""
    #: LV_WAIT_SECONDS: how long a warm attempt waits for that commit once its models are loaded.
    wait_seconds: float = DEFAULT_WAIT_SECONDS

    @property
    def warm(self) -> bool:
        return bool(self.input_from)

    @property
    def starts_chain(self) -> bool:
        """Segment 0 or a later chain's start: it begins from LV_REFERENCE_IMAGE and consumes no hand-off."""
        return self.index == 0 or self.chain_start

    @property
    def kept_frames(self) -> int:
        return self.frames - self.trim_head - self.trim_tail

    @property
    def protocol(self) -> Literal["pixel", "latent"]:
        return PROFILES[self.variant].protocol

    @property
    def attempt_input(self) -> str:
        """What the attempt key is made of besides the plan hash: the input digest, or for a warm attempt
        `from:<LV_INPUT_FROM>` (the digest does not exist when the operator names the attempt)."""
        return f"from:{self.input_from}" if self.input_from else self.input_digest

    @property
    def attempt_key(self) -> str:
        """The key of the plan hash and the input, shared by every attempt at this segment and input."""
        return workspace_layout.attempt_key(self.segment_hash, self.attempt_input)

    @property
    def attempt_dir(self) -> Path:
        """The directory this attempt writes, and no other pod does: `segments/<i>/<key>-<attempt>/`."""
        return workspace_layout.attempt_dir(
            self.workspace, self.index, self.segment_hash, self.attempt_input, self.attempt
        )

    @property
    def predecessor_dir(self) -> Path:
        """A warm attempt's predecessor attempt directory (LV_INPUT_FROM under the workspace)."""
        return self.workspace / self.input_from

    @property
    def segment_dir(self) -> Path:
        """Where every attempt at this segment writes its own directory."""
        return workspace_layout.segment_dir(self.workspace, self.index)

    def fingerprint(self) -> str:
        """Digest of everything that determines this segment's output (not where or how fast it runs).

        The plan hash is part of it: a result is reused only for the very segment of the very plan that made it.
        """
        fields = {k: v for k, v in asdict(self).items() if k not in _NOT_FINGERPRINTED}
        fields["models"] = (
            {
                "model": str(self.svi.model),
                "lora": str(self.svi.lora),
                "lora_2": str(self.svi.lora_2),
                "lora_scale": self.svi.lora_scale,
                "shift": self.svi.shift,
                "boundary_ratio": self.svi.boundary_ratio,
                "negative_prompt": self.svi.negative_prompt,
                "extra_loras": [[str(x.path), x.strength, x.expert] for x in self.svi.extra_loras],
            }
            if self.backend == "svi"
            else None
        )
        blob = json.dumps(fields, sort_keys=True, default=str).encode()
        return "sha256:" + hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class ChainEnd:
    """One chain of the film (LV_FINAL_DIGEST): its last segment and the latents digest that segment handed off."""

    last: int
    digest: str


@dataclass(frozen=True)
class ConcatSpec:
    workspace: Path
    segment_count: int
    #: LV_FINAL_DIGEST as the operator gave it: one digest, or `lastIndex:digest,...` for a film of several chains.
    final_digest: str
    #: The film's chains in storyline order, each walked back from its end; the last ends at segment_count - 1.
    chains: tuple[ChainEnd, ...]
    output_path: Path
    expected_frames: int | None
    fps: int
    audio_path: Path | None
    #: The film's audio track to mux (LV_AUDIO, LV_AUDIO_WINDOW: the offset and the film's frames); None without.
    audio: ConditioningWindow | None = None
    audio_dir: Path = Path(AUDIO_DIR)
    fetch_policy: FetchPolicy = field(default_factory=lambda: parse_policy(None), compare=False)

    @property
    def claim_owner(self) -> str:
        """Who this concatenation is, in the output claim: the bare digest for one chain (as a concat that knew only
        that form wrote it, whichever form the operator used), else the chains as `last:digest,...`."""
        if len(self.chains) == 1:
            return self.chains[0].digest
        return ",".join(f"{c.last}:{c.digest}" for c in self.chains)


@dataclass(frozen=True)
class ProbeSpec:
    """What the probe command reads before the operator plans a film: its audio and pose sources (to report their
    durations) and, for an svi film, the model cache (to check the variant's files)."""

    workspace: Path
    #: The spec's JSON sources; None when the film has no such input.
    audio: str | None
    pose: str | None
    audio_dir: Path
    pose_dir: Path
    fetch_policy: FetchPolicy = field(compare=False)
    #: The variant whose model files the cache at models_dir must hold (LV_CHECK_MODELS); None: no check.
    check_models: Variant | None = None
    models_dir: Path = Path(MODELS_DIR)
    #: The film's extra LoRAs (LV_LORAS), checked with the cache.
    extra_loras: tuple[ExtraLora, ...] = ()


class _Source:
    """Values by LV_* name: CLI overrides first, then the environment."""

    def __init__(self, env: Mapping[str, str], overrides: Mapping[str, str | None]) -> None:
        self._env = env
        self._overrides = overrides

    def get(self, name: str) -> str | None:
        value = self._overrides.get(name)
        if value is not None:
            return value
        return self._env.get(name)

    def text(self, name: str, default: str | None = None) -> str:
        value = self.get(name)
        if value is None:
            if default is None:
                raise BadInput(f"{name} is required")
            return default
        return value

    def integer(self, name: str, default: int | None = None, *, minimum: int | None = None) -> int:
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            if default is None:
                raise BadInput(f"{name} is required")
            value = default
        else:
            try:
                value = int(raw.strip())
            except ValueError:
                raise BadInput(f"{name} must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise BadInput(f"{name} must be >= {minimum}, got {value}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise BadInput(f"{name} must be a number, got {raw!r}") from None
        if not math.isfinite(value):
            raise BadInput(f"{name} must be finite, got {raw!r}")
        return value

    def flag(self, name: str) -> bool | None:
        raw = self.get(name)
        if raw is None or raw.strip() in ("", "auto"):
            return None
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise BadInput(f"{name} must be true, false or auto, got {raw!r}")

    def choice(self, name: str, options: tuple[_T, ...], default: _T) -> _T:
        raw = self.get(name)
        value = default if raw is None or raw == "" else raw
        if value not in options:
            raise BadInput(f"{name} must be one of {', '.join(options)}, got {value!r}")
        return cast(_T, value)


#: A latents digest as the worker reports it (fsio.sha256_file).
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def is_digest(value: str) -> bool:
    return _DIGEST.fullmatch(value) is not None


def _extra_loras(text: str, models_dir: Path) -> tuple[ExtraLora, ...]:
    """LV_LORAS: a JSON list of {path, strength, expert?}; every problem named by its place in the list."""
    if not text.strip():
        return ()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadInput(f"LV_LORAS is not JSON: {e}") from None
    if not isinstance(raw, list) or len(raw) > _MAX_LORAS:
        raise BadInput(f"LV_LORAS must be a JSON list of at most {_MAX_LORAS} LoRAs")
    loras: list[ExtraLora] = []
    for i, item in enumerate(raw):
        where = f"LV_LORAS[{i}]"
        if not isinstance(item, dict) or set(item) - {"path", "strength", "expert"}:
            raise BadInput(f"{where} must be an object with path, strength and optionally expert")
        path, strength, expert = item.get("path"), item.get("strength", 1.0), item.get("expert")
        if not isinstance(path, str) or not path.endswith(".safetensors") or ".." in Path(path).parts:
            raise BadInput(f"{where}.path must be a .safetensors file inside the model cache, got {path!r}")
        if isinstance(strength, bool) or not isinstance(strength, int | float) or abs(strength) > _MAX_STRENGTH:
            raise BadInput(f"{where}.strength must be a number from -{_MAX_STRENGTH} to {_MAX_STRENGTH}")
        if expert is not None and expert not in _LORA_EXPERTS:
            raise BadInput(f"{where}.expert must be one of {', '.join(_LORA_EXPERTS)}, got {expert!r}")
        loras.append(ExtraLora(_resolve_model_path(models_dir, path), float(strength), expert))
    return tuple(loras)


def _resolve_model_path(models_dir: Path, value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else models_dir / path


def parse_segment(env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> SegmentSpec:
    src = _Source(env, overrides or {})
    variant = src.choice("LV_VARIANT", VARIANTS, "film")
    profile = PROFILES[variant]
    backend = src.choice("LV_BACKEND", BACKENDS, "svi")
    index = src.integer("LV_SEGMENT_INDEX", minimum=0)
    count_raw = src.get("LV_SEGMENT_COUNT")
    segment_count = src.integer("LV_SEGMENT_COUNT", minimum=1) if count_raw not in (None, "") else None
    if segment_count is not None and index >= segment_count:
        raise BadInput(f"LV_SEGMENT_INDEX {index} is outside the film's {segment_count} segments")

    frames = src.integer("LV_FRAMES", CONTRACT.clip_frames.default, minimum=5)
    if frames % FRAMES_PER_LATENT != 1:
        raise BadInput(f"LV_FRAMES must be 4n+1 (Wan's VAE packs 4 frames per latent frame), got {frames}")
    motion = src.integer("LV_MOTION_FRAMES", profile.motion_frames, minimum=1)
    overlap = overlap_frames(profile, motion)
    if profile.protocol == "pixel" and motion >= frames:
        raise BadInput(f"LV_MOTION_FRAMES {motion} must be fewer than LV_FRAMES {frames}")
    if profile.protocol == "latent" and 1 + motion >= latent_frames(frames):
        raise BadInput(f"LV_MOTION_FRAMES {motion} motion latents leave nothing to generate in {frames} frames")

    chain_start = _chain_start(src.get("LV_CHAIN_START"))
    first = index == 0 or chain_start
    # The worker cannot tell a chain's last segment from its index: the operator sets LV_TRIM_TAIL there.
    last = segment_count is not None and index == segment_count - 1
    head_default = overlap if profile.trim == "head" and not first else 0
    tail_default = overlap if profile.trim == "tail" and not last else 0
    trim_head = src.integer("LV_TRIM_HEAD", head_default, minimum=0)
    trim_tail = src.integer("LV_TRIM_TAIL", tail_default, minimum=0)
    kept = frames - trim_head - trim_tail
    if kept < 1:
        raise BadInput(f"trimming {trim_head}+{trim_tail} of {frames} frames leaves none")
    kept_raw = src.get("LV_KEPT_FRAMES")
    if kept_raw not in (None, "") and src.integer("LV_KEPT_FRAMES") != kept:
        raise BadInput(f"LV_KEPT_FRAMES {kept_raw} != LV_FRAMES {frames} - LV_TRIM_HEAD {trim_head} - {trim_tail}")

    padding = src.choice("LV_PADDING", PADDINGS, profile.padding)
    if (padding == "anchor") != (profile.protocol == "latent"):
        allowed = "anchor" if profile.protocol == "latent" else "reference or zeros"
        raise BadInput(f"LV_PADDING {padding!r} does not fit variant {variant!r} (use {allowed})")

    width = src.integer("LV_WIDTH", 832, minimum=16)
    height = src.integer("LV_HEIGHT", 480, minimum=16)
    for name, value in (("LV_WIDTH", width), ("LV_HEIGHT", height)):
        if value % 16 != 0:
            raise BadInput(f"{name} must be a multiple of 16, got {value}")

    input_digest = src.text("LV_INPUT_DIGEST", "").strip()
    input_from = _input_from(src.text("LV_INPUT_FROM", "").strip(), index, first, input_digest)
    wait_seconds = src.number("LV_WAIT_SECONDS", DEFAULT_WAIT_SECONDS)
    if not (math.isfinite(wait_seconds) and wait_seconds > 0):
        raise BadInput(f"LV_WAIT_SECONDS must be positive (seconds), got {src.get('LV_WAIT_SECONDS')!r}")
    if first and input_digest:
        if index == 0:
            raise BadInput("segment 0 starts from the reference image: LV_INPUT_DIGEST must be empty")
        raise BadInput(
            f"segment {index} starts a chain (LV_CHAIN_START=true) from LV_REFERENCE_IMAGE: "
            "LV_INPUT_DIGEST must be empty"
        )
    if not first and not input_digest and not input_from:
        raise BadInput(
            f"segment {index} continues segment {index - 1}: LV_INPUT_DIGEST is required "
            "(or LV_INPUT_FROM for a warm start; unless LV_CHAIN_START=true makes it a chain's first segment)"
        )
    if input_digest and not is_digest(input_digest):
        raise BadInput(f"LV_INPUT_DIGEST must be sha256:<64 hex>, got {input_digest!r}")
    segment_hash = src.text("LV_SEGMENT_HASH").strip()
    if not SEGMENT_HASH.fullmatch(segment_hash):
        raise BadInput(
            "LV_SEGMENT_HASH must be 1 to 128 letters, digits, '_' or '-' (not first), the operator's plan hash; "
            f"got {segment_hash[:200]!r}"
        )

    prompt = src.text("LV_PROMPT", "")
    if backend == "svi" and not prompt.strip():
        raise BadInput("LV_PROMPT is required by the svi backend")

    models_dir = Path(src.text("LV_MODELS_DIR", MODELS_DIR))
    lora = src.text("LV_LORA", profile.lora)
    lora_2 = src.text("LV_LORA_2", profile.lora_2)
    svi = SviSettings(
        models_dir=models_dir,
        model=_resolve_model_path(models_dir, src.text("LV_MODEL", profile.model)),
        lora=_resolve_model_path(models_dir, lora) if lora else None,
        lora_2=_resolve_model_path(models_dir, lora_2) if lora_2 else None,
        lora_scale=src.number("LV_LORA_SCALE", 1.0),
        device=src.text("LV_DEVICE", "auto"),
        dtype=src.choice("LV_DTYPE", ("auto", "bfloat16", "float16", "float32"), "auto"),
        offload_encoders=src.flag("LV_OFFLOAD_ENCODERS"),
        vae_tiling=src.flag("LV_VAE_TILING"),
        shift=src.number("LV_SHIFT", 5.0),
        boundary_ratio=src.number("LV_BOUNDARY_RATIO", 0.875),
        negative_prompt=src.text("LV_NEGATIVE_PROMPT", ""),
        extra_loras=_extra_loras(src.text("LV_LORAS", ""), models_dir),
        gpu_count=src.integer("LV_GPU_COUNT", 1, minimum=1),
    )
    if not 0.0 < svi.boundary_ratio < 1.0:
        raise BadInput(f"LV_BOUNDARY_RATIO must be in (0, 1), got {svi.boundary_ratio}")

    fps = src.integer("LV_FPS", 16, minimum=1)
    if fps > 120:
        raise BadInput(f"LV_FPS must be <= 120, got {fps}")
    ref_path = src.get("LV_REFERENCE_IMAGE_PATH")
    audio = _window(src, "LV_AUDIO", "LV_AUDIO_WINDOW", with_loop=False)
    pose = _window(src, "LV_POSE", "LV_POSE_WINDOW", with_loop=True)
    conditioning = CONTRACT.variants[variant].conditioning
    if conditioning == "audio" and audio is None:
        raise BadInput(f"variant {variant} speaks an audio track: LV_AUDIO and LV_AUDIO_WINDOW are required")
    if conditioning == "pose" and pose is None:
        raise BadInput(f"variant {variant} follows a skeleton video: LV_POSE and LV_POSE_WINDOW are required")
    if conditioning != "audio" and audio is not None:
        raise BadInput(f"variant {variant} is not conditioned on audio: LV_AUDIO must not be set on its segments")
    if conditioning != "pose" and pose is not None:
        raise BadInput(f"variant {variant} is not conditioned on a pose: LV_POSE must not be set on its segments")
    for window in (audio, pose):
        if window is not None and window.frames != frames:
            raise BadInput(f"a conditioning window covers {window.frames} frames, but the clip has LV_FRAMES {frames}")
    return SegmentSpec(
        index=index,
        segment_hash=segment_hash,
        scene=src.integer("LV_SCENE_INDEX", 0, minimum=0),
        segment_count=segment_count,
        prompt=prompt,
        seed=src.integer("LV_SEED", index * CONTRACT.default_seed_multiplier, minimum=0),
        frames=frames,
        motion_frames=motion,
        trim_head=trim_head,
        trim_tail=trim_tail,
        input_digest=input_digest,
        workspace=Path(src.text("LV_WORKSPACE", WORKSPACE_DIR)),
        backend=backend,
        variant=variant,
        padding=padding,
        fps=fps,
        width=width,
        height=height,
        steps=src.integer("LV_STEPS", 50, minimum=1),
        guidance_scale=src.number("LV_GUIDANCE_SCALE", profile.guidance_scale),
        reference_image=src.text("LV_REFERENCE_IMAGE", ""),
        reference_image_path=Path(ref_path) if ref_path else None,
        reference_dir=Path(src.text("LV_REFERENCE_DIR", REFERENCE_DIR)),
        attempt=src.integer("LV_ATTEMPT", 0, minimum=0),
        svi=svi,
        fetch_policy=parse_policy(src.get("LV_FETCH_POLICY")),
        audio=audio,
        pose=pose,
        audio_guidance_scale=src.number("LV_AUDIO_GUIDANCE_SCALE", CONTRACT.variants[variant].audio_guidance_scale),
        audio_dir=Path(src.text("LV_AUDIO_DIR", AUDIO_DIR)),
        pose_dir=Path(src.text("LV_POSE_DIR", POSE_DIR)),
        chain_start=chain_start,
        input_from=input_from,
        wait_seconds=wait_seconds,
    )


#: LV_INPUT_FROM: `segments/<i-1>/<key>-<attempt>`, each part one plain path component.
_INPUT_FROM = re.compile(r"([^/]+)/(0|[1-9][0-9]*)/([^/]+)")


def _input_from(value: str, index: int, first: bool, input_digest: str) -> str:
    """LV_INPUT_FROM checked strictly: it names a directory the worker reads, so nothing but segment index-1's
    attempt directories under the workspace."""
    if not value:
        return ""
    if input_digest:
        raise BadInput("LV_INPUT_FROM and LV_INPUT_DIGEST are exclusive: a warm start names its predecessor's attempt")
    if first:
        raise BadInput(
            f"segment {index} starts a chain from the reference image: LV_INPUT_FROM must be empty "
            "(it is for a segment that continues its predecessor)"
        )
    want = f"{workspace_layout.SEGMENTS_DIR}/{index - 1}/<key>-<attempt>"
    match = _INPUT_FROM.fullmatch(value)
    name = workspace_layout.parse_attempt_name(match[3]) if match is not None else None
    if (
        match is None
        or match[1] != workspace_layout.SEGMENTS_DIR
        or int(match[2]) != index - 1
        or name is None
        or match[3] in (".", "..")
        or not SEGMENT_HASH.fullmatch(name.key)
    ):
        raise BadInput(f"LV_INPUT_FROM must be {want} (relative to LV_WORKSPACE), got {value[:200]!r}")
    return value


def _chain_start(raw: str | None) -> bool:
    """LV_CHAIN_START: `true` or `false`; unset or empty is false. True at index 0 is allowed: segment 0 starts the
    first chain anyway."""
    value = (raw or "").strip()
    if value not in ("", "true", "false"):
        raise BadInput(f"LV_CHAIN_START must be true or false, got {value[:40]!r}")
    return value == "true"


def parse_concat(env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> ConcatSpec:
    src = _Source(env, overrides or {})
    workspace = Path(src.text("LV_WORKSPACE", WORKSPACE_DIR))
    output = Path(src.text("LV_OUTPUT_PATH", str(workspace_layout.default_film(workspace))))
    if output.suffix.lower() != ".mp4":
        raise BadInput(f"LV_OUTPUT_PATH must end in .mp4, got {str(output)!r}")
    expected_raw = src.get("LV_EXPECTED_FRAMES")
    audio = src.get("LV_AUDIO_PATH")
    audio_path = None
    if audio:
        audio_path = Path(audio) if Path(audio).is_absolute() else workspace / audio
    segment_count = src.integer("LV_SEGMENT_COUNT", minimum=1)
    final_digest = src.text("LV_FINAL_DIGEST").strip()
    return ConcatSpec(
        workspace=workspace,
        segment_count=segment_count,
        final_digest=final_digest,
        chains=_chain_ends(final_digest, segment_count),
        output_path=output if output.is_absolute() else workspace / output,
        expected_frames=src.integer("LV_EXPECTED_FRAMES", minimum=1) if expected_raw not in (None, "") else None,
        fps=src.integer("LV_FPS", 16, minimum=1),
        audio_path=audio_path,
        audio=_window(src, "LV_AUDIO", "LV_AUDIO_WINDOW", with_loop=False),
        audio_dir=Path(src.text("LV_AUDIO_DIR", AUDIO_DIR)),
        fetch_policy=parse_policy(src.get("LV_FETCH_POLICY")),
    )


#: An entry of LV_FINAL_DIGEST's list form: `lastIndex:` before the digest.
_CHAIN_ENTRY = re.compile(r"([0-9]+):(.*)")


def _chain_ends(text: str, segment_count: int) -> tuple[ChainEnd, ...]:
    """LV_FINAL_DIGEST: a bare digest (one chain, ending at the last segment) or `lastIndex:digest,...`, the chains
    in storyline order, their last indices strictly increasing up to LV_SEGMENT_COUNT - 1."""
    if _CHAIN_ENTRY.match(text) is None and "," not in text:
        if not is_digest(text):
            raise BadInput(f"LV_FINAL_DIGEST must be sha256:<64 hex> (the last segment's latents), got {text[:100]!r}")
        return (ChainEnd(segment_count - 1, text),)
    chains: list[ChainEnd] = []
    for number, raw in enumerate(text.split(","), start=1):
        entry = raw.strip()
        where = f"LV_FINAL_DIGEST entry {number} ({entry[:100]!r})"
        match = _CHAIN_ENTRY.fullmatch(entry)
        if match is None or not is_digest(match[2]):
            raise BadInput(f"{where} must be lastIndex:sha256:<64 hex>, one per chain, separated by commas")
        last = int(match[1])
        if chains and last <= chains[-1].last:
            raise BadInput(
                f"{where} ends at segment {last}, not after the previous chain's last segment {chains[-1].last}: "
                "the chains are listed in storyline order"
            )
        chains.append(ChainEnd(last, match[2]))
    if chains[-1].last != segment_count - 1:
        raise BadInput(
            f"LV_FINAL_DIGEST's last entry ends at segment {chains[-1].last}, but the film's last segment is "
            f"{segment_count - 1} (LV_SEGMENT_COUNT {segment_count})"
        )
    return tuple(chains)


def parse_probe(env: Mapping[str, str], overrides: Mapping[str, str | None] | None = None) -> ProbeSpec:
    src = _Source(env, overrides or {})
    audio = src.get("LV_AUDIO") or None
    pose = src.get("LV_POSE") or None
    check = src.get("LV_CHECK_MODELS") or None
    if audio is None and pose is None and check is None:
        raise BadInput("the probe reads LV_AUDIO, LV_POSE or LV_CHECK_MODELS, and none is set")
    if check is not None and check not in VARIANTS:
        raise BadInput(f"LV_CHECK_MODELS must be one of {', '.join(VARIANTS)}, got {check!r}")
    models_dir = Path(src.text("LV_MODELS_DIR", MODELS_DIR))
    return ProbeSpec(
        workspace=Path(src.text("LV_WORKSPACE", WORKSPACE_DIR)),
        audio=_source_json("LV_AUDIO", audio) if audio else None,
        pose=_source_json("LV_POSE", pose) if pose else None,
        audio_dir=Path(src.text("LV_AUDIO_DIR", AUDIO_DIR)),
        pose_dir=Path(src.text("LV_POSE_DIR", POSE_DIR)),
        fetch_policy=parse_policy(src.get("LV_FETCH_POLICY")),
        check_models=cast(Variant, check) if check is not None else None,
        models_dir=models_dir,
        extra_loras=_extra_loras(src.text("LV_LORAS", ""), models_dir),
    )
