"""Failures the worker reports, each with the exit code the operator acts on (see README: exit codes).

The codes and reasons are the runtime contract's (contract.json: exitCodes, failureReasons).
"""

from __future__ import annotations

from enum import IntEnum

from longvideo_runtime.contract import CONTRACT

_CODES = CONTRACT.exit_codes
_REASONS = CONTRACT.failure_reasons


class ExitCode(IntEnum):
    OK = _CODES.ok
    INTERNAL = _CODES.internal
    #: The segment spec, the reference image or the model configuration is wrong: retrying cannot help.
    BAD_INPUT = _CODES.bad_input
    #: The previous segment's handoff is missing, unreadable or not the one the spec names; for concat, a clip or
    #: link of the chain is missing or corrupt.
    HANDOFF = _CODES.handoff
    #: Out of (GPU or host) memory.
    OUT_OF_MEMORY = _CODES.out_of_memory
    #: The workspace cannot be written (read-only, permissions, full).
    WORKSPACE = _CODES.workspace
    #: A warm segment waited LV_WAIT_SECONDS for its predecessor's committed hand-off in vain (not a failure of its
    #: own: the operator does not count it).
    WAITED = _CODES.waited
    #: Stopped by SIGTERM (node drain, preemption) before finishing.
    TERMINATED = _CODES.terminated


class WorkerError(Exception):
    """An expected failure with a one-line message for the termination message."""

    code: ExitCode = ExitCode.INTERNAL
    #: The failure's `reason` in the termination message.
    kind: str = _REASONS.internal

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(WorkerError):
    code = ExitCode.BAD_INPUT
    kind = _REASONS.bad_input


class HandoffError(WorkerError):
    """Data from an earlier segment is missing or corrupt: a segment's input hand-off, or a clip or link of the chain.

    `missing_segment` is the first segment whose data is gone (the termination message's `missingSegment`): the
    operator renders again from there.
    """

    code = ExitCode.HANDOFF
    kind = _REASONS.handoff

    def __init__(self, message: str, *, missing_segment: int) -> None:
        super().__init__(message)
        self.missing_segment = missing_segment


class OutOfMemory(WorkerError):
    code = ExitCode.OUT_OF_MEMORY
    kind = _REASONS.out_of_memory


class WorkspaceError(WorkerError):
    code = ExitCode.WORKSPACE
    kind = _REASONS.workspace


class Waited(WorkerError):
    """LV_INPUT_FROM's attempt committed no hand-off (handoff.json) within LV_WAIT_SECONDS."""

    code = ExitCode.WAITED
    kind = _REASONS.waited


class Terminated(WorkerError):
    code = ExitCode.TERMINATED
    kind = _REASONS.terminated


class Superseded(WorkerError):
    """Another concatenation claimed the film's output after this one did, so this one wrote nothing there.

    See output_claim.py. It stays an internal failure (the contract has no reason of its own for it): the operator
    has usually deleted the job already, and if not, a failed concatenation is retried like any other, and the
    retry claims the output again.
    """

    code = ExitCode.INTERNAL
    kind = _REASONS.internal
