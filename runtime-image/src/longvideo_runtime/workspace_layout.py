"""Where everything lives in a film's workspace: the runtime contract's workspaceLayout, as paths.

    <workspace>/segments/<i>/<key>-<attempt>/      one attempt at segment i (the attempt key, LV_ATTEMPT):
                                                   clip.mp4, poster.png, latents.safetensors,
                                                   handoff.json (right after the latents: they are committed,
                                                   a warm successor may take them, ADR 0026),
                                                   result.json (written last: the directory is complete)
                                                   and for talk and dance conditioning.png
    <workspace>/inputs/reference-<hash>            a url reference image, fetched once (the worker's own)
    <workspace>/inputs/<audio|pose>-<hash>         a url audio track or skeleton video, fetched once

The attempt key is the first 16 (attemptKeyChars) hex characters of the sha256 of the UTF-8 text
`<LV_SEGMENT_HASH>|<LV_INPUT_DIGEST>` (the input digest is empty for a chain's start; a warm attempt's is
`from:<LV_INPUT_FROM>`): the operator numbers attempts per segment, plan hash and input digest, so after segment i-1
is rendered again with a new digest, segment i starts again at attempt 0 under the same plan hash, while the earlier
attempt 0's pod may still run; the input digest in the key keeps the two apart. Each attempt writes only its own
directory, so no two pods write the same files; a reader finds a hand-off by its digest among the attempt
directories of a segment, never by a fixed path. A file being written carries the temporary mark
(`.<name>.tmp-<writer>`) until it is renamed into place.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from longvideo_runtime.contract import CONTRACT

_LAYOUT = CONTRACT.workspace_layout

SEGMENTS_DIR = _LAYOUT.segments_dir
#: Hex characters of the attempt key in an attempt directory's name.
ATTEMPT_KEY_CHARS = _LAYOUT.attempt_key_chars
CLIP_FILE = _LAYOUT.clip
POSTER_FILE = _LAYOUT.poster
#: Written last: an attempt directory is complete iff it holds this file.
RESULT_FILE = _LAYOUT.result
#: The tensors segment i+1 consumes.
HANDOFF_FILE = _LAYOUT.handoff
#: Written right after HANDOFF_FILE: the hand-off is committed (a warm successor may take it), ADR 0026.
HANDOFF_COMMIT_FILE = _LAYOUT.handoff_commit
TEMPORARY_MARK = _LAYOUT.temporary_mark
#: The files a complete attempt directory holds beside result.json.
SEGMENT_FILES = (CLIP_FILE, POSTER_FILE, HANDOFF_FILE)

#: Not part of the contract (the operator never reads them): fetched inputs, the film's default name, and a talk or
#: dance segment's picture of its audio window or skeleton frames (for the contact sheet).
INPUTS_DIR = "inputs"
CONDITIONING_FILE = "conditioning.png"
FILM_FILE = "film.mp4"

_ATTEMPT_NAME = re.compile(r"(?P<key>.+)-(?P<attempt>0|[1-9][0-9]*)")


@dataclass(frozen=True)
class AttemptName:
    """The parts of an attempt directory's name."""

    #: The attempt key: of the plan hash and the input digest (attempt_key()).
    key: str
    attempt: int


def segment_dir(workspace: Path, index: int) -> Path:
    """The directory holding every attempt at segment `index`."""
    return workspace / SEGMENTS_DIR / str(index)


def attempt_key(segment_hash: str, input_digest: str) -> str:
    """The key of the attempts at a segment of plan `segment_hash` consuming `input_digest` ("" for a chain's start).

    The first ATTEMPT_KEY_CHARS hex characters of sha256 over the UTF-8 text `<segment_hash>|<input_digest>`
    (attemptKey() in the operator's runtime-contract.ts).
    """
    text = f"{segment_hash}|{input_digest}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:ATTEMPT_KEY_CHARS]


def attempt_name(segment_hash: str, input_digest: str, attempt: int) -> str:
    return f"{attempt_key(segment_hash, input_digest)}-{attempt}"


def attempt_dir(workspace: Path, index: int, segment_hash: str, input_digest: str, attempt: int) -> Path:
    """The directory one attempt at segment `index` writes (attemptDir() in the operator's runtime-contract.ts)."""
    return segment_dir(workspace, index) / attempt_name(segment_hash, input_digest, attempt)


def parse_attempt_name(name: str) -> AttemptName | None:
    """The key and attempt of a directory name, or None for a name no attempt writes."""
    match = _ATTEMPT_NAME.fullmatch(name)
    if match is None or name.startswith("."):
        return None
    return AttemptName(key=match["key"], attempt=int(match["attempt"]))


def attempt_dirs(workspace: Path, index: int) -> list[Path]:
    """Every attempt directory of segment `index`, complete or not, by name."""
    parent = segment_dir(workspace, index)
    try:
        entries = sorted(parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [e for e in entries if parse_attempt_name(e.name) is not None and e.is_dir()]


def reference_cache(workspace: Path, key: str) -> Path:
    """Where a url reference image is kept once fetched (`key`: a hash of the url)."""
    return workspace / INPUTS_DIR / f"reference-{key}"


def default_film(workspace: Path) -> Path:
    return workspace / FILM_FILE
