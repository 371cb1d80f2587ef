from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from medsentry.output.jsonl import JsonlWriter, dumps_line, to_jsonable


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: float
    y: float


def test_plain_records_are_compact_single_lines() -> None:
    line = dumps_line({"ts": 1.5, "uid": "C1", "note": "line\nbreak", "name": "Zürich"})
    assert line.endswith("\n")
    assert line.count("\n") == 1
    assert json.loads(line) == {"ts": 1.5, "uid": "C1", "note": "line\nbreak", "name": "Zürich"}
    assert "Zürich" in line  # UTF-8, not \u escapes
    assert ", " not in line


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, np.float32("nan")])
def test_non_finite_numbers_become_null(bad: float) -> None:
    assert json.loads(dumps_line({"v": bad, "nested": [{"w": bad}]})) == {
        "v": None,
        "nested": [{"w": None}],
    }


def test_odd_types_become_json_types() -> None:
    value = {
        "i64": np.int64(7),
        "u16": np.uint16(65535),
        "f32": np.float32(0.5),
        "arr": np.array([1, 2]),
        "set": {"b", "a"},
        "tuple": ("tcp", 104),
        "bytes": b"\x00\xab",
        "enum": Color.RED,
        "when": dt.datetime(2024, 5, 1, 10, 0, tzinfo=dt.UTC),
        "path": Path("/tmp/x"),
        "point": Point(1.0, math.nan),
        "flag": np.bool_(True),
        3: "int key",
    }
    assert json.loads(dumps_line(value)) == {
        "i64": 7,
        "u16": 65535,
        "f32": 0.5,
        "arr": [1, 2],
        "set": ["a", "b"],
        "tuple": ["tcp", 104],
        "bytes": "00ab",
        "enum": "red",
        "when": "2024-05-01T10:00:00+00:00",
        "path": "/tmp/x",
        "point": {"x": 1.0, "y": None},
        "flag": True,
        "3": "int key",
    }
    assert to_jsonable(True) is True  # bool stays bool, not 1
    assert to_jsonable({1, "a"}) in (["a", 1], [1, "a"])  # mixed sets still serialise


def test_writer_streams_to_a_file_and_counts(tmp_path: Path) -> None:
    path = tmp_path / "out" / "flows.jsonl"
    with JsonlWriter(path) as writer:
        writer.write({"uid": "C1", "ts": 1.0})
        assert writer.write_all({"uid": f"C{i}", "ts": math.nan} for i in range(2, 5)) == 3
        assert writer.count == 4
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["uid"] for line in lines] == ["C1", "C2", "C3", "C4"]
    assert json.loads(lines[-1])["ts"] is None


def test_writer_on_a_stream_leaves_it_open() -> None:
    stream = io.StringIO()
    with JsonlWriter(stream) as writer:
        writer.write({"a": 1})
    stream.write("still open\n")
    assert stream.getvalue() == '{"a":1}\nstill open\n'
