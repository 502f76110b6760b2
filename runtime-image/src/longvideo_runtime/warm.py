"""A warm attempt's wait (LV_INPUT_FROM, ADR 0026): poll the predecessor attempt's directory for its committed
hand-off, then read and verify it.

The poll is plain file reads every POLL_SECONDS, since RWX filesystems such as NFS have no inotify. handoff.json is
written atomically after latents.safetensors, so once it is seen the latents it names are in place; they are still
checked against its digest, since a re-run of the predecessor's attempt may replace them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from longvideo_runtime.errors import HandoffError, Waited
from longvideo_runtime.logs import Logger
from longvideo_runtime.spec import SegmentSpec, is_digest
from longvideo_runtime.workspace_layout import HANDOFF_COMMIT_FILE

POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Commit:
    """The predecessor's handoff.json as read."""

    latents_digest: str
    committed_at: str
    #: When this worker saw it (time.time()).
    seen: float


def wait_for_commit(spec: SegmentSpec, log: Logger) -> Commit:
    """The predecessor's commit once it exists; Waited after LV_WAIT_SECONDS without one."""
    directory = spec.predecessor_dir
    path = directory / HANDOFF_COMMIT_FILE
    previous = spec.index - 1
    started = time.monotonic()
    log.info("handoff-waiting", directory=str(directory), wait_seconds=spec.wait_seconds)
    while True:
        try:
            data = path.read_bytes()
            break
        except (FileNotFoundError, NotADirectoryError):
            pass
        except OSError as e:
            raise HandoffError(f"cannot read {path}: {e.strerror or e}", missing_segment=previous) from None
        waited = time.monotonic() - started
        if waited >= spec.wait_seconds:
            raise Waited(
                f"segment {previous}'s attempt {directory} committed no hand-off ({HANDOFF_COMMIT_FILE}) in "
                f"{waited:.1f} seconds of waiting (LV_WAIT_SECONDS {spec.wait_seconds:g})"
            )
        time.sleep(min(POLL_SECONDS, spec.wait_seconds - waited))
    seen = time.time()
    try:
        record = json.loads(data)
    except ValueError:
        record = None
    digest = record.get("latentsDigest") if isinstance(record, dict) else None
    if not isinstance(digest, str) or not is_digest(digest):
        raise HandoffError(
            f"{path} is not a hand-off commit (no latentsDigest sha256:<64 hex>)", missing_segment=previous
        )
    committed_at = record.get("committedAt") if isinstance(record, dict) else None
    log.info(
        "handoff-seen",
        directory=str(directory),
        digest=digest,
        committed_at=committed_at,
        waited=round(time.monotonic() - started, 3),
    )
    return Commit(latents_digest=digest, committed_at=str(committed_at or ""), seen=seen)
