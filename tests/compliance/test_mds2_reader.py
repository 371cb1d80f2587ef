"""MDS2 import: the real forms of the corpus, forms built in the standard layouts, id
normalisation, answer parsing."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

from medsentry.compliance.mds2.export import DraftAnswer, write_standard
from medsentry.compliance.mds2.questions import (
    HN2013,
    HN2019,
    Answer,
    known_ids,
    normalise_id,
    parse_answer,
)
from medsentry.compliance.mds2.reader import declared_ports, parse_form, read_form
from medsentry.errors import InputError

NEMA_XLSX = "nema_example_mds2_worksheet_HN1-2019__LM-Tech-Solutions_parseMDS2.xlsx"


def _question_ids(corpus: Path) -> list[str]:
    rows = (corpus / "prove" / "mds2_questions.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t")[1] for line in rows[1:] if line.startswith("question\t")]


@pytest.mark.parametrize(
    ("raw", "canonical", "version"),
    [
        ("TXCF-2", "TXCF-2", HN2019),
        ("SHAD-15", "SAHD-15", HN2019),
        ("txcf 2", "TXCF-2", HN2019),
        ("TXCF–02.", "TXCF-2", HN2019),
        ("MPII-3.10", "MPII-3.10", HN2019),
        ("CONN-1.1.1", "CONN-1.1.1", HN2019),
        ("MLPD-2", "MLDP-2", HN2019),  # transposed letters
        ("18-2", "18-2", HN2013),
        ("18 – 2", "18-2", HN2013),
        ("TXCF 18-2", "18-2", HN2013),
        ("1-1.1.", "1-1.1", HN2013),
        ("D5", "D.5", HN2013),
        ("B.1", "B.1", HN2013),
    ],
)
def test_normalise_id(raw: str, canonical: str, version: str) -> None:
    norm = normalise_id(raw)
    assert norm is not None
    assert (norm.canonical, norm.version) == (canonical, version)
    assert (norm.change is None) == (raw == canonical)


@pytest.mark.parametrize("raw", [None, "", "Question ID", "Note 1", "MDS2", "NOTE", "99-1", "x"])
def test_non_ids(raw: object) -> None:
    assert normalise_id(raw) is None


@pytest.mark.parametrize(
    ("cell", "kind"),
    [
        ("Yes", Answer.YES),
        ("Yes,LDAP", Answer.YES),
        ("No: No end-of-life components", Answer.NO),
        ("N/A", Answer.NA),
        ("NA", Answer.NA),
        ("See Note 3", Answer.SEE_NOTE),
        ("____", Answer.BLANK),
        (None, Answer.BLANK),
        ("Note 1", Answer.TEXT),
        ("MediCapture Inc.", Answer.TEXT),
    ],
)
def test_parse_answer(cell: object, kind: Answer) -> None:
    assert parse_answer(cell)[0] is kind


def test_nema_example_worksheet(corpus: Path) -> None:
    form = read_form(corpus / "prove" / "mds2" / NEMA_XLSX)
    expected = _question_ids(corpus)
    assert form.version == HN2019
    assert len(form.answers) == len(expected) == 240
    assert {i.replace("SHAD", "SAHD") for i in expected} == set(form.answers)
    assert {"kind": "id_normalised", "detail": "SHAD-15 -> SAHD-15"} in form.issues
    assert form.device_description == "Handheld Blood Glucose Monitor"
    assert form.release_date == "2019-10-09"
    assert form.value("TXCF-2") is Answer.NO
    assert form.value("MPII-1") is Answer.YES
    assert form.answers["DOC-10"].note == "See Note 1"
    assert form.notes["5"] == "Proprietary serial interface cable."
    assert len(form.notes) == 8


def test_example_answers_match_the_transcription(corpus: Path) -> None:
    """The worksheet as read equals the corpus's own transcription of column C."""
    form = read_form(corpus / "prove" / "mds2" / NEMA_XLSX)
    tsv = corpus / "prove" / "mds2" / "nema_example_fictional_glucose_monitor_answers.tsv"
    with tsv.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    checked = 0
    for row in rows:
        if not row["answer_as_found"] or row["id"].startswith("DOC-7"):
            continue
        qid = normalise_id(row["id"])
        assert qid is not None
        assert form.answers[qid.canonical].text == row["answer_as_found"].strip(), row["id"]
        checked += 1
    assert checked > 200


def test_real_manufacturer_form(corpus: Path) -> None:
    form = read_form(corpus / "prove" / "mds2" / "medicapture_mvr_mtr_mds2_HN1-2019_answers.tsv")
    assert form.version == HN2019
    assert len(form.answers) == 240
    assert form.manufacturer == "MediCapture Inc."
    assert form.models == ["MVR435", "MVR436", "MVR450", "MVR460", "MTR133", "MTR156", "MTR245"]
    assert form.document_id == "MDS2-MVR"
    assert form.value("TXCF-2") is Answer.YES
    assert form.value("RMOT-1") is Answer.YES
    assert form.value("CONN-4") is Answer.NO
    assert form.answers["AUTH-1.1"].text == "Yes,LDAP"
    assert form.value("CONN-1") is Answer.BLANK  # "____" on the form


def _project_answers() -> dict[str, DraftAnswer]:
    return {
        "DOC-1": DraftAnswer("Example Medical", ""),
        "DOC-3": DraftAnswer("EX-100; EX-200", ""),
        "MPII-1": DraftAnswer("Yes", ""),
        "TXCF-2": DraftAnswer("No", ""),
        "CONN-2": DraftAnswer("Yes", "", "Ports: 2575/tcp, udp/123 and 443/tcp"),
        "RMOT-1": DraftAnswer("No", ""),
    }


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_project_built_2019_form_round_trip(tmp_path: Path, suffix: str) -> None:
    path = write_standard(tmp_path / f"form.{suffix}", _project_answers(), title="t")
    form = read_form(path)
    assert form.version == HN2019
    assert len(form.answers) == len(known_ids(HN2019))
    assert form.manufacturer == "Example Medical"
    assert form.models == ["EX-100", "EX-200"]
    assert form.value("TXCF-2") is Answer.NO
    assert form.value("SBOM-1") is Answer.BLANK
    assert declared_ports(form) == {("tcp", 2575), ("udp", 123), ("tcp", 443)}


def build_hn2013_form(path: Path) -> Path:
    """An HN 1-2013 form in that edition's layout, with the id spellings real forms use."""
    book = openpyxl.Workbook()
    sheet = book.active
    rows: list[list[object]] = [
        ["Manufacturer Disclosure Statement for Medical Device Security - MDS2"],
        ["DEVICE DESCRIPTION"],
        ["Device Category", "Manufacturer", "Document ID", "Document Release Date"],
        ["Infusion pump", "Example Infusion Co.", "MDS2-EIC-7", "2014-03-01"],
        ["Device Model", "Software Revision", "Software Release Date"],
        ["EIC-7 Pump", "4.2", "2014-01-10"],
        [],
        ["MANAGEMENT OF PRIVATE DATA", None, "Yes, No, N/A, or See Note", "Note #"],
        ["A", "Can this device display, transmit, or maintain private data?", "Yes", ""],
        ["D", "Mechanisms used for transmitting private data:", "", ""],
        ["D5", "Wired network connection?", "Yes", ""],
        ["D.6", "Integrated wireless network connection?", "No", ""],
        [],
        ["SECURITY CAPABILITIES", None, "Yes, No, N/A, or See Note", "Note #"],
        ["1", "AUTOMATIC LOGOFF (ALOF)"],
        ["1-1", "Force reauthorisation after inactivity?", "No", ""],
        ["1-1.1.", "Inactivity time configurable?", "N/A", ""],
        ["11", "NODE AUTHENTICATION (NAUT)"],
        ["11 - 1", "Node authentication supported?", "Yes", ""],
        ["15", "SYSTEM AND APPLICATION HARDENING (SAHD)"],
        ["15-7", "Unneeded ports closed?", "Yes", "1"],
        ["18", "TRANSMISSION CONFIDENTIALITY (TXCF)"],
        ["TXCF 18-1", "Point-to-point cable only?", "No", ""],
        ["18\u20132", "Private data encrypted before transmission?", "Yes", ""],
        ["18-3", "Fixed list of destinations?", "See Note", "2"],
        [],
        ["Note 1", "Open ports: TCP 443 only."],
        ["Note 2", "Destinations configured by the hospital."],
    ]
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def test_hn2013_form(tmp_path: Path) -> None:
    form = read_form(build_hn2013_form(tmp_path / "hn2013.xlsx"))
    assert form.version == HN2013
    assert form.manufacturer == "Example Infusion Co."
    assert form.models == ["EIC-7 Pump"]
    assert form.document_id == "MDS2-EIC-7"
    assert form.release_date == "2014-03-01"
    assert form.value("18-2") is Answer.YES
    assert form.value("D.5") is Answer.YES
    assert form.value("11-1") is Answer.YES
    assert form.value("1-1.1") is Answer.NA
    assert form.answers["18-3"].note == "2"
    changed = {i["detail"].split(" -> ")[0] for i in form.issues if i["kind"] == "id_normalised"}
    assert {"D5", "TXCF 18-1", "18\u20132", "11 - 1", "1-1.1."} <= changed
    assert form.notes["1"] == "Open ports: TCP 443 only."


def test_not_a_form(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,value\nfoo,1\nbar,2\n")
    with pytest.raises(InputError, match="no MDS2 question ids"):
        read_form(path)
    with pytest.raises(InputError, match="not a readable XLSX"):
        parse_form(b"PK\x03\x04 broken", "broken.xlsx")
    with pytest.raises(InputError, match="cannot read"):
        read_form(tmp_path / "missing.xlsx")
