"""Compliance status per profile through the API and the dashboard: assessments,
history, attestations, and how alert triage changes the audit-control evidence."""

from __future__ import annotations

from typing import Any

from medsentry.api.auth.roles import Role
from tests.api.conftest import Api
from tests.api.test_sessions import _form_token, sign_in

AUDIT_CONTROL = "hipaa.164.312.b"  # audit controls: includes "alerts are acknowledged"


def _assess(api: Api, profile: str = "hospital") -> dict[str, Any]:
    response = api.client.post(
        f"/api/v1/compliance/{profile}/assess", headers=api.auth(Role.ANALYST)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _result(assessment: dict[str, Any], control: str) -> dict[str, Any]:
    return next(r for r in assessment["results"] if r["control"] == control)


def _alerts_evidence(assessment: dict[str, Any]) -> str:
    evidence = _result(assessment, AUDIT_CONTROL)["evidence"]
    return str(next(e["status"] for e in evidence if e["evaluator"] == "alerts.unacknowledged"))


def test_status_per_profile_assessments_and_history(api: Api) -> None:
    before = {p["profile"]: p for p in api.get("/api/v1/compliance").json()}
    assert set(before) == {"hospital", "manufacturer"}
    assert before["hospital"]["assessment_id"] is None and before["hospital"]["score"] is None
    assert api.get("/api/v1/compliance/hospital").status_code == 404
    assert api.get("/api/v1/compliance/nobody").status_code == 422
    viewer = api.client.post("/api/v1/compliance/hospital/assess", headers=api.auth(Role.VIEWER))
    assert viewer.status_code == 403

    done = _assess(api)
    assert done["actor"] == "analyst" and done["summary"]["controls"] == len(done["results"])
    # The demo capture carries clear-text HL7 with patient data: transmission security fails.
    assert _result(done, "hipaa.164.312.e.1")["status"] == "fail"
    latest = api.get("/api/v1/compliance/hospital").json()
    assert latest["id"] == done["id"] and latest["results"] == done["results"]
    status = {p["profile"]: p for p in api.get("/api/v1/compliance").json()}
    assert status["hospital"]["assessment_id"] == done["id"]
    assert status["hospital"]["score"] == done["summary"]["score"]
    assert sum(status["hospital"]["counts"].values()) == len(done["results"])
    assert status["manufacturer"]["assessment_id"] is None
    _assess(api)
    history = api.get("/api/v1/compliance/hospital/history").json()
    assert len(history) == 2 and history[0]["id"] > history[1]["id"]


def test_attestations_are_kept_and_count_in_the_next_assessment(api: Api) -> None:
    url = "/api/v1/attestations"
    body = {"control_id": "cpg.e2", "answer": "pass", "comment": "DMARC reject policy since May"}
    assert api.client.post(url, json=body, headers=api.auth(Role.VIEWER)).status_code == 403
    made = api.client.post(url, json=body, headers=api.auth(Role.ANALYST))
    assert made.status_code == 201, made.text
    assert made.json()["actor"] == "analyst" and made.json()["answer"] == "pass"
    unknown = api.client.post(
        url, json={**body, "control_id": "no.such.control"}, headers=api.auth(Role.ANALYST)
    )
    assert unknown.status_code == 404
    blank = api.client.post(url, json={**body, "comment": "   "}, headers=api.auth(Role.ANALYST))
    assert blank.status_code == 400
    trail = api.get(f"{url}?control=cpg.e2").json()
    assert [(a["control_id"], a["answer"]) for a in trail] == [("cpg.e2", "pass")]
    assert _result(_assess(api), "cpg.e2")["status"] == "pass"


def test_acknowledging_every_alert_turns_the_alert_evidence_to_pass(api: Api) -> None:
    # The demo's alerts wait unacknowledged (overdue or not, depending on the clock).
    assert _alerts_evidence(_assess(api)) in ("fail", "partial")
    for alert in api.get("/api/v1/alerts").json()["items"]:
        response = api.client.post(
            f"/api/v1/alerts/{alert['id']}/acknowledge", headers=api.auth(Role.ANALYST)
        )
        assert response.status_code == 200
    assert _alerts_evidence(_assess(api)) == "pass"


def test_the_compliance_pages_show_status_and_let_analysts_assess_and_attest(api: Api) -> None:
    assert sign_in(api, "analyst").status_code == 303
    page = api.client.get("/compliance")
    assert page.status_code == 200 and page.text.count('data-assessed="no"') == 2
    token = _form_token(page.text)
    assert api.client.post("/compliance/hospital/assess").status_code == 403  # no CSRF token
    ran = api.client.post(
        "/compliance/hospital/assess", data={"csrf_token": token}, follow_redirects=False
    )
    assert ran.status_code == 303 and ran.headers["location"] == "/compliance/hospital"
    page = api.client.get("/compliance")
    assert 'id="profile-hospital" data-assessed="yes"' in page.text
    profile = api.client.get("/compliance/hospital")
    assert 'id="control-hipaa.164.312.e.1" class="control-row" data-status="fail"' in profile.text
    attested = api.client.post(
        "/compliance/hospital/attest",
        data={
            "csrf_token": token,
            "control_id": "cpg.e2",
            "answer": "pass",
            "comment": "DMARC enforced",
        },
        follow_redirects=False,
    )
    assert attested.status_code == 303 and "attested=cpg.e2" in attested.headers["location"]
    shown = api.client.get(attested.headers["location"])
    assert "Attestation for cpg.e2 recorded" in shown.text and "DMARC enforced" in shown.text
    wrong = api.client.post(
        "/compliance/manufacturer/attest",
        data={"csrf_token": token, "control_id": "cpg.e2", "answer": "pass", "comment": "x"},
    )
    assert wrong.status_code == 400 and "hospital profile" in wrong.text
    overview = api.client.get("/")
    assert 'data-profile="hospital"' in overview.text and "not assessed" in overview.text


def test_viewers_read_compliance_but_cannot_change_it(api: Api) -> None:
    _assess(api)
    assert sign_in(api, "viewer").status_code == 303
    profile = api.client.get("/compliance/hospital")
    assert profile.status_code == 200 and "/attest" not in profile.text
    assert "Assess now" not in api.client.get("/compliance").text
