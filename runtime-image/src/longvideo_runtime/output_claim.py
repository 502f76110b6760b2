"""Only the newest concatenation writes the film: a claim beside the output names its writer.

The operator knows a concat job by the final digest it concatenates. When a storyline is edited mid-render, the
operator deletes the stale concat job and starts one for the new digest. The stale pod may still be running,
though (a termination grace period, or a partitioned node). If it renames its film into place last, the stale film
is left at the output path while the operator records the new one.

So each concatenation claims the output when it starts: it writes its final digest to `.<name>.writer` beside the
output (a film of several chains: `last:digest,...`, each chain's end; one chain: the bare digest, whichever form
LV_FINAL_DIGEST had). The newest job claims last. A concatenation renames its film (and its contact sheet) into
place only while the claim still names it. If not, it removes its temporary file, leaves the output alone, and
fails with Superseded.

Two pods concatenating the same final digest hold the same claim and write the same film, so either rename is
right. Claim order is start order, not job order: a stale pod that starts after the new one has claimed takes the
claim back. The new concatenation is then refused, and its retry claims again.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from longvideo_runtime import fsio
from longvideo_runtime.errors import Superseded


def lock_path(target: Path) -> Path:
    """The lock file that serializes claims and commits of `target`. It is never removed: a removed lock file and
    its re-created successor would be two locks."""
    return target.with_name(f".{target.name}.lock")


def claim_path(target: Path) -> Path:
    """The claim file naming the concatenation that writes `target` (its final digest)."""
    return target.with_name(f".{target.name}.writer")


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """Holds an exclusive lock on `target`'s lock file.

    Why a lock: without it, one concatenation could check the claim, another could claim and commit, and then the
    first could rename its film over the newer one. With the lock, "write the claim" and "check the claim and
    rename" are serialized. Whichever order two concatenations run in, the film at the path is the one of the
    newest claimant. flock works on local and hostPath volumes. Over NFSv4 the Linux client maps it to a byte-range
    lock that the server holds, so it serializes pods on different nodes too. Closing the descriptor releases the
    lock, and so does the death of the process.
    """
    with fsio.workspace_errors(target):
        fd = os.open(lock_path(target), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def current_owner(target: Path) -> str | None:
    """The owner the claim on `target` names, or None if nobody has claimed it.

    Callers hold the lock when the answer matters. Opening the file again each time also gets NFS's close-to-open
    revalidation, so a claim renamed into place by another node is seen.
    """
    try:
        text = claim_path(target).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def _short(owner: str) -> str:
    """The first 12 hex characters of a digest like `sha256:<hex>`, enough to tell films apart in a message; of each
    chain's digest for an owner of several chains (`last:sha256:<hex>,...`)."""
    shortened = []
    for entry in owner.split(","):
        last, _, digest = entry.rpartition("sha256:")
        shortened.append(last + digest[:12])
    return ",".join(shortened)


@dataclass(frozen=True)
class OutputClaim:
    """One concatenation's claim on `target`: `owner` is its final digest (ConcatSpec.claim_owner)."""

    target: Path
    owner: str

    def commit(self, tmp: Path, destination: Path | None = None) -> None:
        """Renames `tmp` over `destination` (the claimed target unless given, e.g. its contact sheet) if the claim
        on the target still names this owner. Otherwise it removes `tmp`, leaves `destination` untouched and raises
        Superseded."""
        destination = destination or self.target
        with _locked(self.target):
            holder = current_owner(self.target)
            if holder == self.owner:
                fsio.commit(tmp, destination)
                return
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        other = f"another concatenation (final digest {_short(holder)})" if holder else "no concatenation"
        raise Superseded(
            f"{other} now writes {self.target}, not this one (final digest {_short(self.owner)}): "
            f"nothing was written to {destination}"
        )

    @contextlib.contextmanager
    def atomic_target(self, destination: Path | None = None) -> Iterator[Path]:
        """Like fsio.atomic_target, but it commits only while the claim stands. Yields a temporary path to fill,
        which is removed if the commit is refused or the block fails."""
        destination = destination or self.target
        tmp = fsio.temp_path(destination)
        try:
            yield tmp
            self.commit(tmp, destination)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()


def claim(target: Path, owner: str) -> OutputClaim:
    """Claims `target` for `owner`, replacing any earlier claim. The claim file is written atomically, so a reader
    never sees half a digest. The lock is held while it is written."""
    with _locked(target):
        fsio.write_bytes(claim_path(target), (owner + "\n").encode("utf-8"))
    return OutputClaim(target, owner)
