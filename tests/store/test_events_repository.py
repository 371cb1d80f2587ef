from __future__ import annotations

import pytest
from sqlalchemy import func, select

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.store import repository as repo
from medsentry.store.db import Store
from medsentry.store.models.core import EventRow

from .factories import make_flow


def _event(i: int, **changes: object) -> ProtocolEvent:
    values: dict[str, object] = {
        "ts": 1_700_000_000.0 + i,
        "uid": f"Cflow{i % 3:012d}",
        "protocol": "hl7",
        "kind": "message",
        "direction": ORIG if i % 2 == 0 else RESP,
        "fields": {"message_type": "ORU^R01", "control_id": f"MSG{i}", "segments": 4},
        "phi": i % 2 == 0,
    }
    values.update(changes)
    return ProtocolEvent(**values)  # type: ignore[arg-type]


def _count(store: Store) -> int:
    with store.session() as session:
        return int(session.execute(select(func.count()).select_from(EventRow)).scalar_one())


def test_digest_depends_on_identity_not_on_field_order() -> None:
    a = _event(1, fields={"x": 1, "y": [1, 2]})
    assert repo.event_digest(a) == repo.event_digest(_event(1, fields={"y": [1, 2], "x": 1}))
    assert len(repo.event_digest(a)) == 40
    for changed in (
        _event(1, fields={"x": 2, "y": [1, 2]}),
        _event(1, fields={"x": 1, "y": [1, 2]}, kind="ack"),
        _event(1, fields={"x": 1, "y": [1, 2]}, direction=ORIG),  # _event(1) is RESP
        _event(1, fields={"x": 1, "y": [1, 2]}, ts=a.ts + 1e-6),
        _event(1, fields={"x": 1, "y": [1, 2]}, uid="Cother"),
    ):
        assert repo.event_digest(changed) != repo.event_digest(a)


def test_events_round_trip_and_are_not_duplicated(store: Store) -> None:
    capture = repo.record_capture(store, "e" * 64, "/e.pcap", 1, 1, None, None)
    events = [_event(i) for i in range(12)]
    assert repo.save_events(store, events, capture) == 12
    assert repo.save_events(store, events + events[:3], capture) == 12
    assert _count(store) == 12
    page = repo.list_events(store, sort="ts", desc=False, limit=100)
    assert page.total == 12
    assert page.rows == events


def test_odd_field_values_are_stored_as_json(store: Store) -> None:
    event = _event(0, fields={"ratio": float("nan"), "raw": b"\x01\xff", "ports": {2, 1}})
    repo.save_events(store, [event], None)
    stored = repo.list_events(store).rows[0]
    assert stored.fields == {"ratio": None, "raw": "01ff", "ports": [1, 2]}
    repo.save_events(store, [event], None)  # the same odd event is still recognised
    assert _count(store) == 1


def test_event_filters(store: Store) -> None:
    repo.save_flows(
        store,
        [make_flow(0, orig_h="10.0.0.1"), make_flow(1, orig_h="10.0.0.2")],
        None,
    )
    events = [
        _event(0),  # uid 0
        _event(1),  # uid 1
        _event(3, protocol="mqtt", kind="connect", fields={"client_id": "pump-7"}),  # uid 0
        _event(5, kind="ack", fields={"ack_code": "AA"}),  # uid 2 (no stored flow)
    ]
    repo.save_events(store, events, None)

    def ts(**filters: object) -> list[float]:
        page = repo.list_events(store, sort="ts", desc=False, **filters)  # type: ignore[arg-type]
        assert page.total == len(page.rows)
        return [e.ts for e in page.rows]

    assert ts(protocol="MQTT") == [events[2].ts]
    assert ts(kind="ack") == [events[3].ts]
    assert ts(uid="Cflow000000000000") == [events[0].ts, events[2].ts]
    assert ts(ip="10.0.0.2") == [events[1].ts]
    assert ts(phi=True) == [e.ts for e in events if e.phi]
    assert ts(since=events[1].ts, until=events[3].ts) == [events[1].ts, events[2].ts]
    kinds = [e.kind for e in repo.list_events(store, sort="kind", desc=False).rows]
    assert kinds == sorted(kinds)
    with pytest.raises(repo.UnknownDeviceError):
        repo.list_events(store, device_key="mac:00:00:00:00:00:00")
