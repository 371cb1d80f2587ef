"""SBOM and advisory uploads as background jobs, the findings they make, device risk,
and the vulnerabilities page with its VEX state changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from medsentry.api.auth.roles import Role
from tests.api.conftest import DEMO, Api
from tests.api.test_sessions import _form_token, sign_in
from tests.vuln.test_findings import device_sbom

PUMP = "mac:00:03:b1:4d:53:30"  # ICU Medical Plum 360 in the demo capture
ADVISORY = "vuln/csaf/icsma/icsma-24-151-01.json"  # CVE-2024-5176, a Baxter tool


def _upload(api: Api, path: str, data: bytes, **params: str) -> dict[str, Any]:
    response = api.client.post(
        f"/api/v1/{path}", params=params, content=data, headers=api.auth(Role.ANALYST)
    )
    assert response.status_code == 202, response.text
    assert api.client.app.state.ctx.jobs.wait_idle(60)  # type: ignore[attr-defined]
    job: dict[str, Any] = api.get(f"/api/v1/jobs/{response.json()['id']}").json()
    return job


@pytest.fixture
def matched(api: Api, corpus: Path) -> Api:
    """The demo store with an advisory and an SBOM that links its finding to the pump."""
    advisory = _upload(
        api, "advisories", (corpus / ADVISORY).read_bytes(), filename="icsma-24-151-01.json"
    )
    assert advisory["state"] == "done", advisory
    assert advisory["kind"] == "advisory" and advisory["result"]["kind"] == "csaf"
    assert advisory["result"]["advisories"]["new"] == 1
    sbom = _upload(
        api,
        "sboms",
        json.dumps(device_sbom()).encode(),
        filename="plum.cdx.json",
        manufacturer="ICU Medical",
        model="Plum 360",
    )
    assert sbom["state"] == "done", sbom
    assert sbom["result"]["findings_new"] == 1 and sbom["result"]["components"] == 1
    return api


def test_uploads_make_findings_that_give_the_device_its_risk(matched: Api) -> None:
    api = matched
    (finding,) = api.get("/api/v1/findings").json()["items"]
    assert finding["vuln_id"] == "CVE-2024-5176" and finding["device"] == "ICU Medical Plum 360"
    risk = finding["priority"]
    assert risk in ("P1", "P2", "P3", "P4") and finding["priority_reason"]

    listed = api.get(f"/api/v1/devices?risk={risk}").json()
    assert [d["key"] for d in listed["items"]] == [PUMP] and listed["items"][0]["risk"] == risk
    assert [d["key"] for d in api.get("/api/v1/devices?risk=any").json()["items"]] == [PUMP]
    others = {"P1", "P2", "P3", "P4"} - {risk}
    assert all(api.get(f"/api/v1/devices?risk={p}").json()["total"] == 0 for p in others)
    everyone = api.get("/api/v1/devices?limit=500").json()["items"]
    assert {d["key"]: d["risk"] for d in everyone if d["risk"]} == {PUMP: risk}
    detail = api.get(f"/api/v1/devices/{PUMP}").json()
    assert detail["risk"] == risk and [f["vuln_id"] for f in detail["findings"]] == [
        "CVE-2024-5176"
    ]
    sboms = api.get("/api/v1/sboms").json()
    assert sboms["total"] == 1 and sboms["items"][0]["model"] == "Plum 360"

    # Once triaged as not affected, the finding no longer makes the device risky.
    change = {"state": "not_affected", "justification": "component_not_present"}
    response = api.client.post(
        f"/api/v1/findings/{finding['id']}/state", json=change, headers=api.auth(Role.ANALYST)
    )
    assert response.status_code == 200
    assert api.get("/api/v1/devices?risk=any").json()["total"] == 0
    assert api.get(f"/api/v1/devices/{PUMP}").json()["risk"] is None


def test_wrong_documents_are_refused_or_fail_their_job(api: Api) -> None:
    analyst = api.auth(Role.ANALYST)
    pcap = DEMO.read_bytes()
    for path in ("sboms", "advisories"):
        refused = api.client.post(f"/api/v1/{path}", content=pcap, headers=analyst)
        assert refused.status_code == 415, path
        assert api.client.post(f"/api/v1/{path}", content=b"{}").status_code == 401
        viewer = api.client.post(f"/api/v1/{path}", content=b"{}", headers=api.auth(Role.VIEWER))
        assert viewer.status_code == 403
    job = _upload(api, "sboms", b'{"hello": "world"}', filename="notes.json")
    assert job["state"] == "failed" and "neither CycloneDX" in job["error"]
    job = _upload(api, "advisories", b"name,colour\nx,y\n", filename="list.csv")
    assert job["state"] == "failed" and "not a recognised advisory format" in job["error"]
    assert not any(api.work_dir.iterdir()), "the temporary area is cleaned after each job"
    audit = api.get("/api/v1/audit?action=upload&limit=50", Role.ADMIN).json()["items"]
    assert {e["detail"]["kind"] for e in audit} == {"sbom", "advisory"}


def test_the_vulnerabilities_page_explains_priorities_and_changes_vex_states(
    matched: Api,
) -> None:
    api = matched
    assert sign_in(api, "analyst").status_code == 303
    page = api.client.get("/vulnerabilities")
    assert page.status_code == 200 and "CVE-2024-5176" in page.text
    assert page.text.count('class="finding-row"') == 1
    (finding,) = api.get("/api/v1/findings").json()["items"]
    assert finding["priority_reason"] in page.text
    token = _form_token(page.text)
    url = f"/findings/{finding['id']}/state"
    htmx = {"HX-Request": "true", "X-CSRF-Token": token}

    refused = api.client.post(url, data={"state": "not_affected"}, headers=htmx)
    assert refused.status_code == 200 and "needs a --justification" in refused.text
    assert 'data-state="affected"' in refused.text
    done = api.client.post(
        url,
        data={
            "state": "not_affected",
            "justification": "vulnerable_code_not_present",
            "comment": "tool not shipped with the pump",
        },
        headers=htmx,
    )
    assert 'data-state="not_affected"' in done.text and "<html" not in done.text
    history = api.client.get(f"/findings/{finding['id']}/history")
    assert "affected → not_affected" in history.text and "tool not shipped" in history.text
    assert "CVE-2024-5176" not in api.client.get("/vulnerabilities").text  # no longer open
    assert "CVE-2024-5176" in api.client.get("/vulnerabilities?state=all").text
    missing = api.client.get("/vulnerabilities?device=mac:nope")
    assert missing.status_code == 200 and "no device matches" in missing.text


def test_device_pages_and_the_overview_show_risk(matched: Api) -> None:
    api = matched
    assert sign_in(api, "viewer").status_code == 303
    (finding,) = api.get("/api/v1/findings").json()["items"]
    risk = finding["priority"]
    device = api.client.get(f"/devices/{PUMP}")
    assert f'<span class="prio {risk}">{risk}</span>' in device.text
    assert "CVE-2024-5176" in device.text
    devices = api.client.get(f"/devices?risk={risk}")
    assert devices.text.count('href="/devices/mac:') == 1 and PUMP in devices.text
    overview = api.client.get("/")
    assert 'id="top-risks"' in overview.text and "CVE-2024-5176" in overview.text
    vulns = api.client.get("/vulnerabilities").text
    assert "CVE-2024-5176" in vulns and 'class="vex"' not in vulns  # viewers cannot triage
