"""JSON-lines logs on stderr: one object per line with time, level, event and fields."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

_LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40}


class Logger:
    def __init__(self, stream: TextIO | None = None, level: str = "info", **context: Any) -> None:
        self._stream = stream
        self._threshold = _LEVELS.get(level, 20)
        self._context = dict(context)

    def bind(self, **context: Any) -> Logger:
        child = Logger(self._stream, "debug", **{**self._context, **context})
        child._threshold = self._threshold
        return child

    def _emit(self, level: str, event: str, fields: dict[str, Any]) -> None:
        if _LEVELS[level] < self._threshold:
            return
        record = {"ts": round(time.time(), 3), "level": level, "event": event, **self._context, **fields}
        stream = self._stream or sys.stderr
        stream.write(json.dumps(record, default=str, ensure_ascii=False) + "\n")
        stream.flush()

    def debug(self, event: str, **fields: Any) -> None:
        self._emit("debug", event, fields)

    def info(self, event: str, **fields: Any) -> None:
        self._emit("info", event, fields)

    def warning(self, event: str, **fields: Any) -> None:
        self._emit("warning", event, fields)

    def error(self, event: str, **fields: Any) -> None:
        self._emit("error", event, fields)
