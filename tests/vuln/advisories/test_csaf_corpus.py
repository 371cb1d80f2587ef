"""All CISA ICSMA and sample ICSA CSAF files import, with products and CVEs counted against a
direct walk of each file's JSON."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from medsentry.store.db import Store
from medsentry.store.models.vuln import AdvisoryRow, AffectedProductRow
from medsentry.vuln.advisories.csaf import load_csaf
from medsentry.vuln.advisories.importer import import_paths


def _csaf_files(vuln_corpus: Path) -> list[Path]:
    return sorted((vuln_corpus / "csaf" / "icsma").glob("*.json")) + sorted(
        (vuln_corpus / "csaf" / "icsa_sample").glob("*.json")
    )


def _expected(doc: dict[str, Any]) -> tuple[set[tuple[str, str]], set[str]]:
    """(product id, status group) pairs and CVE ids, straight from the JSON."""
    pairs: set[tuple[str, str]] = set()
    cves: set[str] = set()
    for vuln in doc.get("vulnerabilities", []):
        if "cve" in vuln:
            cves.add(vuln["cve"])
        for group, ids in vuln.get("product_status", {}).items():
            simple = {
                "first_affected": "known_affected",
                "last_affected": "known_affected",
                "first_fixed": "fixed",
            }.get(group, group)
            pairs.update((pid, simple) for pid in ids)
    return pairs, cves


def test_corpus_has_the_documented_advisories(vuln_corpus: Path) -> None:
    files = _csaf_files(vuln_corpus)
    assert sum(1 for f in files if f.parent.name == "icsma") == 144
    assert sum(1 for f in files if f.parent.name == "icsa_sample") == 50


def test_each_advisory_parses_with_the_products_and_cves_of_its_json(vuln_corpus: Path) -> None:
    for path in _csaf_files(vuln_corpus):
        doc = json.loads(path.read_text())
        pairs, cves = _expected(doc)
        advisory = load_csaf(path)
        assert advisory.id == doc["document"]["tracking"]["id"]
        assert {(p.product_id, p.status.value) for p in advisory.products} == pairs, path.name
        assert set(advisory.cves) == cves, path.name


def test_all_194_import_into_the_store_and_reimport_is_idempotent(
    vuln_corpus: Path, vuln_store: Store
) -> None:
    files = _csaf_files(vuln_corpus)
    expected_products = Counter()
    expected_cves = {}
    for path in files:
        doc = json.loads(path.read_text())
        pairs, cves = _expected(doc)
        expected_products[doc["document"]["tracking"]["id"]] = len(pairs)
        expected_cves[doc["document"]["tracking"]["id"]] = cves

    with vuln_store.session() as session:
        summary = import_paths(
            session, [vuln_corpus / "csaf" / "icsma", vuln_corpus / "csaf" / "icsa_sample"]
        )
    assert summary.failures == []
    assert summary.new == 194
    assert summary.products == sum(expected_products.values())

    with vuln_store.session() as session:
        counts = dict(
            session.execute(
                select(AdvisoryRow.advisory_id, func.count(AffectedProductRow.id))
                .join(AffectedProductRow, isouter=True)
                .group_by(AdvisoryRow.advisory_id)
            ).all()
        )
        stored_cves = dict(session.execute(select(AdvisoryRow.advisory_id, AdvisoryRow.cves)).all())
    assert counts == dict(expected_products)
    assert {k: set(v) for k, v in stored_cves.items()} == expected_cves

    with vuln_store.session() as session:
        again = import_paths(session, [vuln_corpus / "csaf" / "icsma"])
    assert (again.new, again.updated, again.unchanged) == (0, 0, 144)
    with vuln_store.session() as session:
        assert session.scalar(select(func.count(AffectedProductRow.id))) == sum(
            expected_products.values()
        )


@pytest.mark.parametrize("name", ["icsma-24-151-01.json"])
def test_icsma_product_keeps_vendor_product_and_version_text(vuln_corpus: Path, name: str) -> None:
    doc = json.loads((vuln_corpus / "csaf" / "icsma" / name).read_text())
    branch = doc["product_tree"]["branches"][0]
    product_branch = branch["branches"][0]
    version_branch = product_branch["branches"][0]
    advisory = load_csaf(vuln_corpus / "csaf" / "icsma" / name)
    first = advisory.products[0]
    assert first.vendor == branch["name"]
    assert first.product == product_branch["name"]
    assert first.version_text == version_branch["name"]
    assert first.remediation  # the advisory names a vendor fix for it
