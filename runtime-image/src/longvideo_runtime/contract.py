"""The operator <-> runtime contract, read from `contract.json` beside this module.

`contract.json` is generated from the operator's `src/api/runtime-contract.ts` (`node scripts/generate.ts`, checked
for staleness with `--check`); never edit it by hand. It holds what both sides must agree on: the LV_* variables,
the mount paths, exit codes and failure reasons, the workspace layout, the termination message's fields, the
reference fetch's limits, the backends and the variant profiles. The worker derives its own constants from it
(variants.py, errors.py, workspace_layout.py, spec.py, backends.py, guarded_fetch.py) instead of mirroring them,
and its tests check it against the source.

A file of another `version` is refused, as is one missing a field or holding a value this worker does not know
(a variant, a backend, a motion unit): the worker then fails to start rather than render by other rules. Fields
the worker does not read are ignored, so the contract can be extended within a version.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

#: The only contract version this worker reads (runtimeContractVersion in runtime-contract.ts).
VERSION = "longvideo.dev/runtime-contract/v1"
#: The contract's file name in this package.
FILE = "contract.json"

Command = Literal["segment", "concat", "probe"]
Setter = Literal["operator", "input", "option", "tuning"]
BackendName = Literal["svi", "animatic"]
VariantName = Literal["shot", "film", "pro", "talk", "dance"]
MotionUnit = Literal["pixel", "latent"]
Padding = Literal["reference", "zeros", "anchor"]
Trim = Literal["head", "tail", "none"]
Conditioning = Literal["text", "audio", "pose"]

_D = TypeVar("_D", bound="DataclassInstance")
_S = TypeVar("_S", bound=str)


class ContractError(Exception):
    """contract.json is missing, of another version, or holds something this worker does not understand."""


@dataclass(frozen=True)
class EnvVar:
    name: str
    #: The commands whose pods get the variable (operator) or whose worker reads it (tuning).
    commands: tuple[Command, ...]
    #: operator: set on every pod of those commands; input: set on those pods of films with the input (audio, pose);
    #: tuning: set by a person tuning or debugging a pod.
    set_by: Setter
    description: str


@dataclass(frozen=True)
class MountPaths:
    workspace: str
    models: str
    reference: str
    audio: str
    pose: str
    scratch: str


@dataclass(frozen=True)
class ExitCodes:
    ok: int
    internal: int
    bad_input: int
    handoff: int
    out_of_memory: int
    workspace: int
    #: A warm segment's predecessor committed no hand-off within LV_WAIT_SECONDS (ADR 0026).
    waited: int
    terminated: int


@dataclass(frozen=True)
class FailureReasons:
    """The `reason` reported beside each failing exit code (same field names as ExitCodes, less `ok`)."""

    internal: str
    bad_input: str
    handoff: str
    out_of_memory: str
    workspace: str
    waited: str
    terminated: str


@dataclass(frozen=True)
class WorkspaceLayout:
    segments_dir: str
    #: Hex characters of the attempt key (sha256 of `<LV_SEGMENT_HASH>|<LV_INPUT_DIGEST>`) in the name of an attempt
    #: directory, `<key>-<attempt>`.
    attempt_key_chars: int
    clip: str
    poster: str
    result: str
    handoff: str
    #: Written atomically right after the hand-off: `{"latentsDigest", "committedAt"}` (ADR 0026).
    handoff_commit: str
    temporary_mark: str


@dataclass(frozen=True)
class TerminationMessage:
    max_bytes: int
    #: The fields each outcome's message may carry.
    segment: tuple[str, ...]
    concat: tuple[str, ...]
    probe: tuple[str, ...]
    failure: tuple[str, ...]


@dataclass(frozen=True)
class ReferenceFetch:
    """Fetching a url reference image: the limits LV_FETCH_POLICY may leave out, and the redirects followed."""

    max_bytes: int
    timeout_seconds: float
    max_redirects: int


@dataclass(frozen=True)
class ClipFrames:
    min: int
    max: int
    default: int


@dataclass(frozen=True)
class Weights:
    """Default weight paths under the model cache."""

    model: str
    lora: str
    lora_2: str


@dataclass(frozen=True)
class VariantFacts:
    motion_frames: int
    motion_unit: MotionUnit
    padding: Padding
    guidance_scale: float
    trim: Trim
    max_scenes: int
    weights: Weights
    conditioning: Conditioning
    audio_guidance_scale: float
    fps: int


@dataclass(frozen=True)
class Contract:
    version: str
    mount_paths: MountPaths
    commands: tuple[Command, ...]
    env: Mapping[str, EnvVar]
    exit_codes: ExitCodes
    failure_reasons: FailureReasons
    workspace_layout: WorkspaceLayout
    termination_message: TerminationMessage
    reference_fetch: ReferenceFetch
    backends: tuple[BackendName, ...]
    frames_per_latent: int
    clip_frames: ClipFrames
    default_seed_multiplier: int
    variants: Mapping[VariantName, VariantFacts]

    def env_names(self, command: Command, set_by: Setter | None = None) -> frozenset[str]:
        """The variables of a command, optionally only those one setter sets."""
        return frozenset(
            v.name for v in self.env.values() if command in v.commands and (set_by is None or v.set_by == set_by)
        )


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class _Node:
    """A value of the parsed JSON with its path, for errors that name the field."""

    def __init__(self, value: object, where: str) -> None:
        self.value = value
        self.where = where

    def _fail(self, expected: str) -> ContractError:
        return ContractError(f"{FILE}: {self.where} must be {expected}, got {json.dumps(self.value)[:80]}")

    def field(self, key: str) -> _Node:
        if not isinstance(self.value, dict):
            raise self._fail("an object")
        if key not in self.value:
            raise ContractError(f"{FILE}: {self.where}.{key} is missing")
        return _Node(self.value[key], f"{self.where}.{key}")

    def entries(self) -> list[tuple[str, _Node]]:
        if not isinstance(self.value, dict) or not self.value:
            raise self._fail("a non-empty object")
        return [(str(k), _Node(v, f"{self.where}.{k}")) for k, v in self.value.items()]

    def elements(self) -> list[_Node]:
        if not isinstance(self.value, list):
            raise self._fail("a list")
        return [_Node(v, f"{self.where}[{i}]") for i, v in enumerate(self.value)]

    def text(self) -> str:
        if not isinstance(self.value, str):
            raise self._fail("a string")
        return self.value

    def integer(self) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self._fail("an integer")
        return self.value

    def number(self) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, int | float):
            raise self._fail("a number")
        return float(self.value)

    def choice(self, options: tuple[_S, ...]) -> _S:
        for option in options:
            if self.value == option:
                return option
        raise self._fail(f"one of {', '.join(options)} (the values this worker knows)")

    def texts(self) -> tuple[str, ...]:
        values = tuple(e.text() for e in self.elements())
        if len(set(values)) != len(values):
            raise self._fail("a list without duplicates")
        return values

    def choices(self, options: tuple[_S, ...]) -> tuple[_S, ...]:
        values = tuple(e.choice(options) for e in self.elements())
        if not values or len(set(values)) != len(values):
            raise self._fail("a non-empty list without duplicates")
        return values

    def record(self, cls: type[_D], read: Callable[[_Node], Any]) -> _D:
        """A flat dataclass whose fields all read the same way, from the camelCase keys of this object."""
        return cls(**{f.name: read(self.field(_camel(f.name))) for f in fields(cls)})


_COMMANDS: tuple[Command, ...] = get_args(Command)
_SETTERS: tuple[Setter, ...] = get_args(Setter)
_BACKENDS: tuple[BackendName, ...] = get_args(BackendName)
_VARIANTS: tuple[VariantName, ...] = get_args(VariantName)
_MOTION_UNITS: tuple[MotionUnit, ...] = get_args(MotionUnit)
_PADDINGS: tuple[Padding, ...] = get_args(Padding)
_TRIMS: tuple[Trim, ...] = get_args(Trim)
_CONDITIONINGS: tuple[Conditioning, ...] = get_args(Conditioning)
#: The attempt key is cut from a sha256 in hex.
_SHA256_HEX_CHARS = 64


def _env_var(name: str, node: _Node) -> EnvVar:
    if not name.startswith("LV_"):
        raise ContractError(f"{FILE}: {node.where}: variable names start with LV_")
    return EnvVar(
        name=name,
        commands=node.field("commands").choices(_COMMANDS),
        set_by=node.field("setBy").choice(_SETTERS),
        description=node.field("description").text(),
    )


def _variant(node: _Node) -> VariantFacts:
    return VariantFacts(
        motion_frames=node.field("motionFrames").integer(),
        motion_unit=node.field("motionUnit").choice(_MOTION_UNITS),
        padding=node.field("padding").choice(_PADDINGS),
        guidance_scale=node.field("guidanceScale").number(),
        trim=node.field("trim").choice(_TRIMS),
        max_scenes=node.field("maxScenes").integer(),
        weights=node.field("weights").record(Weights, _Node.text),
        conditioning=node.field("conditioning").choice(_CONDITIONINGS),
        audio_guidance_scale=node.field("audioGuidanceScale").number(),
        fps=node.field("fps").integer(),
    )


def _workspace_layout(node: _Node) -> WorkspaceLayout:
    chars = node.field("attemptKeyChars")
    if not 1 <= chars.integer() <= _SHA256_HEX_CHARS:
        raise chars._fail(f"from 1 to {_SHA256_HEX_CHARS} (hex characters of a sha256)")
    return WorkspaceLayout(
        segments_dir=node.field("segmentsDir").text(),
        attempt_key_chars=chars.integer(),
        clip=node.field("clip").text(),
        poster=node.field("poster").text(),
        result=node.field("result").text(),
        handoff=node.field("handoff").text(),
        handoff_commit=node.field("handoffCommit").text(),
        temporary_mark=node.field("temporaryMark").text(),
    )


def parse(data: object) -> Contract:
    """The contract from contract.json's parsed content; ContractError names what is wrong."""
    root = _Node(data, "contract")
    version = root.field("version").text()
    if version != VERSION:
        raise ContractError(
            f"{FILE} is contract version {version!r}, but this worker reads only {VERSION!r}: the operator and the "
            "runtime image come from different releases (upgrade the runtime image with the operator)"
        )
    message = root.field("terminationMessage")
    fetch = root.field("referenceFetch")
    exit_codes = root.field("exitCodes").record(ExitCodes, _Node.integer)
    failure_reasons = root.field("failureReasons").record(FailureReasons, _Node.text)
    codes = [getattr(exit_codes, f.name) for f in fields(ExitCodes)]
    reasons = [getattr(failure_reasons, f.name) for f in fields(FailureReasons)]
    if len(set(codes)) != len(codes) or len(set(reasons)) != len(reasons):
        raise ContractError(f"{FILE}: exit codes and failure reasons must be distinct")
    variants: dict[VariantName, VariantFacts] = {}
    for name, node in root.field("variants").entries():
        variants[_Node(name, f"{node.where} (name)").choice(_VARIANTS)] = _variant(node)
    return Contract(
        version=version,
        mount_paths=root.field("mountPaths").record(MountPaths, _Node.text),
        commands=root.field("commands").choices(_COMMANDS),
        env=MappingProxyType({name: _env_var(name, node) for name, node in root.field("env").entries()}),
        exit_codes=exit_codes,
        failure_reasons=failure_reasons,
        workspace_layout=_workspace_layout(root.field("workspaceLayout")),
        termination_message=TerminationMessage(
            max_bytes=message.field("maxBytes").integer(),
            segment=message.field("segment").texts(),
            concat=message.field("concat").texts(),
            probe=message.field("probe").texts(),
            failure=message.field("failure").texts(),
        ),
        reference_fetch=ReferenceFetch(
            max_bytes=fetch.field("maxBytes").integer(),
            timeout_seconds=fetch.field("timeoutSeconds").number(),
            max_redirects=fetch.field("maxRedirects").integer(),
        ),
        backends=root.field("backends").choices(_BACKENDS),
        frames_per_latent=root.field("framesPerLatent").integer(),
        clip_frames=root.field("clipFrames").record(ClipFrames, _Node.integer),
        default_seed_multiplier=root.field("defaultSeedMultiplier").integer(),
        variants=MappingProxyType(variants),
    )


def load(path: Path | None = None) -> Contract:
    """The contract in `path`, by default the package's own contract.json."""
    try:
        if path is None:
            text = resources.files(__name__.rpartition(".")[0]).joinpath(FILE).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ContractError(f"cannot read the runtime contract {path or FILE}: {e}") from e
    try:
        data = json.loads(text)
    except ValueError as e:
        raise ContractError(f"{path or FILE} is not JSON: {e}") from e
    return parse(data)


#: The contract this worker was built with.
CONTRACT = load()
