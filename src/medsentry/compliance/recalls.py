"""openFDA device recalls and enforcement reports: import, match to inventory devices,
keep the matches as findings beside vulnerabilities.

Accepted inputs: an API response or bulk download (``{"meta": ..., "results": [...]}``),
the documentation examples (``{"record": ...}``, ``{"anatomy": {...}}``, ``{"result": ...}``),
a bare list, or JSON lines (older enforcement exports use hyphenated keys). Only medical
device records are kept: a ``product_type`` of Devices, or an FDA recall number starting with
``Z-`` (F- is food, D- drugs). Files or ``http(s)`` URLs.

Matching needs the maker plus something specific: the device's model named in the recalled
product's description (strong), or a product code its device type can carry (weaker). The
maker alone would flag every device of a large manufacturer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from medsentry.compliance.datafile import load
from medsentry.compliance.names import norm_model, same_maker
from medsentry.compliance.observe import DeviceInfo, Observations
from medsentry.errors import ConfigError, InputError
from medsentry.store.models.compliance import RecallFindingRow, RecallRow

MAX_DOWNLOAD = 200 * 1024 * 1024
PRODUCT_CODES_FILE = Path(__file__).with_name("product_codes.yaml")
_RECALL_NUMBER = re.compile(r"\b([A-Z])-(\d{3,5})-(\d{2,4})\b")
CLOSED_STATUSES = ("terminated", "completed", "closed")
STATES = ("open", "closed", "resolved", "not_applicable")


class _ProductCodes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    types: dict[str, tuple[str, ...]] = Field(default_factory=dict)


@cache
def product_codes(path: Path = PRODUCT_CODES_FILE) -> dict[str, frozenset[str]]:
    data = load(_ProductCodes, path, "product code map")
    for device_type, codes in data.types.items():
        bad = [c for c in codes if not re.fullmatch(r"[A-Z]{3}", c)]
        if bad:
            raise ConfigError(f"{path}: {device_type}: {bad} are not three-letter product codes")
    return {t: frozenset(codes) for t, codes in data.types.items()}


@dataclass(frozen=True)
class Recall:
    source: str  # recall | enforcement
    recall_number: str
    event_id: str | None
    recalling_firm: str | None
    product_code: str | None
    device_name: str | None
    product_description: str | None
    code_info: str | None
    reason: str | None
    classification: str | None
    status: str | None
    initiated: str | None
    k_numbers: tuple[str, ...]
    sha256: str

    @property
    def open(self) -> bool:
        return not (self.status or "").lower().startswith(CLOSED_STATUSES)


# --------------------------------------------------------------------------- reading


def _records(doc: Any) -> list[dict[str, Any]]:
    if isinstance(doc, list):
        return [r for r in doc if isinstance(r, dict)]
    if not isinstance(doc, dict):
        return []
    if isinstance(doc.get("results"), list):
        return _records(doc["results"])
    for key in ("result", "record"):
        if isinstance(doc.get(key), dict) and doc[key]:
            found = [doc[key]]
            if isinstance(doc.get("anatomy"), dict):
                found += _records(doc["anatomy"])
            return found
    if isinstance(doc.get("anatomy"), dict):
        return _records(doc["anatomy"])
    # A single record on its own.
    return [doc] if any(k in doc for k in ("reason_for_recall", "reason-for-recall")) else []


def parse_documents(content: bytes, source: str) -> list[dict[str, Any]]:
    """Raw records from JSON, JSON lines, gzip or a zip of those."""
    if content[:2] == b"\x1f\x8b":
        content = gzip.decompress(content)
    if content[:2] == b"PK":
        import io

        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            out: list[dict[str, Any]] = []
            for name in archive.namelist():
                if name.endswith((".json", ".jsonl")):
                    out += parse_documents(archive.read(name), f"{source}!{name}")
            return out
    text = content.decode("utf-8-sig", errors="replace").strip()
    if not text:
        return []
    try:
        return _records(json.loads(text))
    except json.JSONDecodeError:
        pass
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            out += _records(json.loads(line))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{source}: line {number} is not JSON ({exc.msg}); expected openFDA recall "
                "or enforcement JSON"
            ) from exc
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value if v)
    text = str(value).strip()
    return text or None


def _date(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) == 8 and text[:4].isdigit():
        return f"{digits[:4]}-{digits[4:6]}-{digits[6:8]}"
    m = re.match(r"(\d{2})/(\d{2})/(\d{4})", text)
    if m:
        return f"{m.group(3)}-{m.group(1)}-{m.group(2)}"
    return text[:10]


def parse_record(raw: dict[str, Any]) -> Recall | None:
    """A device recall from one openFDA record, or None for food/drug/unknown records."""
    rec = {k.replace("-", "_"): v for k, v in raw.items()}
    found = rec.get("openfda")
    openfda: dict[str, Any] = found if isinstance(found, dict) else {}
    description = _text(rec.get("product_description"))
    number = _text(rec.get("product_res_number")) or _text(rec.get("recall_number"))
    if number is None and description:
        # Old weekly reports put "Recall # Z-1234-2012" (one per product) in the text.
        found = [m.group(0) for m in _RECALL_NUMBER.finditer(description)]
        number = next((n for n in found if n.startswith("Z-")), found[0] if found else None)
    product_type = (_text(rec.get("product_type")) or "").lower()
    # FDA's recall number says the centre: Z devices, F food, D drugs, B biologics, V vet.
    is_device = (
        number.startswith("Z-")
        if number and _RECALL_NUMBER.fullmatch(number)
        else (product_type.startswith("device"))
    )
    if not is_device:
        return None
    kind = "recall" if "product_res_number" in rec or "res_event_number" in rec else "enforcement"
    body = json.dumps(raw, sort_keys=True, default=str).encode()
    sha = hashlib.sha256(body).hexdigest()
    firm = _text(rec.get("recalling_firm"))
    if firm and firm.lower().startswith("recalling firm:"):
        firm = firm.split(":", 1)[1].strip()
    if firm and kind == "enforcement" and re.search(r",\s*by\s", firm):
        firm = firm.split(",")[0].strip()  # old reports append the notification story
    return Recall(
        source=kind,
        recall_number=(number or f"sha256:{sha[:16]}")[:64],
        event_id=_text(rec.get("res_event_number")) or _text(rec.get("event_id")),
        recalling_firm=firm,
        product_code=(_text(rec.get("product_code")) or "")[:8].upper() or None,
        device_name=_text(openfda.get("device_name")),
        product_description=description,
        code_info=_text(rec.get("code_info")),
        reason=_text(rec.get("reason_for_recall")),
        classification=_text(rec.get("classification"))
        or (f"Class {openfda['device_class']}" if openfda.get("device_class") else None),
        status=_text(rec.get("recall_status")) or _text(rec.get("status")),
        initiated=_date(rec.get("event_date_initiated") or rec.get("recall_initiation_date")),
        k_numbers=tuple(str(k) for k in (rec.get("k_numbers") or []) if k),
        sha256=sha,
    )


def fetch(url: str, timeout: float = 60.0) -> bytes:
    """Download an openFDA file or API response (http or https only)."""
    if not url.lower().startswith(("http://", "https://")):
        raise InputError(f"{url}: only http(s) URLs can be fetched; give a file path otherwise")
    request = urllib.request.Request(url, headers={"User-Agent": "medsentry-recalls"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            data: bytes = response.read(MAX_DOWNLOAD + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise InputError(
            f"{url}: download failed ({exc}); check the address or use a file"
        ) from exc
    if len(data) > MAX_DOWNLOAD:
        raise InputError(f"{url}: larger than {MAX_DOWNLOAD // 2**20} MiB; download it first")
    return data


@dataclass
class ReadResult:
    recalls: list[Recall]
    skipped: int  # records that are not medical devices


def read_source(source: str) -> ReadResult:
    """Recalls from a file path or URL."""
    if "://" in source:
        content = fetch(source)
    else:
        try:
            content = Path(source).read_bytes()
        except OSError as exc:
            raise InputError(f"{source}: cannot read ({exc.strerror})") from exc
    raw = parse_documents(content, source)
    if not raw:
        raise InputError(f"{source}: no openFDA recall or enforcement records found")
    recalls = [r for r in (parse_record(x) for x in raw) if r is not None]
    return ReadResult(recalls, len(raw) - len(recalls))


# --------------------------------------------------------------------------- storing


def save_recalls(
    session: Session, recalls: Iterable[Recall], source_path: str | None, now: float | None = None
) -> tuple[int, int]:
    """Insert new recalls, refresh changed ones; returns (new, updated)."""
    at = now if now is not None else time.time()
    new = updated = 0
    for recall in {(r.source, r.recall_number): r for r in recalls}.values():
        row = session.scalar(
            select(RecallRow).where(
                RecallRow.source == recall.source, RecallRow.recall_number == recall.recall_number
            )
        )
        values = {
            "event_id": recall.event_id,
            "recalling_firm": recall.recalling_firm and recall.recalling_firm[:512],
            "product_code": recall.product_code,
            "device_name": recall.device_name and recall.device_name[:512],
            "product_description": recall.product_description,
            "code_info": recall.code_info,
            "reason": recall.reason,
            "classification": recall.classification and recall.classification[:32],
            "status": recall.status and recall.status[:64],
            "initiated": recall.initiated and recall.initiated[:10],
            "k_numbers": list(recall.k_numbers),
            "sha256": recall.sha256,
            "source_path": source_path and source_path[:1024],
            "imported_at": at,
        }
        if row is None:
            session.add(
                RecallRow(source=recall.source, recall_number=recall.recall_number, **values)
            )
            new += 1
        elif row.sha256 != recall.sha256:
            for key, value in values.items():
                setattr(row, key, value)
            updated += 1
    session.flush()
    return new, updated


def _from_row(row: RecallRow) -> Recall:
    return Recall(
        source=row.source,
        recall_number=row.recall_number,
        event_id=row.event_id,
        recalling_firm=row.recalling_firm,
        product_code=row.product_code,
        device_name=row.device_name,
        product_description=row.product_description,
        code_info=row.code_info,
        reason=row.reason,
        classification=row.classification,
        status=row.status,
        initiated=row.initiated,
        k_numbers=tuple(row.k_numbers or ()),
        sha256=row.sha256,
    )


# --------------------------------------------------------------------------- matching


@dataclass(frozen=True)
class Match:
    method: str
    confidence: float
    reason: str


def match_device(recall: Recall, device: DeviceInfo) -> Match | None:
    maker = device.manufacturer or device.vendor
    if not recall.recalling_firm or not maker or not same_maker(recall.recalling_firm, maker):
        return None
    haystack = norm_model(
        " ".join(t for t in (recall.product_description, recall.code_info, recall.device_name) if t)
    )
    model = norm_model(device.model)
    if len(model) >= 3 and model in haystack:
        return Match(
            "maker_model",
            0.9,
            f"{recall.recalling_firm} recalled a product naming model {device.model}",
        )
    codes = product_codes().get(device.type, frozenset())
    if recall.product_code and recall.product_code in codes:
        return Match(
            "maker_product_code",
            0.6,
            f"{recall.recalling_firm} recalled product code {recall.product_code}, "
            f"a code {device.type.replace('_', ' ')}s carry; model not confirmed",
        )
    return None


@dataclass(frozen=True)
class RecallFinding:
    id: int
    recall: Recall
    device: DeviceInfo | None
    device_id: int
    method: str
    confidence: float
    reason: str
    state: str
    first_seen: float
    updated_at: float

    def to_json(self) -> dict[str, Any]:
        r = self.recall
        return {
            "id": self.id,
            "recall_number": r.recall_number,
            "source": r.source,
            "firm": r.recalling_firm,
            "product_code": r.product_code,
            "classification": r.classification,
            "status": r.status,
            "initiated": r.initiated,
            "reason": r.reason,
            "device": self.device.label if self.device else self.device_id,
            "method": self.method,
            "confidence": self.confidence,
            "match_reason": self.reason,
            "state": self.state,
        }


def match_recalls(session: Session, now: float | None = None) -> tuple[int, int]:
    """Match every stored recall against every device; returns (new findings, refreshed)."""
    at = now if now is not None else time.time()
    obs = Observations(session)
    held = {
        (row.recall_pk, row.device_id): row for row in session.scalars(select(RecallFindingRow))
    }
    new = refreshed = 0
    for row in session.scalars(select(RecallRow)):
        recall = _from_row(row)
        for device in obs.devices:
            match = match_device(recall, device)
            if match is None:
                continue
            finding = held.get((row.id, device.id))
            if finding is None:
                session.add(
                    RecallFindingRow(
                        recall_pk=row.id,
                        device_id=device.id,
                        method=match.method,
                        confidence=match.confidence,
                        reason=match.reason,
                        state="open" if recall.open else "closed",
                        first_seen=at,
                        updated_at=at,
                    )
                )
                new += 1
            else:
                finding.method, finding.confidence = match.method, match.confidence
                finding.reason, finding.updated_at = match.reason, at
                refreshed += 1
    session.flush()
    return new, refreshed


def recall_findings(session: Session, state: str | None = None) -> list[RecallFinding]:
    obs = Observations(session)
    stmt = select(RecallFindingRow, RecallRow).join(
        RecallRow, RecallRow.id == RecallFindingRow.recall_pk
    )
    if state is not None:
        stmt = stmt.where(RecallFindingRow.state == state)
    out = []
    for finding, recall in session.execute(stmt.order_by(RecallFindingRow.id)):
        out.append(
            RecallFinding(
                id=finding.id,
                recall=_from_row(recall),
                device=obs.device_by_id.get(finding.device_id),
                device_id=finding.device_id,
                method=finding.method,
                confidence=finding.confidence,
                reason=finding.reason,
                state=finding.state,
                first_seen=finding.first_seen,
                updated_at=finding.updated_at,
            )
        )
    return out


def set_state(session: Session, finding_id: int, state: str, now: float | None = None) -> None:
    if state not in STATES:
        raise InputError(f"state must be one of {', '.join(STATES)}")
    row = session.get(RecallFindingRow, finding_id)
    if row is None:
        raise InputError(f"no recall finding {finding_id}")
    row.state = state
    row.updated_at = now if now is not None else time.time()
