"""Devices, flows, events, captures, metrics and the audit trail over the demo capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from medsentry.api.auth.roles import Role
from tests.api.conftest import Api

FAKE_PHI = json.loads(
    (Path(__file__).resolve().parents[1] / "fixtures" / "captures" / "fake_phi.json").read_text()
)
PUMP = "mac:00:03:b1:4d:53:30"  # ICU Medical infusion pump in the demo capture
BROKER = "mac:b8:27:eb:4d:53:40"


def test_device_list_pages_sort_and_filter_consistently(api: Api) -> None:
    everything = api.get("/api/v1/devices?limit=500&sort=key&order=asc").json()
    keys = [d["key"] for d in everything["items"]]
    assert everything["total"] == len(keys) >= 10 and keys == sorted(keys)
    paged = []
    for offset in range(0, len(keys), 4):
        page = api.get(f"/api/v1/devices?limit=4&offset={offset}&sort=key&order=asc").json()
        assert page["total"] == everything["total"] and page["limit"] == 4
        paged += [d["key"] for d in page["items"]]
    assert paged == keys
    found = api.get("/api/v1/devices?search=10.77.0.30").json()
    assert [d["key"] for d in found["items"]] == [PUMP]
    assert api.get("/api/v1/devices?sort=nonsense").status_code == 422
    assert api.get("/api/v1/devices?limit=0").status_code == 422


def test_device_detail_has_identity_protocols_and_peers(api: Api) -> None:
    broker = api.get(f"/api/v1/devices/{BROKER}").json()
    assert {"proto": "tcp", "port": 1883} in broker["services"]
    assert {p["protocol"] for p in broker["protocols"]} == {"mqtt"}
    assert sum(p["count"] for p in broker["protocols"]) > 100
    peers = {p["ip"]: p for p in broker["peers"]}
    assert "10.77.0.41" in peers and peers["10.77.0.41"]["device_key"] == "mac:e0:c2:b7:4d:53:41"
    assert [p["bytes"] for p in broker["peers"]] == sorted(
        (p["bytes"] for p in broker["peers"]), reverse=True
    )
    assert api.get("/api/v1/devices/mac:ff:ff:ff:ff:ff:00").status_code == 404


def test_flows_and_events_filter_by_device_protocol_and_time(api: Api) -> None:
    flows = api.get(f"/api/v1/devices/{BROKER}/flows?limit=500").json()
    assert flows["total"] == len(flows["items"]) > 0
    assert all("10.77.0.40" in (f["id.orig_h"], f["id.resp_h"]) for f in flows["items"])
    mqtt = api.get("/api/v1/flows?port=1883&limit=500").json()["items"]
    assert mqtt and all(1883 in (f["id.orig_p"], f["id.resp_p"]) for f in mqtt)
    first = min(f["ts"] for f in flows["items"])
    later = api.get(f"/api/v1/devices/{BROKER}/flows?since={first + 0.000001}&limit=500").json()
    assert later["total"] == flows["total"] - sum(f["ts"] == first for f in flows["items"])
    events = api.get("/api/v1/events?protocol=hl7&limit=500").json()
    assert events["total"] > 0 and {e["protocol"] for e in events["items"]} == {"hl7"}
    phi = api.get("/api/v1/events?phi=true&limit=5").json()
    assert phi["total"] > 0 and all(e["phi"] for e in phi["items"])
    assert api.get("/api/v1/flows?device=mac:nope").status_code == 404


def test_no_patient_data_in_any_response_or_page(api: Api) -> None:
    bodies = [
        api.get("/api/v1/devices?limit=500").text,
        api.get("/api/v1/events?limit=500").text,
        api.get("/api/v1/events?limit=500&offset=500").text,
        api.get("/api/v1/flows?limit=500").text,
        api.get("/").text,
    ]
    for key in [d["key"] for d in api.get("/api/v1/devices?limit=500").json()["items"]]:
        bodies.append(api.get(f"/api/v1/devices/{key}").text)
        bodies.append(api.get(f"/devices/{key}").text)
    text_all = "\n".join(bodies).upper()
    assert "HL7" in text_all  # the bodies are real
    for secret in FAKE_PHI:
        assert secret.upper() not in text_all, f"patient data leaked: {secret}"


def test_metrics_are_prometheus_text(api: Api) -> None:
    api.get("/api/v1/devices")
    response = api.get("/api/v1/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    rows = {s.labels["table"]: s.value for s in families["medsentry_store_rows"].samples}
    assert rows["devices"] == api.get("/api/v1/devices").json()["total"]
    requests = families["medsentry_http_requests"].samples
    assert any(s.labels.get("route") == "/api/v1/devices" and s.value >= 1 for s in requests)


def test_views_and_changes_land_in_the_append_only_audit_log(api: Api) -> None:
    api.get(f"/api/v1/devices/{PUMP}", Role.ANALYST)
    api.client.get("/api/v1/devices")  # anonymous and refused: logged too
    entries = api.get("/api/v1/audit?limit=50", Role.ADMIN).json()["items"]
    view = next(e for e in entries if e["target"] == f"/api/v1/devices/{PUMP}")
    assert view["actor"] == "analyst" and view["via"] == "token" and view["action"] == "view"
    assert view["route"] == "/api/v1/devices/{key}" and view["status"] == 200
    assert any(e["actor"] == "anonymous" and e["status"] == 401 for e in entries)
    with api.store.engine.begin() as conn, pytest.raises(DatabaseError, match="append-only"):
        conn.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with api.store.engine.begin() as conn, pytest.raises(DatabaseError, match="append-only"):
        conn.execute(text("DELETE FROM audit_log"))


def test_security_headers_on_every_answer(api: Api) -> None:
    for response in (api.get("/api/v1/devices"), api.client.get("/login")):
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
