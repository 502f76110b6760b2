"""Where everything lives in a film's workspace: the runtime contract's workspaceLayout, as paths.

    <workspace>/segments/<i>/clip.mp4, poster.png, latents.safetensors, result.json (written last)
    <workspace>/inputs/reference-<hash>      a url reference image, fetched once (the worker's own)

A file being written carries the temporary mark (`.<name>.tmp-<pid>`) until it is renamed into place.
"""

from __future__ import annotations

from pathlib import Path

from longvideo_runtime.contract import CONTRACT

_LAYOUT = CONTRACT.workspace_layout

SEGMENTS_DIR = _LAYOUT.segments_dir
CLIP_FILE = _LAYOUT.clip
POSTER_FILE = _LAYOUT.poster
#: Written last: a segment directory is finished iff it holds this file.
RESULT_FILE = _LAYOUT.result
#: The tensors segment i+1 consumes.
HANDOFF_FILE = _LAYOUT.handoff
TEMPORARY_MARK = _LAYOUT.temporary_mark
#: The files a finished segment directory holds beside result.json.
SEGMENT_FILES = (CLIP_FILE, POSTER_FILE, HANDOFF_FILE)

#: Not part of the contract (the operator never reads them): fetched inputs, and the film's default name.
INPUTS_DIR = "inputs"
FILM_FILE = "film.mp4"


def segment_dir(workspace: Path, index: int) -> Path:
    return workspace / SEGMENTS_DIR / str(index)


def previous_dir(workspace: Path, index: int) -> Path:
    """The directory of segment `index`'s predecessor, whose handoff it consumes."""
    return segment_dir(workspace, index - 1)


def clip_path(workspace: Path, index: int) -> Path:
    return segment_dir(workspace, index) / CLIP_FILE


def poster_path(workspace: Path, index: int) -> Path:
    return segment_dir(workspace, index) / POSTER_FILE


def handoff_path(workspace: Path, index: int) -> Path:
    return segment_dir(workspace, index) / HANDOFF_FILE


def result_path(workspace: Path, index: int) -> Path:
    return segment_dir(workspace, index) / RESULT_FILE


def reference_cache(workspace: Path, key: str) -> Path:
    """Where a url reference image is kept once fetched (`key`: a hash of the url)."""
    return workspace / INPUTS_DIR / f"reference-{key}"


def default_film(workspace: Path) -> Path:
    return workspace / FILM_FILE
