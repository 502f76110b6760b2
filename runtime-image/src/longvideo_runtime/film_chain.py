"""The chain of segments a film is made of, walked back from the last segment's hand-off.

Starting at segment n-1 with the digest the operator recorded (LV_FINAL_DIGEST), each step takes the complete
attempt directory of segment i whose result.json hands off the wanted digest; the digest that attempt consumed is
the one wanted of segment i-1, down to segment 0, which consumed nothing. The latents embed the digest they were
rendered from, so a digest names one link of one chain: a stale attempt (another plan, or another chain) is never
taken. Each clip is checked against the digest its result.json records. Anything missing or damaged fails with
the first (lowest) segment whose data is gone, where the operator renders again from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvideo_runtime import attempts, workspace_layout
from longvideo_runtime.errors import HandoffError
from longvideo_runtime.workspace_layout import CLIP_FILE, POSTER_FILE, RESULT_FILE


@dataclass(frozen=True)
class Link:
    """One segment of the film: the attempt directory whose clip the film takes."""

    index: int
    directory: Path
    result: dict[str, Any]

    @property
    def clip(self) -> Path:
        return self.directory / CLIP_FILE

    @property
    def poster(self) -> Path:
        return self.directory / POSTER_FILE


def _pick(workspace: Path, index: int, wanted: str) -> tuple[attempts.Finished | None, str | None]:
    """The attempt of segment `index` handing off `wanted` (one with an intact clip first), and what is wrong."""
    candidates = attempts.handing_off(workspace, index, wanted)
    if not candidates:
        where = workspace_layout.segment_dir(workspace, index)
        return None, f"segment {index}: no complete attempt in {where}/*/ hands off {wanted}"
    damages: list[str] = []
    for candidate in candidates:
        damage = candidate.clip_damage()
        if damage is None:
            return candidate, None
        damages.append(damage)
    return candidates[0], f"segment {index}'s clip is damaged: {'; '.join(damages)}"


def walk(workspace: Path, segment_count: int, final_digest: str) -> list[Link]:
    """Segments 0..n-1 of the chain ending in `final_digest`, in order; HandoffError when any is missing or damaged."""
    links: list[Link] = []
    problems: dict[int, str] = {}
    wanted = final_digest
    for index in reversed(range(segment_count)):
        chosen, problem = _pick(workspace, index, wanted)
        if problem is not None:
            problems[index] = problem
        if chosen is None:
            # The link is broken: what the earlier segments should hand off is unknown, so the walk ends here.
            break
        links.append(Link(index=index, directory=chosen.directory, result=chosen.result))
        wanted = chosen.input_digest
        if index == 0 and wanted:
            problems[0] = (
                f"segment 0 in {chosen.directory} records input {wanted} in its {RESULT_FILE}, "
                "but the first segment starts from the reference image"
            )
    if problems:
        first = min(problems)
        more = f" (and {len(problems) - 1} later problem(s))" if len(problems) > 1 else ""
        raise HandoffError(
            f"the chain ending in {final_digest} is broken at segment {first}: {problems[first]}{more}",
            missing_segment=first,
        )
    links.reverse()
    return links
