"""Recognition, validation, revisions and failure handling of advisory imports."""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from medsentry.errors import MedSentryError
from medsentry.store.db import Store
from medsentry.store.models.vuln import (
    AdvisoryRow,
    AffectedProductRow,
    CveRow,
    EpssRow,
    KevRow,
)
from medsentry.vuln.advisories.importer import import_paths, parse_document
from medsentry.vuln.model import ProductStatus

ICSMA = "csaf/icsma/icsma-24-151-01.json"


def _count(store: Store, model: Any) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_broken_json_names_file_and_position(tmp_path: Path, vuln_store: Store) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"document": {"csaf_version": "2.0",')
    with (
        pytest.raises(MedSentryError, match=r"broken\.json: not valid JSON .*line 1"),
        vuln_store.session() as session,
    ):
        import_paths(session, [bad])


def test_schema_violation_is_refused_and_nothing_already_imported_is_lost(
    vuln_corpus: Path, tmp_path: Path, vuln_store: Store
) -> None:
    with vuln_store.session() as session:
        import_paths(session, [vuln_corpus / ICSMA])
    doc = json.loads((vuln_corpus / ICSMA).read_text())
    doc["document"]["tracking"]["id"] = "ICSMA-TEST-BROKEN"
    doc["document"]["category"] = 42  # the schema wants a string
    bad = tmp_path / "wrong-schema.json"
    bad.write_text(json.dumps(doc))
    good = tmp_path / "other.json"
    doc2 = json.loads((vuln_corpus / ICSMA).read_text())
    doc2["document"]["tracking"]["id"] = "ICSMA-TEST-GOOD"
    good.write_text(json.dumps(doc2))
    with (
        pytest.raises(MedSentryError, match=r"wrong-schema\.json: does not follow the CSAF 2\.0"),
        vuln_store.session() as session,
    ):
        import_paths(session, [good, bad])
    # The batch was refused whole; the advisory stored before is still there.
    with vuln_store.session() as session:
        ids = set(session.scalars(select(AdvisoryRow.advisory_id)))
    assert ids == {"ICSMA-24-151-01"}

    with vuln_store.session() as session:
        summary = import_paths(session, [good, bad], skip_invalid=True)
    assert summary.new == 1
    assert summary.failures and summary.failures[0][0].endswith("wrong-schema.json")


def test_xml_and_unknown_documents_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(MedSentryError, match="not a recognised advisory format"):
        parse_document(b'{"hello": "world"}', "x.json")
    with pytest.raises(MedSentryError, match="not a recognised advisory format"):
        parse_document(b"a,b\n1,2\n", "x.csv")
    with pytest.raises(MedSentryError, match="broken gzip"):
        parse_document(b"\x1f\x8b\x08\x00garbage", "x.json.gz")


def test_newer_revision_replaces_older_and_older_is_ignored(
    vuln_corpus: Path, tmp_path: Path, vuln_store: Store
) -> None:
    original = json.loads((vuln_corpus / ICSMA).read_text())
    v1 = tmp_path / "v1.json"
    v1.write_text(json.dumps(original))
    newer = copy.deepcopy(original)
    tracking = newer["document"]["tracking"]
    tracking["revision_history"].append(
        {"date": "2030-01-01T00:00:00.000000Z", "number": "2", "summary": "Fixed versions"}
    )
    tracking["version"] = "2"
    tracking["current_release_date"] = "2030-01-01T00:00:00.000000Z"
    newer["vulnerabilities"][0]["product_status"] = {"fixed": ["CSAFPID-0001"]}
    v2 = tmp_path / "v2.json"
    v2.write_text(json.dumps(newer))

    with vuln_store.session() as session:
        assert import_paths(session, [v1]).new == 1
    with vuln_store.session() as session:
        assert import_paths(session, [v2]).updated == 1
    with vuln_store.session() as session:
        row = session.scalar(select(AdvisoryRow))
        assert row is not None and row.revision == "2"
        statuses = set(session.scalars(select(AffectedProductRow.status)))
    assert statuses == {ProductStatus.FIXED.value}
    with vuln_store.session() as session:
        again = import_paths(session, [v1])
    assert (again.older, again.updated) == (1, 0)
    with vuln_store.session() as session:
        row = session.scalar(select(AdvisoryRow))
        assert row is not None and row.revision == "2"


def test_kev_json_csv_and_cve5(vuln_corpus: Path, vuln_store: Store) -> None:
    kev_json = json.loads((vuln_corpus / "kev/known_exploited_vulnerabilities.json").read_text())
    with vuln_store.session() as session:
        summary = import_paths(
            session,
            [
                vuln_corpus / "kev/known_exploited_vulnerabilities.json",
                vuln_corpus / "kev/known_exploited_vulnerabilities.csv",
                vuln_corpus / "cve5",
            ],
        )
    assert summary.kinds == {"kev": 2, "cve5": len(list((vuln_corpus / "cve5").glob("*.json")))}
    assert _count(vuln_store, KevRow) == len({v["cveID"] for v in kev_json["vulnerabilities"]})
    with vuln_store.session() as session:
        record = session.get(CveRow, "CVE-2024-48966")
        assert record is not None and "CWE-306" in record.cwes
        adv = session.scalar(select(AdvisoryRow).where(AdvisoryRow.advisory_id == "CVE-2024-48966"))
        assert adv is not None
        product = adv.products[0]
        assert (product.vendor, product.product) == ("Baxter", "Life2000 Ventilation System")
        assert product.version_text == "06.08.00.00 and prior"


def test_epss_csv_plain_and_gzip(tmp_path: Path, vuln_store: Store) -> None:
    text = (
        "#model_version:v2023.03.01,score_date:2024-05-01T00:00:00+0000\n"
        "cve,epss,percentile\nCVE-2021-44228,0.97565,0.99995\nCVE-2020-11896,0.01,0.5\n"
    )
    (tmp_path / "epss.csv.gz").write_bytes(gzip.compress(text.encode()))
    with vuln_store.session() as session:
        summary = import_paths(session, [tmp_path / "epss.csv.gz"])
    assert summary.epss == 2
    with vuln_store.session() as session:
        row = session.get(EpssRow, "CVE-2021-44228")
        assert row is not None and row.score == pytest.approx(0.97565)
        assert row.score_date == "2024-05-01" and row.model_version == "v2023.03.01"
    bad = tmp_path / "bad.csv"
    bad.write_text("cve,epss,percentile\nCVE-2021-1,1.7,0.2\n")
    with pytest.raises(MedSentryError, match=r"bad\.csv: line 2"):
        parse_document(bad.read_bytes(), str(bad))


def test_osv_entry_becomes_purl_products_with_vers_ranges() -> None:
    entry = {
        "schema_version": "1.6.0",
        "id": "GHSA-xxxx-yyyy-zzzz",
        "modified": "2024-01-02T00:00:00Z",
        "published": "2024-01-01T00:00:00Z",
        "aliases": ["CVE-2024-0001"],
        "summary": "Prototype pollution",
        "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
        "affected": [
            {
                "package": {"ecosystem": "npm", "name": "@scope/lib"},
                "ranges": [
                    {
                        "type": "SEMVER",
                        "events": [
                            {"introduced": "0"},
                            {"fixed": "1.2.3"},
                            {"introduced": "2.0.0"},
                            {"fixed": "2.0.5"},
                        ],
                    },
                    {
                        "type": "GIT",
                        "repo": "https://example.org/r",
                        "events": [{"introduced": "a"}],
                    },
                ],
            },
            {
                "package": {"ecosystem": "Maven", "name": "org.example:core"},
                "versions": ["1.0", "1.1"],
            },
        ],
    }
    parsed = parse_document(json.dumps([entry]).encode(), "osv.json")
    assert parsed.kind == "osv"
    adv = parsed.advisories[0]
    assert adv.cves == ("CVE-2024-0001",)
    assert adv.scores[0].version == "3.1"
    purls = {(p.purl, p.vers) for p in adv.products}
    assert purls == {
        ("pkg:npm/%40scope/lib", "vers:semver/<1.2.3|>=2.0.0|<2.0.5"),
        ("pkg:maven/org.example/core", "vers:maven/1.0|1.1"),
    }


def test_nvd_response_becomes_cpe_products_and_cve_rows() -> None:
    response = {
        "format": "NVD_CVE",
        "version": "2.0",
        "vulnerabilities": [
            {
                "cve": {
                    "id": "CVE-2020-11896",
                    "published": "2020-06-17T11:15:11.107",
                    "lastModified": "2023-01-01T00:00:00.000",
                    "vulnStatus": "Analyzed",
                    "descriptions": [{"lang": "en", "value": "Treck TCP/IP stack issue."}],
                    "metrics": {
                        "cvssMetricV31": [
                            {
                                "source": "nvd@nist.gov",
                                "type": "Primary",
                                "cvssData": {
                                    "version": "3.1",
                                    "baseScore": 10.0,
                                    "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H",
                                    "baseSeverity": "CRITICAL",
                                },
                            }
                        ],
                        "cvssMetricV2": [
                            {
                                "source": "nvd@nist.gov",
                                "baseSeverity": "HIGH",
                                "cvssData": {
                                    "version": "2.0",
                                    "baseScore": 10.0,
                                    "vectorString": "AV:N/AC:L/Au:N/C:C/I:C/A:C",
                                },
                            }
                        ],
                    },
                    "weaknesses": [{"description": [{"lang": "en", "value": "CWE-20"}]}],
                    "configurations": [
                        {
                            "operator": "AND",
                            "nodes": [
                                {
                                    "operator": "OR",
                                    "cpeMatch": [
                                        {
                                            "vulnerable": True,
                                            "criteria": "cpe:2.3:a:treck:tcp\\/ip:*:*:*:*:*:*:*:*",
                                            "versionEndExcluding": "6.0.1.66",
                                            "matchCriteriaId": "A-1",
                                        }
                                    ],
                                },
                                {
                                    "operator": "OR",
                                    "cpeMatch": [
                                        {
                                            "vulnerable": False,
                                            "criteria": "cpe:2.3:o:vendor:rtos:-:*:*:*:*:*:*:*",
                                            "matchCriteriaId": "B-1",
                                        }
                                    ],
                                },
                            ],
                        }
                    ],
                    "references": [{"url": "https://example.org/a", "tags": ["Vendor Advisory"]}],
                }
            }
        ],
    }
    parsed = parse_document(json.dumps(response).encode(), "nvd.json")
    assert parsed.kind == "nvd"
    (adv,) = parsed.advisories
    (product,) = adv.products
    assert product.cpe == "cpe:2.3:a:treck:tcp\\/ip:*:*:*:*:*:*:*:*"
    assert product.vers == "vers:generic/<6.0.1.66"
    assert {s.version for s in adv.scores} == {"3.1", "2.0"}
    assert parsed.cve_rows[0]["cwes"] == ["CWE-20"]
