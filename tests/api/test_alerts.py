"""Alert triage through the API and the dashboard: the queue's filters, acknowledge /
resolve / reopen / comment with roles and conflicts, the audit trail, device pages."""

from __future__ import annotations

from typing import Any

from medsentry.api.auth.roles import Role
from tests.api.conftest import Api
from tests.api.test_sessions import _form_token, sign_in

BROKER = "mac:b8:27:eb:4d:53:40"  # MQTT broker, target of two brute-force episodes
SENSOR = "mac:e0:c2:b7:4d:53:41"  # 10.77.0.41, the source of one of them
PUMP = "mac:00:03:b1:4d:53:30"


def _alerts(api: Api, query: str = "") -> dict[str, Any]:
    response = api.get(f"/api/v1/alerts{query}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_queue_filters_sorts_and_pages_like_the_other_lists(api: Api) -> None:
    everything = _alerts(api, "?limit=500")
    assert everything["total"] == len(everything["items"]) == 2
    first = everything["items"][0]
    assert first["category"] == "brute_force" and first["status"] == "open"
    assert first["dst"] == "10.77.0.40" and first["evidence"]["uids"]
    assert first["acknowledged_by"] is None and first["mitre"]

    assert _alerts(api, "?category=brute_force")["total"] == 2
    assert _alerts(api, "?category=dos")["total"] == 0
    assert _alerts(api, "?status=open&status=acknowledged")["total"] == 2
    assert _alerts(api, "?status=resolved")["total"] == 0
    assert _alerts(api, f"?device={BROKER}")["total"] == 2  # the target of both
    by_sensor = _alerts(api, f"?device={SENSOR}")
    assert [a["src"] for a in by_sensor["items"]] == ["10.77.0.41"]
    assert [a["src"] for a in _alerts(api, "?host=10.77.0.42")["items"]] == ["10.77.0.42"]
    assert _alerts(api, f"?device={PUMP}")["total"] == 0
    start = min(a["ts_start"] for a in everything["items"])
    assert _alerts(api, f"?until={start}")["total"] == 0
    ascending = _alerts(api, "?sort=ts_start&order=asc&limit=1")
    assert ascending["items"][0]["ts_start"] == start and ascending["limit"] == 1
    assert (
        _alerts(api, "?sort=ts_start&order=asc&limit=1&offset=1")["items"][0]["ts_start"] >= start
    )

    assert api.get("/api/v1/alerts?category=not_a_category").status_code == 422
    assert api.get("/api/v1/alerts?status=closed").status_code == 422
    assert api.get("/api/v1/alerts?device=mac:nope").status_code == 404


def test_triage_needs_the_analyst_role_records_who_and_refuses_conflicts(api: Api) -> None:
    alert = _alerts(api, "?host=10.77.0.41")["items"][0]
    base = f"/api/v1/alerts/{alert['id']}"
    analyst = api.auth(Role.ANALYST)

    assert api.client.post(f"{base}/acknowledge", headers=api.auth(Role.VIEWER)).status_code == 403
    acked = api.client.post(
        f"{base}/acknowledge", json={"note": "sensor firmware retries; checking"}, headers=analyst
    )
    assert acked.status_code == 200, acked.text
    assert acked.json()["status"] == "acknowledged"
    assert acked.json()["acknowledged_by"] == "analyst"
    again = api.client.post(f"{base}/acknowledge", headers=analyst)
    assert again.status_code == 409 and "already acknowledged by analyst" in again.json()["detail"]

    comment = api.client.post(
        f"{base}/comments", json={"text": "vendor confirms the retry bug"}, headers=analyst
    )
    assert comment.status_code == 201 and comment.json()["author"] == "analyst"
    assert (
        api.client.post(f"{base}/comments", json={"text": ""}, headers=analyst).status_code == 422
    )

    resolved = api.client.post(f"{base}/resolve", headers=analyst).json()
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == "analyst"
    assert api.client.post(f"{base}/resolve", headers=analyst).status_code == 409
    reopened = api.client.post(f"{base}/reopen", json={}, headers=analyst).json()
    assert reopened["status"] == "acknowledged" and reopened["resolved_at"] is None

    detail = api.get(base).json()
    assert [c["text"] for c in detail["comments"]] == [
        "sensor firmware retries; checking",
        "vendor confirms the retry bug",
    ]
    assert api.get(f"{base}/comments").json() == detail["comments"]
    assert _alerts(api, "?status=open")["total"] == 1
    assert api.get("/api/v1/alerts/" + "f" * 20).status_code == 404
    assert (
        api.client.post("/api/v1/alerts/" + "f" * 20 + "/resolve", headers=analyst).status_code
        == 404
    )

    # Every change is in the audit log, with who and which alert.
    entries = api.get("/api/v1/audit?limit=100", Role.ADMIN).json()["items"]
    changes = [(e["action"], e["actor"], e["detail"].get("alert")) for e in entries]
    for action in ("alert_acknowledge", "alert_comment", "alert_resolve", "alert_reopen"):
        assert (action, "analyst", alert["id"]) in changes, action


def test_device_detail_lists_the_alerts_that_involve_it(api: Api) -> None:
    broker = api.get(f"/api/v1/devices/{BROKER}").json()
    assert {a["src"] for a in broker["alerts"]} == {"10.77.0.41", "10.77.0.42"}
    assert broker["findings"] == [] and broker["risk"] is None
    assert api.get(f"/api/v1/devices/{PUMP}").json()["alerts"] == []


def test_the_dashboard_queue_acknowledges_with_htmx_and_csrf(api: Api) -> None:
    assert sign_in(api, "analyst").status_code == 303
    overview = api.client.get("/").text
    assert 'id="open-alerts"' in overview and '<rect class="sev-low"' in overview  # the chart
    page = api.client.get("/alerts")
    assert page.status_code == 200
    assert page.text.count('class="alert-row"') == 2
    assert "T1110" in page.text  # MITRE ATT&CK brute force
    alert = _alerts(api, "?host=10.77.0.42")["items"][0]
    url = f"/alerts/{alert['id']}/acknowledge"

    # Without the session's CSRF token the change is refused.
    assert api.client.post(url, headers={"HX-Request": "true"}).status_code == 403
    token = _form_token(page.text)
    fragment = api.client.post(url, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert fragment.status_code == 200
    assert 'data-status="acknowledged"' in fragment.text
    assert "acknowledged by analyst" in fragment.text and "<html" not in fragment.text
    # A plain form post (no scripts) goes back to the page it came from.
    plain = api.client.post(
        f"/alerts/{alert['id']}/resolve",
        data={"csrf_token": token},
        headers={"Referer": "http://127.0.0.1/alerts?status=all"},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/alerts?status=all"
    conflict = api.client.post(url, headers={"HX-Request": "true", "X-CSRF-Token": token})
    assert "already resolved" in conflict.text

    detail = api.client.get(f"/alerts/{alert['id']}")
    assert detail.status_code == 200 and "Sample flows" in detail.text
    commented = api.client.post(
        f"/alerts/{alert['id']}/comments",
        data={"text": "closed after the password change"},
        headers={"HX-Request": "true", "X-CSRF-Token": token},
    )
    assert "closed after the password change" in commented.text
    assert api.client.get("/alerts/" + "e" * 20).status_code == 404
    device = api.client.get(f"/devices/{BROKER}")
    assert device.text.count('href="/alerts/') >= 2 and "resolved" in device.text


def test_viewers_see_the_queue_without_triage_buttons(api: Api) -> None:
    assert sign_in(api, "viewer").status_code == 303
    page = api.client.get("/alerts?status=all")
    assert page.text.count('class="alert-row"') == 2
    assert "/acknowledge" not in page.text
