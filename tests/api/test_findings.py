"""Findings and VEX states through the API: listing, role checks, validation, history."""

from __future__ import annotations

import time

from medsentry.api.auth.roles import Role
from medsentry.store.models.vuln import ComponentRow, FindingRow, SbomRow
from tests.api.conftest import Api


def _finding(api: Api) -> int:
    now = time.time()
    with api.store.session() as session:
        sbom = SbomRow(
            sha256="e" * 64,
            format="cyclonedx",
            spec_version="1.5",
            manufacturer="ICU Medical",
            model="Plum 360",
            imported_at=now,
            component_count=1,
            quality={},
        )
        session.add(sbom)
        session.flush()
        comp = ComponentRow(
            sbom_id=sbom.id,
            ref="openssl",
            name="openssl",
            version="1.0.2k",
            purl="pkg:generic/openssl@1.0.2k",
            cpes=[],
            hashes=[],
            licenses=[],
            depends_on=[],
        )
        session.add(comp)
        session.flush()
        row = FindingRow(
            component_id=comp.id,
            advisory_source="csaf",
            advisory_id="ICSMA-00-000-00",
            vuln_id="CVE-2016-2107",
            method="purl",
            reason="version in the affected range",
            confidence=0.9,
            state="under_investigation",
            priority="P2",
            priority_score=7.5,
            first_seen=now,
            last_seen=now,
            updated_at=now,
            response=[],
        )
        session.add(row)
        session.flush()
        return row.id


def test_findings_are_listed_and_triaged_with_vex_states(api: Api) -> None:
    finding = _finding(api)
    listed = api.get("/api/v1/findings").json()
    assert listed["total"] == 1
    item = listed["items"][0]
    assert item["vuln_id"] == "CVE-2016-2107" and item["device"] == "ICU Medical Plum 360"
    assert api.get("/api/v1/findings?state=fixed").json()["total"] == 0

    url = f"/api/v1/findings/{finding}/state"
    change = {
        "state": "not_affected",
        "justification": "vulnerable_code_not_present",
        "comment": "TLS stack is not linked in this build",
    }
    assert api.client.post(url, json=change, headers=api.auth(Role.VIEWER)).status_code == 403
    missing = api.client.post(url, json={"state": "not_affected"}, headers=api.auth(Role.ANALYST))
    assert missing.status_code == 400 and "justification" in missing.json()["detail"]
    done = api.client.post(url, json=change, headers=api.auth(Role.ANALYST))
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "not_affected"
    history = api.get(f"/api/v1/findings/{finding}/history").json()
    assert history[-1]["actor"] == "analyst" and history[-1]["origin"] == "api"
    assert history[-1]["new_state"] == "not_affected"
    assert api.get("/api/v1/findings/999999/history").status_code == 404
