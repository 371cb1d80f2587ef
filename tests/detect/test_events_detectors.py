"""Detectors that read protocol events and closed flows, on hand-made batch views:
DHCP rogue servers and starvation, DICOM bulk queries, clear-text PHI to the Internet,
new external peers of medical devices and device baselines."""

from __future__ import annotations

import numpy as np

from medsentry.capture.batch import PacketBatch
from medsentry.decode.packets import decode_batch
from medsentry.detect.base import Alert, BatchView, Category
from medsentry.detect.config import DetectConfig
from medsentry.detect.engine import DetectionEngine
from medsentry.flows.record import FlowRecord
from medsentry.protocols.base import ORIG, RESP, ProtocolEvent

EMPTY = decode_batch(PacketBatch.empty())
PACS, MODALITY, WORKSTATION = "10.1.0.10", "10.1.0.20", "10.1.0.99"


def view(
    events: list[ProtocolEvent] = (),  # type: ignore[assignment]
    flows: list[FlowRecord] = (),  # type: ignore[assignment]
    peers: dict[str, tuple[str, int, str, int]] | None = None,
) -> BatchView:
    return BatchView(EMPTY, np.zeros(0, np.int64), [], list(flows), list(events), dict(peers or {}))


def flow(uid: str, ts: float, orig: str, resp: str, port: int, proto: str = "tcp") -> FlowRecord:
    return FlowRecord(
        ts=ts, uid=uid, orig_h=orig, orig_p=50000, resp_h=resp, resp_p=port, proto=proto,
        duration=1.0, orig_bytes=100, resp_bytes=100, conn_state="SF", history="ShADadFf",
        orig_pkts=5, resp_pkts=5, orig_ip_bytes=300, resp_ip_bytes=300,
    )  # fmt: skip


def run(views: list[BatchView], only: list[str], config: DetectConfig | None = None) -> list[Alert]:
    engine = DetectionEngine(config, only=only, model=False)
    alerts: list[Alert] = []
    for v in views:
        alerts.extend(engine.observe(v))
    return alerts + engine.finish()


def dhcp(ts: float, uid: str, kind: str, server: str, client: str) -> ProtocolEvent:
    fields = {"server_id": server, "client_mac": client, "assigned_addr": "10.9.9.9"}
    return ProtocolEvent(ts, uid, "dhcp", kind, RESP, fields)


def test_second_dhcp_server_is_rogue() -> None:
    peers = {"C1": ("0.0.0.0", 68, "255.255.255.255", 67)}
    events = [
        dhcp(1.0, "C1", "offer", "10.0.0.1", "aa:aa:aa:aa:aa:01"),
        dhcp(2.0, "C1", "ack", "10.0.0.1", "aa:aa:aa:aa:aa:01"),
        dhcp(3.0, "C1", "offer", "10.0.0.66", "aa:aa:aa:aa:aa:02"),
    ]
    alerts = run([view(events, peers=peers)], ["dhcp"])
    assert [(a.category, a.src) for a in alerts] == [(Category.ROGUE_DHCP, "10.0.0.66")]
    assert alerts[0].evidence["known_servers"] == ["10.0.0.1"]
    # A configured list of servers decides instead of "first seen".
    config = DetectConfig.model_validate({"dhcp": {"known_servers": ["10.0.0.66"]}})
    alerts = run([view(events, peers=peers)], ["dhcp"], config)
    assert [a.src for a in alerts] == ["10.0.0.1"]


def dimse(ts: float, uid: str, command: str) -> ProtocolEvent:
    return ProtocolEvent(ts, uid, "dicom", "dimse", ORIG, {"command": command})


def associate(ts: float, uid: str, ae: str) -> ProtocolEvent:
    return ProtocolEvent(
        ts, uid, "dicom", "associate_rq", ORIG, {"calling_ae": ae, "called_ae": "PACS"}
    )


def test_dicom_bulk_query_names_the_ae() -> None:
    peers = {"Cq": (WORKSTATION, 50000, PACS, 104), "Cn": (MODALITY, 50001, PACS, 104)}
    events = [associate(0.0, "Cq", "HARVEST"), associate(0.0, "Cn", "CT1")]
    events += [dimse(1.0 + i, "Cq", "C-FIND-RQ") for i in range(60)]
    events += [dimse(1.0 + i, "Cq", "C-MOVE-RQ") for i in range(5)]
    events += [dimse(1.0 + i, "Cn", "C-FIND-RQ") for i in range(10)]  # ordinary worklist use
    alerts = run([view(events, peers=peers)], ["dicom"])
    assert [a.category for a in alerts] == [Category.DICOM_BULK_QUERY]
    alert = alerts[0]
    assert alert.src == WORKSTATION
    assert alert.evidence["calling_ae"] == "HARVEST"
    assert alert.counts["find"] == 60 and alert.counts["move"] == 5
    assert alert.dst == f"{PACS}:104"


def test_phi_in_clear_text_to_a_public_address_only() -> None:
    peers = {"Ci": (MODALITY, 50000, PACS, 2575), "Ce": (MODALITY, 50001, "93.184.216.34", 2575)}
    events = [
        ProtocolEvent(1.0, "Ci", "hl7", "message", ORIG, {"message_type": "ADT"}, phi=True),
        ProtocolEvent(2.0, "Ce", "hl7", "message", ORIG, {"message_type": "ADT"}, phi=True),
        ProtocolEvent(3.0, "Ce", "hl7", "message", ORIG, {"message_type": "ORU"}, phi=True),
    ]
    alerts = run([view(events, peers=peers)], ["phi"])
    assert [(a.category, a.src, a.dst) for a in alerts] == [
        (Category.PHI_CLEARTEXT, MODALITY, "93.184.216.34")
    ]
    assert alerts[0].counts["messages"] == 2
    config = DetectConfig.model_validate({"phi": {"alert_internal": True}})
    assert len(run([view(events, peers=peers)], ["phi"], config)) == 2


def test_new_public_peer_after_learning() -> None:
    peers = {"Ch": (MODALITY, 50000, PACS, 2575)}
    hl7 = ProtocolEvent(0.0, "Ch", "hl7", "message", ORIG, {"message_type": "ORU"})
    learn = [flow(f"Cl{i}", 10.0 * i, MODALITY, "52.95.110.1", 443) for i in range(5)]
    later = [
        flow("Cx1", 5000.0, MODALITY, "52.95.110.1", 443),  # known vendor cloud
        flow("Cx2", 5001.0, MODALITY, "45.33.32.156", 4444),  # never seen
        flow("Cx3", 5002.0, WORKSTATION, "93.184.216.347", 443),  # not a medical device
    ]
    alerts = run([view([hl7], learn, peers), view(flows=later)], ["external"])
    assert [(a.category, a.src, a.dst) for a in alerts] == [
        (Category.NEW_EXTERNAL_PEER, MODALITY, "45.33.32.156")
    ]
    assert alerts[0].evidence["ports"] == ["4444/tcp"]


def test_baseline_learns_then_reports_the_diff() -> None:
    config = DetectConfig.model_validate({"baseline": {"learning_s": 600, "min_learning_flows": 5}})
    peers = {"Ch": (MODALITY, 50000, PACS, 2575)}
    hl7 = ProtocolEvent(0.0, "Ch", "hl7", "message", ORIG, {"message_type": "ORU"})
    learning = [flow(f"Cl{i}", 60.0 * i, MODALITY, PACS, 2575) for i in range(12)]
    odd = [flow("Cz", 2000.0, MODALITY, "10.1.0.200", 22), flow("Cy", 2001.0, MODALITY, PACS, 2575)]
    engine = DetectionEngine(config, only=["baseline"], model=False)
    alerts = engine.observe(view([hl7], learning, peers))
    alerts += engine.observe(view(flows=odd))
    alerts += engine.finish()
    assert [(a.category, a.src) for a in alerts if a.src == MODALITY] == [
        (Category.BASELINE_DEVIATION, MODALITY)
    ]
    diff = next(a for a in alerts if a.src == MODALITY).evidence["diff"]
    assert diff["peers"] == ["10.1.0.200"]
    assert diff["ports"] == ["uses tcp/22"]
    profiles = {p["device"]: p for p in engine.baselines_json()}
    assert profiles[MODALITY]["state"] == "active"
    assert PACS in profiles[MODALITY]["peers"]
    assert "hl7:ORU" in profiles[MODALITY]["messages"]
