"""A pre-filled MDS2 draft from what was observed, and forms in the standard layout.

The draft answers only what traffic can show (patient data on the network, encryption,
authentication, ports, remote and external connections) and says on each line what it is
based on; everything else is left for the manufacturer. It can be written as a fresh sheet
in the standard layout (id | question | answer | note | basis) or into a blank form the user
supplies (``template``), keeping that form's own layout.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from medsentry.compliance.mds2.diff import PROTOCOLS, DeviceTraffic
from medsentry.compliance.mds2.questions import HN2019, forms_spec, known_ids
from medsentry.compliance.observe import INSECURE_SERVICE_PORTS, REMOTE_ACCESS_PORTS
from medsentry.errors import InputError

HEADER = ("Question ID", "Question", "Yes, No, N/A, or See Note", "Note #", "Basis")


@dataclass(frozen=True)
class DraftAnswer:
    answer: str
    basis: str
    note: str | None = None


def _sort_key(qid: str) -> tuple[int, list[int]]:
    sections = list(forms_spec().hn2019.sections)
    code, _, number = qid.partition("-")
    index = sections.index(code) if code in sections else len(sections)
    return index, [int(p) for p in number.split(".") if p.isdigit()]


def ordered_ids() -> list[str]:
    return sorted(known_ids(HN2019), key=_sort_key)


def topics() -> dict[str, str]:
    """HN 1-2019 id -> our short description, for the questions traffic can answer."""
    return {f.hn2019: f.topic for f in forms_spec().facts.values() if f.hn2019}


def observed_answers(traffic: DeviceTraffic) -> dict[str, DraftAnswer]:
    """Answers to HN 1-2019 questions that the devices' traffic supports."""
    out: dict[str, DraftAnswer] = {}
    devices = traffic.devices
    makers = sorted({d.manufacturer or d.vendor or "" for d in devices} - {""})
    models = sorted({d.model for d in devices if d.model})
    if makers:
        out["DOC-1"] = DraftAnswer(", ".join(makers), "inventory (manufacturer or MAC vendor)")
    if models:
        out["DOC-3"] = DraftAnswer(", ".join(models), "inventory (identified model)")
    clear = traffic.phi_cleartext
    protocols = ", ".join(sorted({PROTOCOLS.get(t.protocol, t.protocol) for t in clear}))
    if clear:
        basis = f"patient data seen in {protocols} traffic ({sum(t.messages for t in clear)} msgs)"
        out["MPII-1"] = DraftAnswer("Yes", basis)
        out["MPII-2.6"] = DraftAnswer("Yes", basis)
        out["MPII-3"] = DraftAnswer("Yes", basis)
        out["MPII-3.5"] = DraftAnswer("Yes", basis + " on the wired capture point")
        out["TXCF-2"] = DraftAnswer("No", f"patient data sent in clear text over {protocols}")
        receivers = {t.receiver for t in clear} | {t.sender for t in clear}
        out["TXCF-3"] = DraftAnswer(
            "See Note",
            f"patient data exchanged with {len(receivers - traffic.ips)} peer(s)",
            "Observed patient-data peers: "
            + ", ".join(traffic.obs.name(ip) for ip in sorted(receivers - traffic.ips)),
        )
    elif traffic.tls:
        out["TXCF-2"] = DraftAnswer("Yes", "no clear-text patient data; TLS in use")
    if traffic.phi_public:
        out["MPII-3.7"] = DraftAnswer("Yes", "patient data exchanged with internet addresses")
    sessions = traffic.unauthenticated
    if sessions:
        reasons = "; ".join(sorted({s.reason for s in sessions}))
        out["TXCF-4"] = DraftAnswer("No", reasons)
        out["NAUT-1"] = DraftAnswer("No", reasons)
    offered = traffic.ports("offers")
    used = traffic.ports("uses")
    if offered or used:
        listing = ", ".join(f"{p}/{proto} (open)" for proto, p in sorted(offered))
        listing += ("; " if listing and used else "") + ", ".join(
            f"{p}/{proto} (outbound)" for proto, p in sorted(used)
        )
        out["CONN-2"] = DraftAnswer("Yes", "ports seen in traffic", f"Ports seen: {listing}")
    internal = [
        c for c in traffic.obs.conversations if c.orig_h in traffic.ips or c.resp_h in traffic.ips
    ]
    if internal:
        out["CONN-3"] = DraftAnswer("Yes", f"{len(internal)} conversation path(s) seen")
    external = traffic.outbound_public + traffic.inbound_public
    if external:
        out["CONN-4"] = DraftAnswer("Yes", f"{len(external)} path(s) to or from internet addresses")
        out["CONN-6"] = DraftAnswer("See Note", "internet traffic seen; say whether it is required")
    if any(s.protocol == "http" for s in sessions) or any(p in (80, 443, 8080) for _, p in offered):
        out["CONN-5"] = DraftAnswer("Yes", "HTTP/FHIR API traffic seen")
    if traffic.tls:
        out["CONN-7"] = DraftAnswer("Yes", f"{len(traffic.tls)} TLS conversation path(s)")
    remote = traffic.remote_access_sessions
    if traffic.inbound_public or remote:
        names = sorted({REMOTE_ACCESS_PORTS[(c.proto, c.resp_p)] for c in remote})
        out["RMOT-1"] = DraftAnswer(
            "Yes",
            "inbound sessions from outside or remote access: " + (", ".join(names) or "internet"),
        )
    legacy = sorted(k for k in offered if k in INSECURE_SERVICE_PORTS)
    if legacy:
        out["SAHD-9"] = DraftAnswer(
            "No", "offers " + ", ".join(INSECURE_SERVICE_PORTS[k] for k in legacy)
        )
    if any(p == 123 and proto == "udp" for proto, p in used):
        out["AUDT-4.1.1"] = DraftAnswer("Yes", "NTP (udp/123) traffic seen")
    return out


def form_rows(
    answers: dict[str, DraftAnswer], *, all_questions: bool = True
) -> list[tuple[str, str, str, str, str]]:
    """Rows in the standard layout; notes are numbered and listed after the questions."""
    about = topics()
    ids = ordered_ids() if all_questions else sorted(answers, key=_sort_key)
    rows = []
    notes: list[str] = []
    for qid in ids:
        draft = answers.get(qid)
        note_ref = ""
        if draft is not None and draft.note:
            notes.append(draft.note)
            note_ref = f"Note {len(notes)}"
        rows.append(
            (
                qid,
                about.get(qid, ""),
                draft.answer if draft else "",
                note_ref,
                draft.basis if draft else "",
            )
        )
    rows += [(f"Note {i}", text, "", "", "") for i, text in enumerate(notes, 1)]
    return rows


def write_standard(
    path: Path,
    answers: dict[str, DraftAnswer],
    *,
    title: str,
    fmt: str | None = None,
) -> Path:
    """Write a form in the standard layout as XLSX or CSV (by ``fmt`` or the suffix)."""
    kind = (fmt or path.suffix.lstrip(".") or "xlsx").lower()
    rows = form_rows(answers)
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(HEADER)
        writer.writerows(rows)
        path.write_text(buffer.getvalue(), encoding="utf-8")
        return path
    if kind != "xlsx":
        raise InputError(f"unsupported draft format {kind!r}: use xlsx or csv")
    import openpyxl
    from openpyxl.styles import Font

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "mds2-form"
    sheet.append([title])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append(["Draft prepared from observed network traffic; every answer needs review."])
    sheet.append([])
    sheet.append(list(HEADER))
    for cell in sheet[4]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(list(row))
    for column, width in zip("ABCDE", (12, 60, 22, 10, 60), strict=True):
        sheet.column_dimensions[column].width = width
    book.save(path)
    return path


def fill_template(template: Path, out: Path, answers: dict[str, DraftAnswer]) -> int:
    """Write ``answers`` into the answer cells of a blank form; returns cells filled."""
    import warnings

    import openpyxl

    from medsentry.compliance.mds2.questions import normalise_id
    from medsentry.compliance.mds2.reader import _answer_column, _id_column

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(template)
    except Exception as exc:
        raise InputError(f"{template}: not a readable XLSX form ({exc})") from exc
    filled = 0
    for sheet in book.worksheets:
        grid = [[c.value for c in row[:16]] for row in sheet.iter_rows()]
        id_col, found = _id_column(grid)
        if found < 3:
            continue
        answer_col, note_col = _answer_column(grid, id_col)
        for r, row in enumerate(grid, start=1):
            norm = normalise_id(row[id_col] if id_col < len(row) else None)
            if norm is None or norm.version != HN2019 or norm.canonical not in answers:
                continue
            draft = answers[norm.canonical]
            sheet.cell(row=r, column=answer_col + 1, value=draft.answer)
            if note_col is not None and draft.note:
                sheet.cell(row=r, column=note_col + 1, value=draft.note)
            filled += 1
    if filled == 0:
        raise InputError(f"{template}: no HN 1-2019 question rows found to fill")
    book.save(out)
    return filled


def merge_declared(
    drafts: dict[str, DraftAnswer], declared: Iterable[tuple[str, str]]
) -> dict[str, DraftAnswer]:
    """Keep a form's own answers where traffic has nothing to say."""
    out = dict(drafts)
    for qid, text in declared:
        if qid not in out and text:
            out[qid] = DraftAnswer(text, "as declared in the imported form")
    return out
