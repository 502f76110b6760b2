"""`python -m longvideo_runtime segment|concat|probe`: the container's entry point.

Inputs come from LV_* environment variables (what the operator sets); an option given on the command line
overrides its variable. Every run ends with a JSON line on stdout and, in a pod, the same compact JSON in the
termination message; the exit code says what kind of failure it was (errors.ExitCode).

Two commands are for people filling a model cache, not for the operator: `check-models --variant V
[--models-dir DIR]` prints one line per problem the probe's model check finds (or `ok: N files`) and exits 0 or 2;
`fetch-models --variant V --models-dir DIR` downloads the variant's files from the Hugging Face Hub
(model_fetch.py), then checks them the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from longvideo_runtime.contract import CONTRACT
from longvideo_runtime.errors import BadInput, ExitCode, HandoffError, OutOfMemory, Terminated, WorkerError
from longvideo_runtime.logs import Logger
from longvideo_runtime.phases import PhaseClock, process_started
from longvideo_runtime.spec import DEFAULT_TERMINATION_LOG, MODELS_DIR
from longvideo_runtime.variants import VARIANTS, Variant

MAX_TERMINATION_BYTES = CONTRACT.termination_message.max_bytes
#: When this module was imported: a segment's start where /proc cannot tell the process's (phases.py).
STARTED = time.time()

# (option, variable) pairs: each option overrides the LV_* variable of the same meaning.
SEGMENT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("--index", "LV_SEGMENT_INDEX"),
    ("--segment-hash", "LV_SEGMENT_HASH"),
    ("--segment-count", "LV_SEGMENT_COUNT"),
    ("--scene", "LV_SCENE_INDEX"),
    ("--prompt", "LV_PROMPT"),
    ("--negative-prompt", "LV_NEGATIVE_PROMPT"),
    ("--seed", "LV_SEED"),
    ("--frames", "LV_FRAMES"),
    ("--motion-frames", "LV_MOTION_FRAMES"),
    ("--trim-head", "LV_TRIM_HEAD"),
    ("--trim-tail", "LV_TRIM_TAIL"),
    ("--kept-frames", "LV_KEPT_FRAMES"),
    ("--input-digest", "LV_INPUT_DIGEST"),
    ("--input-from", "LV_INPUT_FROM"),
    ("--wait-seconds", "LV_WAIT_SECONDS"),
    ("--workspace", "LV_WORKSPACE"),
    ("--backend", "LV_BACKEND"),
    ("--variant", "LV_VARIANT"),
    ("--padding", "LV_PADDING"),
    ("--fps", "LV_FPS"),
    ("--width", "LV_WIDTH"),
    ("--height", "LV_HEIGHT"),
    ("--steps", "LV_STEPS"),
    ("--guidance-scale", "LV_GUIDANCE_SCALE"),
    ("--shift", "LV_SHIFT"),
    ("--boundary-ratio", "LV_BOUNDARY_RATIO"),
    ("--reference-image", "LV_REFERENCE_IMAGE"),
    ("--reference-image-path", "LV_REFERENCE_IMAGE_PATH"),
    ("--reference-dir", "LV_REFERENCE_DIR"),
    ("--models-dir", "LV_MODELS_DIR"),
    ("--model", "LV_MODEL"),
    ("--lora", "LV_LORA"),
    ("--lora-2", "LV_LORA_2"),
    ("--lora-scale", "LV_LORA_SCALE"),
    ("--device", "LV_DEVICE"),
    ("--gpu-count", "LV_GPU_COUNT"),
    ("--dtype", "LV_DTYPE"),
    ("--offload-encoders", "LV_OFFLOAD_ENCODERS"),
    ("--vae-tiling", "LV_VAE_TILING"),
    ("--attempt", "LV_ATTEMPT"),
    ("--audio-source", "LV_AUDIO"),
    ("--audio-window", "LV_AUDIO_WINDOW"),
    ("--audio-dir", "LV_AUDIO_DIR"),
    ("--pose-source", "LV_POSE"),
    ("--pose-window", "LV_POSE_WINDOW"),
    ("--pose-dir", "LV_POSE_DIR"),
    ("--audio-guidance-scale", "LV_AUDIO_GUIDANCE_SCALE"),
)
CONCAT_OPTIONS: tuple[tuple[str, str], ...] = (
    ("--workspace", "LV_WORKSPACE"),
    ("--segment-count", "LV_SEGMENT_COUNT"),
    ("--final-digest", "LV_FINAL_DIGEST"),
    ("--output", "LV_OUTPUT_PATH"),
    ("--expected-frames", "LV_EXPECTED_FRAMES"),
    ("--fps", "LV_FPS"),
    ("--audio", "LV_AUDIO_PATH"),
    ("--audio-source", "LV_AUDIO"),
    ("--audio-window", "LV_AUDIO_WINDOW"),
    ("--audio-dir", "LV_AUDIO_DIR"),
)
PROBE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("--workspace", "LV_WORKSPACE"),
    ("--check-models", "LV_CHECK_MODELS"),
    ("--models-dir", "LV_MODELS_DIR"),
    ("--audio-source", "LV_AUDIO"),
    ("--audio-dir", "LV_AUDIO_DIR"),
    ("--pose-source", "LV_POSE"),
    ("--pose-dir", "LV_POSE_DIR"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise BadInput(f"usage: {message}")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="longvideo_runtime", description=__doc__)
    parser.add_argument(
        "--termination-log",
        help=f"where the short JSON result goes (env LV_TERMINATION_LOG, default {DEFAULT_TERMINATION_LOG})",
    )
    parser.add_argument("--log-level", default=os.environ.get("LV_LOG_LEVEL", "info"))
    commands = parser.add_subparsers(dest="command", required=True)
    segment = commands.add_parser(
        "segment", help="render one segment into <workspace>/segments/<index>/<key>-<attempt>/"
    )
    for option, variable in SEGMENT_OPTIONS:
        segment.add_argument(option, dest=variable, metavar="VALUE", help=f"overrides {variable}")
    concat = commands.add_parser(
        "concat", help="concatenate the clips of the chains of hand-offs ending as LV_FINAL_DIGEST says into the film"
    )
    for option, variable in CONCAT_OPTIONS:
        concat.add_argument(option, dest=variable, metavar="VALUE", help=f"overrides {variable}")
    probe = commands.add_parser(
        "probe", help="report the duration of the film's audio and skeleton video; check the model cache"
    )
    for option, variable in PROBE_OPTIONS:
        probe.add_argument(option, dest=variable, metavar="VALUE", help=f"overrides {variable}")
    check = commands.add_parser(
        "check-models", help="print each problem of a model cache for a variant (or `ok: N files`); exit 0 or 2"
    )
    fetch = commands.add_parser(
        "fetch-models", help="download a variant's model files from the Hugging Face Hub into a model cache, then check"
    )
    for command in (check, fetch):
        command.add_argument("--variant", required=True, choices=VARIANTS)
        command.add_argument(
            "--models-dir", default=None, help=f"the model cache (default: LV_MODELS_DIR or {MODELS_DIR})"
        )
    return parser


def _check_models(variant: Variant, models_dir: Path, log: Logger) -> int:
    """Prints the check's problems, one a line, or `ok: N files`; the exit code (0, or 2 for bad input)."""
    from longvideo_runtime.model_cache_check import check_model_cache

    report = check_model_cache(models_dir, variant)
    log.info("models-checked", variant=variant, files=len(report.files), seconds=round(report.seconds, 3))
    for problem in report.problems:
        sys.stdout.write(f"{problem.file}: {problem.problem}\n")
    if report.ok:
        sys.stdout.write(f"ok: {len(report.files)} files\n")
    sys.stdout.flush()
    return int(ExitCode.OK if report.ok else ExitCode.BAD_INPUT)


def _termination_path(option: str | None) -> Path | None:
    """The explicit path, or the default only where Kubernetes created it (never a new file under /dev)."""
    explicit = option or os.environ.get("LV_TERMINATION_LOG")
    if explicit:
        return Path(explicit)
    default = Path(DEFAULT_TERMINATION_LOG)
    return default if default.exists() else None


def compact(message: dict[str, Any]) -> str:
    """JSON under the termination message's limit (Kubernetes keeps 4096 bytes): long strings are cut first."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    if len(text.encode()) <= MAX_TERMINATION_BYTES:
        return text
    trimmed = {k: (v[:300] + "…" if isinstance(v, str) and len(v) > 300 else v) for k, v in message.items()}
    text = json.dumps(trimmed, separators=(",", ":"), ensure_ascii=False)
    return text.encode()[:MAX_TERMINATION_BYTES].decode(errors="ignore")


def fitting(message: dict[str, Any], problems: list[dict[str, str]]) -> list[dict[str, str]]:
    """The first of `problems` (each cut short) that `message` can carry within the termination message's limit."""
    kept: list[dict[str, str]] = []
    for problem in problems:
        item = {"file": _cut(problem["file"], 200), "problem": _cut(problem["problem"], 300)}
        trial = json.dumps({**message, "modelProblems": [*kept, item]}, separators=(",", ":"), ensure_ascii=False)
        if len(trial.encode()) > MAX_TERMINATION_BYTES:
            break
        kept.append(item)
    return kept


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _report(path: Path | None, message: dict[str, Any], log: Logger) -> None:
    _report_text(path, compact(message), log)


def _report_text(path: Path | None, text: str, log: Logger) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    if path is None:
        return
    try:
        path.write_text(text)
    except OSError as e:
        log.warning("termination-log-unwritable", path=str(path), error=str(e))


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Terminated("stopped by SIGTERM before the segment finished")


def _classify(error: BaseException) -> WorkerError:
    if isinstance(error, WorkerError):
        return error
    if isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError":
        return OutOfMemory(f"out of memory: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
    text = str(error)
    if isinstance(error, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text):
        return OutOfMemory(f"out of memory: {text.splitlines()[0]}")
    return WorkerError(f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".strip())


def main(argv: Sequence[str] | None = None) -> int:
    log = Logger(level=os.environ.get("LV_LOG_LEVEL", "info"))
    termination = _termination_path(None)
    base: dict[str, Any] = {}
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
        args = _parser().parse_args(argv)
        log = Logger(level=args.log_level)
        termination = _termination_path(args.termination_log)
        overrides = {k: v for k, v in vars(args).items() if k.startswith("LV_")}
        if args.command == "segment":
            from longvideo_runtime.segment import run_segment, summary
            from longvideo_runtime.spec import parse_segment

            base = {
                "segment": _int_or_none(overrides.get("LV_SEGMENT_INDEX") or os.environ.get("LV_SEGMENT_INDEX")),
                "inputDigest": overrides.get("LV_INPUT_DIGEST") or os.environ.get("LV_INPUT_DIGEST", ""),
                "backend": overrides.get("LV_BACKEND") or os.environ.get("LV_BACKEND", "svi"),
            }
            from longvideo_runtime.svi import launcher

            spec = parse_segment(os.environ, overrides)
            if launcher.wanted(spec):
                outcome = launcher.launch(spec, overrides, args.log_level, log)
                # A failing rank's message has the fields every failure starts with; one made up for it has not.
                known = {k: v for k, v in base.items() if v not in (None, "")}
                text = outcome.text if outcome.text is not None else compact({**known, **(outcome.message or {})})
                _report_text(termination, text, log)
                return outcome.code
            rank = launcher.launched_rank() if spec.svi.gpu_count > 1 else None
            # A rank's start is the launcher's (its parent): the pod's first process.
            clock = PhaseClock(process_started(os.getppid() if rank is not None else None) or STARTED)
            if rank is not None:
                log = log.bind(rank=rank[0])
                if rank[0] > 0:
                    from longvideo_runtime.svi.parallel_render import serve

                    serve(spec, log)
                    return ExitCode.OK
            _report(termination, summary(run_segment(spec, log, clock=clock)), log)
        elif args.command in ("check-models", "fetch-models"):
            models_dir = Path(args.models_dir or os.environ.get("LV_MODELS_DIR") or MODELS_DIR)
            if args.command == "fetch-models":
                from longvideo_runtime.model_fetch import fetch_models

                fetch_models(args.variant, models_dir, log)
            return _check_models(args.variant, models_dir, log)
        elif args.command == "probe":
            from longvideo_runtime.probe import run_probe
            from longvideo_runtime.spec import parse_probe

            base = {"kind": "probe"}
            _report(termination, run_probe(parse_probe(os.environ, overrides), log), log)
        else:
            from longvideo_runtime.concat import run_concat
            from longvideo_runtime.spec import parse_concat

            base = {"kind": "concat"}
            _report(termination, run_concat(parse_concat(os.environ, overrides), log), log)
        return ExitCode.OK
    except BaseException as raw:
        if isinstance(raw, KeyboardInterrupt):
            raw = Terminated("interrupted")
        if isinstance(raw, SystemExit):
            raise
        error = _classify(raw)
        if error.code == ExitCode.INTERNAL:
            log.error("internal-error", error=error.message, traceback=traceback.format_exc()[-3000:])
        else:
            log.error(error.kind, error=error.message)
        message = {**{k: v for k, v in base.items() if v not in (None, "")}, "ok": False}
        message.update({"exitCode": int(error.code), "reason": error.kind, "error": error.message})
        if isinstance(error, HandoffError):
            # Where the operator renders again from: the first segment whose hand-off or clip is gone.
            message["missingSegment"] = error.missing_segment
        field = getattr(error, "field", None)
        if isinstance(field, str):
            # An audio track, skeleton video or model cache that cannot be read: the spec field the film names.
            message["field"] = field
        problems = getattr(error, "model_problems", None)
        if isinstance(problems, list):
            message["modelProblems"] = fitting(message, problems)
        _report(termination, message, log)
        return int(error.code)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
