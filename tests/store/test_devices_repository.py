from __future__ import annotations

import pytest
from sqlalchemy import func, select

from medsentry.errors import InputError
from medsentry.inventory.device import Device
from medsentry.store import repository as repo
from medsentry.store.db import Store
from medsentry.store.models.core import DeviceIp, DevicePeer, DeviceRow, DeviceService

from .factories import make_device


def _capture(store: Store, tag: str) -> int:
    return repo.record_capture(store, tag * 64, f"/captures/{tag}.pcap", 1, 1, None, None)


def _row_counts(store: Store) -> dict[str, int]:
    with store.session() as session:
        return {
            model.__tablename__: int(
                session.execute(select(func.count()).select_from(model)).scalar_one()
            )
            for model in (DeviceRow, DeviceIp, DeviceService, DevicePeer)
        }


def _stored(store: Store, key: str) -> Device:
    device = repo.get_device(store, key)
    assert device is not None
    return device


def test_a_saved_device_reads_back_equal(store: Store) -> None:
    device = make_device()
    repo.save_devices(store, [device], _capture(store, "a"))
    assert _stored(store, device.key) == device
    assert repo.get_device(store, "mac:ff:ff:ff:ff:ff:ff") is None


def test_saving_the_same_capture_twice_does_not_double_anything(store: Store) -> None:
    capture = _capture(store, "a")
    devices = [make_device(), make_device("ip:10.0.0.99", ips={"10.0.0.99"})]
    repo.save_devices(store, devices, capture)
    counts = _row_counts(store)
    repo.save_devices(store, devices, capture)
    assert _row_counts(store) == counts
    for device in devices:
        assert _stored(store, device.key) == device


def test_a_later_save_of_the_same_capture_replaces_its_contribution(store: Store) -> None:
    # The pipeline may save while a capture is analysed; each save carries running totals.
    capture = _capture(store, "a")
    repo.save_devices(store, [make_device(bytes_sent=100, peers={"10.1.0.10": 10})], capture)
    final = make_device(bytes_sent=900, peers={"10.1.0.10": 90, "10.1.0.11": 5})
    repo.save_devices(store, [final], capture)
    stored = _stored(store, final.key)
    assert stored.bytes_sent == 900
    assert stored.peers == {"10.1.0.10": 90, "10.1.0.11": 5}


def test_a_different_capture_accumulates(store: Store) -> None:
    first, second = _capture(store, "a"), _capture(store, "b")
    day_one = make_device(
        ips={"10.0.0.1"},
        services={("tcp", 104)},
        uses={("udp", 53)},
        peers={"10.1.0.10": 5000, "10.1.0.53": 200},
        first_seen=100.0,
        last_seen=200.0,
    )
    day_two = make_device(
        ips={"10.0.0.2"},
        services={("tcp", 11112)},
        uses={("tcp", 2575)},
        peers={"10.1.0.10": 700, "10.2.0.1": 1},
        bytes_sent=10,
        bytes_received=20,
        packets_sent=1,
        packets_received=2,
        first_seen=150.0,
        last_seen=900.0,
    )
    repo.save_devices(store, [day_one], first)
    repo.save_devices(store, [day_two], second)
    repo.save_devices(store, [day_two], second)  # re-analysis of the second capture
    stored = _stored(store, day_one.key)
    assert stored.ips == {"10.0.0.1", "10.0.0.2"}
    assert stored.services == {("tcp", 104), ("tcp", 11112)}
    assert stored.uses == {("udp", 53), ("tcp", 2575)}
    assert stored.peers == {"10.1.0.10": 5700, "10.1.0.53": 200, "10.2.0.1": 1}
    assert stored.bytes_sent == day_one.bytes_sent + 10
    assert stored.bytes_received == day_one.bytes_received + 20
    assert stored.packets_sent == day_one.packets_sent + 1
    assert stored.packets_received == day_one.packets_received + 2
    assert (stored.first_seen, stored.last_seen) == (100.0, 900.0)


def test_identity_is_replaced_only_by_equal_or_higher_confidence(store: Store) -> None:
    first, second, third = (_capture(store, tag) for tag in "abc")
    sure = make_device(type="infusion_pump", manufacturer="BD", model="Alaris", confidence=0.9)
    repo.save_devices(store, [sure], first)
    guess = make_device(type="unknown", manufacturer=None, model=None, confidence=0.1, evidence=[])
    repo.save_devices(store, [guess], second)
    stored = _stored(store, sure.key)
    assert (stored.type, stored.manufacturer, stored.model, stored.confidence) == (
        "infusion_pump",
        "BD",
        "Alaris",
        0.9,
    )
    assert stored.evidence == sure.evidence
    better = make_device(
        type="patient_monitor",
        manufacturer="Philips",
        model="MX450",
        confidence=0.9,
        evidence=[{"source": "hl7", "sending_application": "MX450"}],
    )
    repo.save_devices(store, [better], third)
    stored = _stored(store, sure.key)
    assert (stored.type, stored.manufacturer, stored.model) == (
        "patient_monitor",
        "Philips",
        "MX450",
    )
    assert stored.evidence == better.evidence


def test_mac_and_vendor_are_kept_when_a_later_view_lacks_them(store: Store) -> None:
    first, second = _capture(store, "a"), _capture(store, "b")
    repo.save_devices(store, [make_device("ip:10.0.0.5", mac="02:00:00:00:00:05")], first)
    repo.save_devices(store, [make_device("ip:10.0.0.5", mac=None, vendor=None)], second)
    stored = _stored(store, "ip:10.0.0.5")
    assert stored.mac == "02:00:00:00:00:05"
    assert stored.vendor == "Acme Medical"


def test_many_devices_in_one_call(store: Store) -> None:
    capture = _capture(store, "a")
    devices = [
        make_device(f"ip:10.2.{i // 250}.{i % 250}", ips={f"10.2.{i // 250}.{i % 250}"})
        for i in range(2500)
    ]
    assert repo.save_devices(store, devices, capture) == 2500
    assert _row_counts(store)["devices"] == 2500
    assert _stored(store, devices[1234].key) == devices[1234]


def _seed_for_queries(store: Store) -> list[Device]:
    devices = [
        make_device(
            "mac:02:00:00:00:00:01",
            ips={"10.0.0.1"},
            vendor="Acme Medical",
            type="infusion_pump",
            manufacturer="BD",
            model="Alaris 8015",
            last_seen=300.0,
            bytes_sent=10,
            bytes_received=0,
        ),
        make_device(
            "mac:02:00:00:00:00:02",
            ips={"10.0.0.2"},
            vendor="Other Corp",
            type="patient_monitor",
            manufacturer="Philips",
            model="MX450",
            last_seen=100.0,
            bytes_sent=5000,
            bytes_received=0,
        ),
        make_device(
            "mac:02:00:00:00:00:03",
            ips={"10.0.5.77"},
            vendor=None,
            type="infusion_pump",
            manufacturer=None,
            model=None,
            last_seen=200.0,
            bytes_sent=700,
            bytes_received=0,
        ),
    ]
    repo.save_devices(store, devices, _capture(store, "q"))
    return devices


def test_device_filters_and_search(store: Store) -> None:
    _seed_for_queries(store)

    def keys(**filters: object) -> list[str]:
        page = repo.list_devices(store, sort="key", desc=False, **filters)  # type: ignore[arg-type]
        assert page.total == len(page.rows)
        return [d.key[-2:] for d in page.rows]

    assert keys() == ["01", "02", "03"]
    assert keys(type="INFUSION_PUMP") == ["01", "03"]
    assert keys(manufacturer="philips") == ["02"]
    assert keys(search="alaris") == ["01"]  # model, any case
    assert keys(search="10.0.5") == ["03"]  # an IP
    assert keys(search="00:02") == ["02"]  # the MAC
    assert keys(search="other") == ["02"]  # the vendor
    assert keys(search="%") == []  # wildcards are taken literally
    assert keys(type="infusion_pump", search="alaris") == ["01"]


def test_device_sorting_and_pagination(store: Store) -> None:
    _seed_for_queries(store)
    by_last_seen = repo.list_devices(store)  # default: most recently seen first
    assert [d.last_seen for d in by_last_seen.rows] == [300.0, 200.0, 100.0]
    by_bytes = repo.list_devices(store, sort="bytes", desc=False)
    assert [d.bytes_sent for d in by_bytes.rows] == [10, 700, 5000]
    # NULL manufacturers go last in both directions, on every database.
    for desc in (False, True):
        makers = [
            d.manufacturer for d in repo.list_devices(store, sort="manufacturer", desc=desc).rows
        ]
        assert makers[-1] is None
        assert makers[:2] == sorted(["BD", "Philips"], reverse=desc)
    page = repo.list_devices(store, sort="last_seen", limit=2, offset=1)
    assert page.total == 3
    assert [d.last_seen for d in page.rows] == [200.0, 100.0]
    with pytest.raises(InputError, match="choose one of"):
        repo.list_devices(store, sort="nonsense")
