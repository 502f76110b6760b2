"""The complete attempt directories of a segment, and what their result.json says.

An attempt directory is complete once its result.json exists (it is written last). Readers pick a directory by
what its result records (the latents digest it hands off, the fingerprint of the spec it rendered), never by its
name alone: several attempts, of this plan or an older one, may sit side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvideo_runtime import fsio
from longvideo_runtime.workspace_layout import CLIP_FILE, RESULT_FILE, AttemptName, attempt_dirs, parse_attempt_name


@dataclass(frozen=True)
class Finished:
    """A complete attempt directory of segment `index` and its parsed result.json."""

    index: int
    directory: Path
    name: AttemptName
    result: dict[str, Any]

    @property
    def latents_digest(self) -> str:
        return str(self.result.get("latentsDigest", ""))

    @property
    def input_digest(self) -> str:
        return str(self.result.get("inputDigest", ""))

    def recorded_digest(self, file: str) -> str | None:
        """The sha256 result.json records for one of the directory's files."""
        files = self.result.get("files")
        record = files.get(file) if isinstance(files, dict) else None
        digest = record.get("digest") if isinstance(record, dict) else None
        return digest if isinstance(digest, str) else None

    def damage(self, *files: str) -> str | None:
        """None when each file is present with the digest result.json records for it; else what is wrong."""
        for file in files:
            path = self.directory / file
            want = self.recorded_digest(file)
            if want is None:
                return f"{self.directory / RESULT_FILE} records no digest for {file}"
            if not path.is_file():
                return f"{path} is missing"
            try:
                have = fsio.sha256_file(path)
            except OSError as e:
                return f"cannot read {path}: {e.strerror or e}"
            if have != want:
                return f"{path} has digest {have}, its result.json records {want}"
        return None

    def clip_damage(self) -> str | None:
        return self.damage(CLIP_FILE)


def finished(workspace: Path, index: int) -> list[Finished]:
    """Every complete attempt directory of segment `index` whose result.json is a result of that segment."""
    found: list[Finished] = []
    for directory in attempt_dirs(workspace, index):
        name = parse_attempt_name(directory.name)
        try:
            result = json.loads((directory / RESULT_FILE).read_text())
        except (OSError, ValueError):
            # Not complete (no result.json yet), or unreadable: nothing a reader may take.
            continue
        if name is None or not isinstance(result, dict) or result.get("segment") != index:
            continue
        found.append(Finished(index=index, directory=directory, name=name, result=result))
    return found


def handing_off(workspace: Path, index: int, digest: str) -> list[Finished]:
    """The complete attempts of segment `index` whose result.json says they hand off `digest`."""
    return [f for f in finished(workspace, index) if f.latents_digest == digest]
