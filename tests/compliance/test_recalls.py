"""openFDA recalls: the corpus's record shapes, matching to inventory devices, files and URLs."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from medsentry.compliance.recalls import (
    match_recalls,
    parse_documents,
    parse_record,
    read_source,
    recall_findings,
    save_recalls,
    set_state,
)
from medsentry.errors import InputError
from medsentry.store.db import Store

from . import builders as b


def _openfda(corpus: Path) -> Path:
    return corpus / "prove" / "openfda"


def test_recall_api_example(corpus: Path) -> None:
    result = read_source(str(_openfda(corpus) / "examples" / "device_recall_examples.json"))
    assert result.skipped == 0
    by_number = {r.recall_number: r for r in result.recalls}
    arrow = by_number["Z-0053-2020"]
    assert arrow.source == "recall"
    assert arrow.recalling_firm == "Arrow International Inc"
    assert arrow.product_code == "FOZ"
    assert arrow.status == "Terminated" and not arrow.open
    assert arrow.initiated == "2019-05-17"
    assert arrow.classification == "Class 2"
    assert "K900263" in arrow.k_numbers
    assert by_number["Z-0359-2013"].product_code == "NKB"


def test_enforcement_shapes(corpus: Path) -> None:
    one = read_source(str(_openfda(corpus) / "enforcement_legacy" / "one-recall.json"))
    assert [r.recall_number for r in one.recalls] == ["Z-1004-04"]
    assert one.recalls[0].recalling_firm == "Zimmer Inc. Warsaw"
    weekly = read_source(str(_openfda(corpus) / "enforcement_legacy" / "ucm308307.jsonl"))
    numbers = sorted(r.recall_number for r in weekly.recalls)
    # Seven device recalls; food, drug, biologics and veterinary records are left out.
    assert len(numbers) == 7 and all(n.startswith("Z-") for n in numbers)
    assert weekly.skipped == 71 - 7
    firms = {r.recall_number: r.recalling_firm for r in weekly.recalls}
    assert firms["Z-1793-2012"] == "Aesculap Implant Systems"
    example = read_source(str(_openfda(corpus) / "examples" / "device_enforcement_examples.json"))
    assert example.recalls[0].recalling_firm == "Encore Medical, Lp"
    assert example.recalls[0].initiated == "2012-07-16"


def test_non_device_and_broken_input(tmp_path: Path) -> None:
    food = {
        "results": [
            {"recall_number": "F-0001-2020", "product_type": "Food", "reason_for_recall": "x"}
        ]
    }
    path = tmp_path / "food.json"
    path.write_text(json.dumps(food))
    assert read_source(str(path)).recalls == []
    path.write_text("{not json\n")
    with pytest.raises(InputError, match="line 1 is not JSON"):
        read_source(str(path))
    path.write_text("{}")
    with pytest.raises(InputError, match="no openFDA"):
        read_source(str(path))
    with pytest.raises(InputError, match="only http"):
        read_source("ftp://example.org/x.json")
    assert parse_record({"recall_number": "D-0001-2020", "product_type": "Devices"}) is None


def test_match_to_inventory(corpus: Path, store: Store) -> None:
    # A Philips CT of the recalled model, a Philips monitor, an unrelated pump.
    b.device(
        store, "10.0.0.11", type="imaging_modality", manufacturer="Philips", model="Brilliance iCT"
    )
    b.device(
        store, "10.0.0.31", type="patient_monitor", manufacturer="Philips", model="IntelliVue MX450"
    )
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="ICU Medical", model="Plum 360")
    weekly = read_source(str(_openfda(corpus) / "enforcement_legacy" / "ucm308307.jsonl"))
    with store.session() as s:
        assert save_recalls(s, weekly.recalls, "ucm308307.jsonl") == (7, 0)
        assert save_recalls(s, weekly.recalls, "ucm308307.jsonl") == (0, 0)
        assert match_recalls(s) == (1, 0)
        assert match_recalls(s) == (0, 1)
    with store.session() as s:
        findings = recall_findings(s)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.recall.recall_number == "Z-1791-2012"
    assert finding.device is not None and "10.0.0.11" in finding.device.label
    assert finding.method == "maker_model" and finding.confidence >= 0.8
    assert finding.state == "open"
    with store.session() as s:
        set_state(s, finding.id, "resolved")
        with pytest.raises(InputError):
            set_state(s, finding.id, "gone")
    with store.session() as s:
        assert recall_findings(s, state="open") == []


def test_product_code_match_needs_the_maker(store: Store) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump", manufacturer="ICU Medical")
    b.device(store, "10.0.0.32", type="infusion_pump", manufacturer="Other Pumps")
    recall = {
        "product_res_number": "Z-0100-2025",
        "recalling_firm": "ICU Medical, Inc.",
        "product_code": "FRN",
        "product_description": "Large volume infusion system",
        "reason_for_recall": "Occlusion alarm may not sound",
        "recall_status": "Open, Classified",
    }
    with store.session() as s:
        save_recalls(s, [r for r in map(parse_record, [recall]) if r], None)
        match_recalls(s)
        findings = recall_findings(s)
    assert [f.device_id for f in findings] and len(findings) == 1
    assert findings[0].method == "maker_product_code"
    assert findings[0].confidence < 0.8
    assert "10.0.0.30" in findings[0].device.label  # type: ignore[union-attr]


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))

    class Quiet(http.server.ThreadingHTTPServer):
        def handle_error(self, request: object, client_address: object) -> None:
            pass

    server = Quiet(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_import_from_url(corpus: Path, tmp_path: Path, http_root: str) -> None:
    source = _openfda(corpus) / "examples" / "device_recall_examples.json"
    (tmp_path / "recalls.json").write_bytes(source.read_bytes())
    result = read_source(f"{http_root}/recalls.json")
    assert {r.recall_number for r in result.recalls} == {"Z-0053-2020", "Z-0359-2013"}
    with pytest.raises(InputError, match="download failed"):
        read_source(f"{http_root}/missing.json")


def test_jsonl_and_gzip(tmp_path: Path) -> None:
    import gzip

    lines = [
        json.dumps(
            {
                "recall_number": f"Z-00{i}-2024",
                "product_type": "Devices",
                "recalling_firm": "Acme",
                "reason_for_recall": "r",
            }
        )
        for i in range(3)
    ]
    raw = "\n".join(lines).encode()
    assert len(parse_documents(raw, "x")) == 3
    assert len(parse_documents(gzip.compress(raw), "x.gz")) == 3
