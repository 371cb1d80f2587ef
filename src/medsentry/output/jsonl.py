"""JSON-lines output: one JSON object per line, like Zeek's JSON logs and Suricata's eve.json.

The files written to ``--out DIR`` share this layout so a SIEM can take any of them unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Any

FLOWS_FILE = "flows.jsonl"
DEVICES_FILE = "devices.jsonl"
EVENTS_FILE = "events.jsonl"
ALERTS_FILE = "alerts.jsonl"


def to_jsonable(value: Any) -> Any:
    """``value`` made of plain JSON types only.

    NaN and infinities become null (JSON has no spelling for them), numpy scalars become
    Python numbers, sets become sorted lists, bytes become hex, dates ISO 8601 strings.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):  # also IntEnum and other int subclasses
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(v) for v in value]
        try:
            return sorted(items)
        except TypeError:  # mixed types: keep a stable order anyway
            return sorted(items, key=repr)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays
    if callable(tolist):
        return to_jsonable(tolist())
    return str(value)


def dumps_line(obj: Mapping[str, Any]) -> str:
    """One compact JSON line (with its newline) for ``obj``."""
    try:
        # Fast path: most records are plain already; the C encoder refuses NaN and odd types.
        text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError):
        text = json.dumps(
            to_jsonable(obj), ensure_ascii=False, separators=(",", ":"), allow_nan=False
        )
    return text + "\n"


class JsonlWriter:
    """Streams JSON objects to a file (created with its parent folders) or an open text stream.

    Use as a context manager; ``count`` is the number of lines written.
    """

    def __init__(self, target: str | Path | IO[str]) -> None:
        self.count = 0
        if isinstance(target, str | Path):
            path = Path(target)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.path: Path | None = path
            self._stream: IO[str] = path.open("w", encoding="utf-8", newline="\n")
            self._owns_stream = True
        else:
            self.path = None
            self._stream = target
            self._owns_stream = False

    def write(self, obj: Mapping[str, Any]) -> None:
        self._stream.write(dumps_line(obj))
        self.count += 1

    def write_all(self, objs: Iterable[Mapping[str, Any]]) -> int:
        """Write every object; returns how many."""
        before = self.count
        for obj in objs:
            self.write(obj)
        return self.count - before

    def close(self) -> None:
        if self._owns_stream:
            self._stream.close()
        else:
            self._stream.flush()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
