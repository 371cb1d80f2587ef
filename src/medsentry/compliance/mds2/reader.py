"""Read a filled MDS2 form from XLSX, CSV or TSV into answers keyed by canonical question id.

Forms differ in layout (NEMA's worksheet, manufacturers' own exports, hand-made CSVs), so the
reader does not rely on fixed cells: it finds the column holding question ids, then the
answer column (the header that says so, else the column right of the ids where Yes/No/N/A
answers cluster), and reads a note reference from the column after it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from medsentry.compliance.mds2.questions import (
    HN2019,
    Answer,
    forms_spec,
    normalise_id,
    parse_answer,
)
from medsentry.errors import InputError

Grid = list[list[Any]]
_ANSWER_HEADER = re.compile(r"answer|yes,\s*no|response", re.IGNORECASE)
_NOTE_HEADER = re.compile(r"note", re.IGNORECASE)
_NOTE_ROW = re.compile(r"^\s*note\s*#?\s*(\d+)\s*[:.)-]?\s*(.*)$", re.IGNORECASE | re.DOTALL)


@dataclass
class FormAnswer:
    question_id: str
    raw_id: str
    value: Answer
    text: str | None
    note: str | None


@dataclass
class ParsedForm:
    version: str
    sha256: str
    source: str
    answers: dict[str, FormAnswer]
    manufacturer: str | None = None
    device_description: str | None = None
    models: list[str] = field(default_factory=list)
    document_id: str | None = None
    release_date: str | None = None
    notes: dict[str, str] = field(default_factory=dict)  # "1" -> note text
    issues: list[dict[str, str]] = field(default_factory=list)

    def value(self, question_id: str) -> Answer:
        answer = self.answers.get(question_id)
        return answer.value if answer else Answer.BLANK


def _cell_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith("="):
        return None  # an unevaluated formula: no answer in it
    return value


def _grids_xlsx(content: bytes, source: str) -> list[Grid]:
    import warnings

    import openpyxl

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # print-area and style warnings of real forms
            book = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InputError(f"{source}: not a readable XLSX workbook ({exc})") from exc
    grids = []
    for sheet in book.worksheets:
        rows: Grid = []
        for row in sheet.iter_rows(values_only=True):
            # Some real forms declare a thousand columns; the form lives in the first few.
            cells = [_cell_text(v) for v in row[:16]]
            rows.append(cells)
        grids.append(rows)
    book.close()
    return grids


def _grids_text(content: bytes, source: str) -> list[Grid]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = "excel-tab" if sample.count("\t") > sample.count(",") else "excel"
    return [[list(row) for row in csv.reader(io.StringIO(text), dialect)]]


def _id_column(grid: Grid) -> tuple[int, int]:
    """(column holding the most question ids, how many)."""
    counts: Counter[int] = Counter()
    for row in grid:
        for col, value in enumerate(row[:6]):
            if normalise_id(value) is not None:
                counts[col] += 1
                break
    if not counts:
        return -1, 0
    col, n = counts.most_common(1)[0]
    return col, n


def _answer_column(grid: Grid, id_col: int) -> tuple[int, int | None]:
    """(answer column, note column or None)."""
    for row in grid[:40]:
        if any(normalise_id(v) is not None for v in row[:6]):
            continue  # a question row, not a header
        for col, value in enumerate(row):
            if col > id_col and isinstance(value, str) and _ANSWER_HEADER.search(value):
                note = next(
                    (
                        c
                        for c, v in enumerate(row)
                        if c > col and isinstance(v, str) and _NOTE_HEADER.search(v)
                    ),
                    None,
                )
                return col, note
    votes: Counter[int] = Counter()
    for row in grid:
        if id_col >= len(row) or normalise_id(row[id_col]) is None:
            continue
        for col in range(id_col + 1, min(len(row), id_col + 5)):
            kind, _ = parse_answer(row[col])
            if kind in (Answer.YES, Answer.NO, Answer.NA, Answer.SEE_NOTE):
                votes[col] += 1
                break
    if not votes:
        return id_col + 2, id_col + 3
    best = max(votes.values())
    col = min(c for c, v in votes.items() if v == best)
    return col, col + 1


def _note_ref(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not text or re.fullmatch(r"[_\s-]*", text):
        return None
    return text


def parse_form(content: bytes, source: str, *, suffix: str | None = None) -> ParsedForm:
    """Parse a form's bytes; ``suffix`` (".xlsx", ".csv", ".tsv") says the format."""
    kind = (suffix or Path(source).suffix).lower()
    if kind in (".xlsx", ".xlsm") or content[:2] == b"PK":
        grids = _grids_xlsx(content, source)
    elif kind in (".csv", ".tsv", ".txt", ""):
        grids = _grids_text(content, source)
    else:
        raise InputError(f"{source}: unsupported form format {kind!r}; use XLSX, CSV or TSV")
    best = max(grids, key=lambda g: _id_column(g)[1], default=[])
    id_col, found = _id_column(best)
    if found < 3:
        raise InputError(
            f"{source}: no MDS2 question ids found (expected e.g. DOC-1, TXCF-2 or 18-2 in "
            "one column); is this an MDS2 form?"
        )
    answer_col, note_col = _answer_column(best, id_col)
    answers: dict[str, FormAnswer] = {}
    issues: list[dict[str, str]] = []
    versions: Counter[str] = Counter()
    notes: dict[str, str] = {}
    for row in best:
        cells = list(row) + [None] * 6
        norm = normalise_id(cells[id_col])
        if norm is None:
            texts = [str(c).strip() for c in cells if c is not None and str(c).strip()]
            m = _NOTE_ROW.match(texts[0]) if texts else None
            if m:
                # "Note 1: text" in one cell, or "Note 1" | "text" in two.
                body = m.group(2).strip() or " ".join(texts[1:2])
                if body:
                    notes[m.group(1)] = body
            continue
        versions[norm.version] += 1
        value, text = parse_answer(cells[answer_col])
        if norm.change:
            issues.append({"kind": "id_normalised", "detail": norm.change})
        if not norm.known:
            issues.append({"kind": "unknown_id", "detail": str(cells[id_col])})
        if norm.canonical in answers:
            issues.append({"kind": "duplicate_id", "detail": norm.canonical})
            continue
        answers[norm.canonical] = FormAnswer(
            norm.canonical,
            str(cells[id_col]).strip(),
            value,
            text,
            _note_ref(cells[note_col]) if note_col is not None else None,
        )
    version = versions.most_common(1)[0][0]
    parsed = ParsedForm(
        version=version,
        sha256=hashlib.sha256(content).hexdigest(),
        source=source,
        answers={k: a for k, a in answers.items() if _edition_of(k, version)},
        notes=notes,
        issues=issues,
    )
    _header(parsed, best)
    return parsed


def _edition_of(question_id: str, version: str) -> bool:
    n = normalise_id(question_id)
    return n is not None and n.version == version


def _header(form: ParsedForm, grid: Grid) -> None:
    def text(qid: str) -> str | None:
        answer = form.answers.get(qid)
        return answer.text if answer and answer.text else None

    if form.version == HN2019:
        form.manufacturer = text("DOC-1")
        form.device_description = text("DOC-2")
        models = text("DOC-3")
        form.document_id = text("DOC-4")
        form.release_date = text("DOC-7")
    else:
        labels = forms_spec().hn2013.header_labels
        found = {name: _labelled(grid, options) for name, options in labels.items()}
        form.manufacturer = found.get("manufacturer")
        form.device_description = found.get("device_description")
        models = found.get("models")
        form.document_id = found.get("document_id")
        form.release_date = found.get("release_date")
    form.models = split_models(models)


def split_models(text: str | None) -> list[str]:
    if not text or text.strip().lower() in {"hidden", "n/a"}:
        return []
    parts = re.split(r"[,;/\n]|\band\b", text)
    return [p.strip() for p in parts if p.strip()]


def _labelled(grid: Grid, labels: tuple[str, ...]) -> str | None:
    """The value next to a cell reading one of ``labels``: to its right, or below it when
    the form lays labels out in a row with the values underneath."""
    wanted = {label.lower() for label in labels}
    every_label = {
        label.lower() for options in forms_spec().hn2013.header_labels.values() for label in options
    }

    def is_label(value: Any) -> bool:
        return isinstance(value, str) and value.strip().rstrip(":").lower() in every_label

    for r, row in enumerate(grid[:60]):
        for c, value in enumerate(row):
            if not isinstance(value, str) or value.strip().rstrip(":").lower() not in wanted:
                continue
            right = next((v for v in row[c + 1 :] if v not in (None, "") and str(v).strip()), None)
            if right is not None and not is_label(right):
                return str(right).strip()
            if r + 1 < len(grid) and c < len(grid[r + 1]):
                below = grid[r + 1][c]
                if below not in (None, "") and str(below).strip() and not is_label(below):
                    return str(below).strip()
    return None


def read_form(path: Path) -> ParsedForm:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the form ({exc.strerror})") from exc
    return parse_form(content, str(path), suffix=path.suffix)


_PORT_PATTERNS = (
    re.compile(r"\b(tcp|udp)\s*[/: ]\s*(\d{1,5})\b", re.IGNORECASE),
    re.compile(r"\b(\d{1,5})\s*/\s*(tcp|udp)\b", re.IGNORECASE),
)
_PORT_WORDS = re.compile(
    r"\bports?\s*:?\s*((?:\d{1,5}\s*(?:,|and|&|\s)\s*)*\d{1,5})", re.IGNORECASE
)


def declared_ports(form: ParsedForm) -> set[tuple[str | None, int]] | None:
    """Ports the form lists (CONN-2 answer or note, notes text); None when it lists none."""
    texts = []
    conn2 = form.answers.get("CONN-2")
    if conn2 is not None:
        texts += [conn2.text or "", conn2.note or ""]
        for ref in re.findall(r"\d+", conn2.note or ""):
            texts.append(form.notes.get(ref, ""))
    texts += [t for k, t in form.notes.items() if re.search(r"\bports?\b", t, re.IGNORECASE)]
    ports: set[tuple[str | None, int]] = set()
    for text in texts:
        for m in _PORT_PATTERNS[0].finditer(text):
            ports.add((m.group(1).lower(), int(m.group(2))))
        for m in _PORT_PATTERNS[1].finditer(text):
            ports.add((m.group(2).lower(), int(m.group(1))))
        for m in _PORT_WORDS.finditer(text):
            for number in re.findall(r"\d{1,5}", m.group(1)):
                if not any(p == int(number) for _, p in ports):
                    ports.add((None, int(number)))
    valid = {(proto, port) for proto, port in ports if 0 < port < 65536}
    return valid or None
