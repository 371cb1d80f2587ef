"""Safe reading of the JSON, XML and text documents the vuln importers take in.

Every failure becomes an ``InputError`` naming the file and the problem, so a bad file in a
batch is reported in one line and never half-imported.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from medsentry.errors import InputError

# Advisory and SBOM documents are a few MB at most; anything far larger is a mistake or an attack.
MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


class DocumentError(InputError):
    """A vulnerability-data document (SBOM, advisory, VEX, feed) cannot be used."""

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def read_bytes(path: Path | str) -> bytes:
    p = Path(path)
    try:
        size = p.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DocumentError(str(p), f"file is {size} bytes, larger than the 256 MiB limit")
        return p.read_bytes()
    except FileNotFoundError as exc:
        raise DocumentError(str(p), "file not found; check the path") from exc
    except IsADirectoryError as exc:
        raise DocumentError(str(p), "is a directory, expected a file") from exc
    except OSError as exc:
        raise DocumentError(str(p), f"cannot read file ({exc.strerror})") from exc


def parse_json(data: bytes | str, source: str) -> Any:
    """Decode JSON, reporting line and column of a syntax error."""
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise DocumentError(
            source, f"not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from exc
    except UnicodeDecodeError as exc:
        raise DocumentError(source, "not UTF-8 text; JSON documents must be UTF-8") from exc
    except RecursionError as exc:
        raise DocumentError(source, "JSON nested too deeply") from exc


def read_json(path: Path | str) -> Any:
    return parse_json(read_bytes(path), str(path))


def read_json_object(path: Path | str) -> dict[str, Any]:
    doc = read_json(path)
    if not isinstance(doc, dict):
        raise DocumentError(str(path), f"expected a JSON object, found {type(doc).__name__}")
    return doc


def parse_xml(data: bytes, source: str) -> Element:
    """Parse XML refusing entity expansion, external entities and DTDs (XML bombs)."""
    try:
        root: Element = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise DocumentError(
            source,
            f"XML uses a forbidden construct ({type(exc).__name__}); DTDs and "
            "entities are refused to protect against entity-expansion attacks",
        ) from exc
    except SafeET.ParseError as exc:
        raise DocumentError(source, f"not well-formed XML ({exc})") from exc
    return root


def parse_datetime(value: Any) -> datetime | None:
    """ISO 8601 timestamps as found in advisories; naive values are taken as UTC."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def as_list(value: Any) -> list[Any]:
    """A JSON value that should be a list: None becomes empty, a scalar a one-item list."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]
