"""Where a segment run spends its time (ADR 0026): the instants between its phases, and the phases in seconds.

The phases, each from one instant to the next one named here:
- ready: the process's start (the pod's first process where one can tell) to `ready`, when the backend has loaded
  everything that does not need the predecessor's hand-off and asks for it;
- wait: `ready` to `seen`, the predecessor's committed hand-off seen (0 when serial: it was read before);
- denoise: `denoise` to `denoised` (svi: the sampler loop; animatic: drawing the clean frames);
- decode: `decode` to `decoded` (svi: the VAE decode; animatic: drawing captions and overlays on the frames);
- encode: `encode` to `encoded`, the clip's h264 encode.
What lies between (the hand-off's read and check, the condition's VAE encode, writing the hand-off, the poster) is
in no phase. Instants are
wall-clock (UTC), so a warm successor's `seen` and its predecessor's `committed` compare across pods.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

#: The phases reported, and the instants each runs between.
PHASES: dict[str, tuple[str, str]] = {
    "ready": ("started", "ready"),
    "wait": ("ready", "seen"),
    "denoise": ("denoise", "denoised"),
    "decode": ("decode", "decoded"),
    "encode": ("encode", "encoded"),
}


def process_started(pid: int | None = None) -> float | None:
    """When process `pid` (this one by default) started, in seconds since the epoch; None where /proc cannot say.

    Linux's /proc/<pid>/stat gives the start in clock ticks after boot (so to 10 ms), which also counts the
    interpreter's own start before any of this code runs.
    """
    where = "self" if pid is None else str(pid)
    try:
        stat = Path(f"/proc/{where}/stat").read_text()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        # The command name (field 2) may hold spaces and parentheses: the fields after it start past the last ')'.
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        ticks = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return time.time() - (uptime - start_ticks / ticks)


def iso(instant: float) -> str:
    """An instant as ISO 8601 UTC with milliseconds: 2026-12-02T14:37:58.123Z."""
    return datetime.fromtimestamp(instant, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PhaseClock:
    """The instants of one segment run, marked as they happen."""

    def __init__(self, started: float | None = None) -> None:
        now = time.time()
        # A start /proc reports after now (clock skew between the two sources) would give a negative phase.
        self.instants: dict[str, float] = {"started": min(started, now) if started is not None else now}

    def mark(self, name: str) -> float:
        """Records `name` now (the first time only: an instant happens once) and returns it."""
        return self.instants.setdefault(name, time.time())

    def at(self, name: str) -> str | None:
        instant = self.instants.get(name)
        return iso(instant) if instant is not None else None

    def phases(self) -> dict[str, float]:
        """Seconds per phase; 0 for a phase whose instants were not both marked."""
        spans: dict[str, float] = {}
        for phase, (start, end) in PHASES.items():
            a, b = self.instants.get(start), self.instants.get(end)
            spans[phase] = max(0.0, b - a) if a is not None and b is not None else 0.0
        return spans
