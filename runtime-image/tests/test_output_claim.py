"""Only the newest claimant of an output writes it: a concatenation superseded by another one's claim writes
nothing, whatever order the claims and commits come in."""

from __future__ import annotations

import fcntl
import threading
from pathlib import Path

import pytest

from longvideo_runtime import fsio, output_claim
from longvideo_runtime.errors import ExitCode, Superseded

A = "sha256:" + "a" * 64
B = "sha256:" + "b" * 64


def write_temp(claim: output_claim.OutputClaim, data: bytes) -> Path:
    """A finished temporary file of `claim`'s writer, as ffmpeg leaves it before the commit."""
    tmp = fsio.temp_path(claim.target)
    tmp.write_bytes(data)
    return tmp


def temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.iterdir() if fsio.TMP_MARK in p.name]


def test_a_film_of_several_chains_is_named_by_each_chains_end(tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    chains = output_claim.claim(target, owner=f"1:{A},3:{B}")
    output_claim.claim(target, owner=B)
    with pytest.raises(Superseded) as refused:
        chains.commit(write_temp(chains, b"two chains"))
    assert "(final digest bbbbbbbbbbbb) now writes" in refused.value.message
    assert "not this one (final digest 1:aaaaaaaaaaaa,3:bbbbbbbbbbbb)" in refused.value.message
    assert not target.exists()


def test_the_owner_commits(tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    claim = output_claim.claim(target, owner=A)
    assert output_claim.current_owner(target) == A
    claim.commit(write_temp(claim, b"film A"), target)
    assert target.read_bytes() == b"film A"
    assert temporaries(tmp_path) == []


def test_a_superseded_claimant_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    a = output_claim.claim(target, owner=A)
    b = output_claim.claim(target, owner=B)
    tmp_a = write_temp(a, b"stale film")
    with pytest.raises(Superseded) as refused:
        a.commit(tmp_a)
    assert not target.exists()
    assert not tmp_a.exists()
    assert refused.value.code == ExitCode.INTERNAL and refused.value.kind == "internal"
    assert "another concatenation (final digest bbbbbbbbbbbb) now writes" in refused.value.message
    assert "b" * 13 not in refused.value.message, "12 hex characters name the other film"
    assert f"nothing was written to {target}" in refused.value.message

    b.commit(write_temp(b, b"new film"))
    assert target.read_bytes() == b"new film"
    with pytest.raises(Superseded):
        a.commit(write_temp(a, b"stale film, once more"))
    assert target.read_bytes() == b"new film", "the newest claimant's film stays"
    assert temporaries(tmp_path) == []


def test_the_latest_claim_wins_when_the_storyline_is_edited_back(tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    a = output_claim.claim(target, owner=A)
    b = output_claim.claim(target, owner=B)
    a_again = output_claim.claim(target, owner=A)
    with pytest.raises(Superseded, match="final digest aaaaaaaaaaaa"):
        b.commit(write_temp(b, b"film B"))
    assert not target.exists()
    a.commit(write_temp(a, b"film A"))
    assert target.read_bytes() == b"film A"
    assert a_again == a, "two concatenations of one final digest hold one claim"


def test_a_refused_block_leaves_the_target_and_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    target.write_bytes(b"film B")
    a = output_claim.claim(target, owner=A)
    output_claim.claim(target, owner=B)
    sheet = tmp_path / "film.contact.png"
    with pytest.raises(Superseded, match=f"nothing was written to {sheet}"), a.atomic_target(sheet) as tmp:
        tmp.write_bytes(b"stale sheet")
    assert not sheet.exists() and target.read_bytes() == b"film B"
    assert temporaries(tmp_path) == []


def test_a_removed_claim_refuses_every_commit(tmp_path: Path) -> None:
    target = tmp_path / "film.mp4"
    a = output_claim.claim(target, owner=A)
    output_claim.claim_path(target).unlink()
    with pytest.raises(Superseded, match="no concatenation now writes"):
        a.commit(write_temp(a, b"film A"))
    assert not target.exists()


def test_claims_wait_for_the_lock(tmp_path: Path) -> None:
    """A claim waits while another process holds the output's lock (checking a claim and renaming, say)."""
    target = tmp_path / "film.mp4"
    output_claim.claim(target, owner=A)
    claimed = threading.Event()
    with output_claim.lock_path(target).open("rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: (output_claim.claim(target, owner=B), claimed.set()))
        worker.start()
        assert not claimed.wait(0.3), "the claim did not wait for the lock"
        assert output_claim.current_owner(target) == A
        fcntl.flock(held, fcntl.LOCK_UN)
        assert claimed.wait(10)
    worker.join()
    assert output_claim.current_owner(target) == B
