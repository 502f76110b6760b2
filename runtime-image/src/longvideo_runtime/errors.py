"""Failures the worker reports, each with the exit code the operator acts on (see README: exit codes)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1
    #: The segment spec, the reference image or the model configuration is wrong: retrying cannot help.
    BAD_INPUT = 2
    #: The previous segment's handoff is missing, unreadable or not the one the spec names.
    HANDOFF = 3
    #: Out of (GPU or host) memory.
    OUT_OF_MEMORY = 4
    #: The workspace cannot be written (read-only, permissions, full).
    WORKSPACE = 5
    #: Stopped by SIGTERM (node drain, preemption) before finishing.
    TERMINATED = 143


class WorkerError(Exception):
    """An expected failure with a one-line message for the termination message."""

    code: ExitCode = ExitCode.INTERNAL
    kind: str = "internal"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInput(WorkerError):
    code = ExitCode.BAD_INPUT
    kind = "bad-input"


class HandoffError(WorkerError):
    code = ExitCode.HANDOFF
    kind = "handoff"


class OutOfMemory(WorkerError):
    code = ExitCode.OUT_OF_MEMORY
    kind = "out-of-memory"


class WorkspaceError(WorkerError):
    code = ExitCode.WORKSPACE
    kind = "workspace"


class Terminated(WorkerError):
    code = ExitCode.TERMINATED
    kind = "terminated"
