"""The chains of segments a film is made of, each walked back from its last segment's hand-off.

LV_FINAL_DIGEST names each chain's last segment and the digest the operator recorded for it (one chain, or several
for a film of keyframed scenes: chain k runs from the segment after chain k-1's last to its own last). Starting at
a chain's last segment with its digest, each step takes the complete attempt directory of segment i whose
result.json hands off the wanted digest; the digest that attempt consumed is the one wanted of segment i-1, down to
the chain's first segment, which consumed nothing (it started from the reference image or its keyframe). The
latents embed the digest they were rendered from, so a digest names one link of one chain: a stale attempt
(another plan, or another chain) is never taken. Each clip is checked against the digest its result.json records.
Every chain is walked, and anything missing or damaged fails with the first (lowest) segment of the film whose
data is gone, where the operator renders again from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from longvideo_runtime import attempts, workspace_layout
from longvideo_runtime.errors import HandoffError
from longvideo_runtime.spec import ChainEnd
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


def _walk_chain(workspace: Path, first: int, end: ChainEnd, problems: dict[int, str]) -> list[Link]:
    """Segments `end.last` down to `first`, as far as the links hold; what is wrong goes into `problems`."""
    links: list[Link] = []
    wanted = end.digest
    for index in reversed(range(first, end.last + 1)):
        chosen, problem = _pick(workspace, index, wanted)
        if problem is not None:
            problems[index] = problem
        if chosen is None:
            # The link is broken: what the earlier segments should hand off is unknown, so the walk ends here.
            break
        links.append(Link(index=index, directory=chosen.directory, result=chosen.result))
        wanted = chosen.input_digest
        if index == first and wanted:
            start = "the first segment starts from the reference image" if first == 0 else "it starts a chain"
            problems[index] = (
                f"segment {index} in {chosen.directory} records input {wanted} in its {RESULT_FILE}, but {start}"
            )
        elif index > first and not wanted:
            # Rendered as a chain's start, but this chain goes on before it: it never consumed segment index-1.
            problems[index] = (
                f"segment {index} in {chosen.directory} records no input in its {RESULT_FILE} (it started a chain), "
                f"but it continues segment {index - 1}"
            )
            break
    return links


def walk(workspace: Path, chains: Sequence[ChainEnd]) -> list[Link]:
    """Segments 0..n-1 of the film whose chains end as `chains` say (storyline order), in order; HandoffError when
    any is missing or damaged."""
    links: list[Link] = []
    problems: dict[int, str] = {}
    chain_of: dict[int, int] = {}
    first = 0
    for number, end in enumerate(chains):
        before = set(problems)
        links.extend(_walk_chain(workspace, first, end, problems))
        chain_of.update(dict.fromkeys(set(problems) - before, number))
        first = end.last + 1
    if problems:
        lowest = min(problems)
        more = f" (and {len(problems) - 1} later problem(s))" if len(problems) > 1 else ""
        end = chains[chain_of[lowest]]
        if len(chains) == 1:
            where = f"the chain ending in {end.digest}"
        else:
            start = chains[chain_of[lowest] - 1].last + 1 if chain_of[lowest] else 0
            where = (
                f"chain {chain_of[lowest] + 1} of {len(chains)} (segments {start}..{end.last}, ending in {end.digest})"
            )
        raise HandoffError(f"{where} is broken at segment {lowest}: {problems[lowest]}{more}", missing_segment=lowest)
    links.sort(key=lambda link: link.index)
    return links
