from __future__ import annotations

from pathlib import Path

from medsentry.capture.batch import LINKTYPE_RAW, PacketBatch
from medsentry.capture.open import open_capture
from medsentry.decode.packets import decode_batch
from medsentry.flows.export import to_records
from medsentry.flows.table import FlowTable
from medsentry.inventory.device import Device
from medsentry.inventory.tracker import InventoryTracker
from tests.packets import ACK, SYN, eth_ipv4_tcp, ipv4, tcp

GW = "00:00:0c:00:00:01"  # a Cisco OUI
HOST = "00:09:02:00:00:02"


def analyse(batches: list[PacketBatch]) -> list[Device]:
    table = FlowTable()
    inv = InventoryTracker()
    for b in batches:
        d = decode_batch(b)
        _, closed = table.update(d)
        inv.observe(d)
        inv.observe_flows(to_records(closed))
    inv.observe_flows(to_records(table.flush()))
    return inv.finish()


def test_devices_by_mac_with_vendor_ips_services_and_peers() -> None:
    pkts = [
        eth_ipv4_tcp("10.0.0.5", "10.0.0.9", 40000, 2575, SYN, smac=HOST, dmac=GW),
        eth_ipv4_tcp("10.0.0.9", "10.0.0.5", 2575, 40000, SYN | ACK, smac=GW, dmac=HOST),
        eth_ipv4_tcp("10.0.0.5", "10.0.0.9", 40000, 2575, ACK, b"x" * 10, smac=HOST, dmac=GW),
    ]
    devices = {d.mac: d for d in analyse([PacketBatch.from_packets(pkts, [1.0, 1.1, 1.2])])}
    server, client = devices[GW], devices[HOST]
    assert server.vendor and "Cisco" in server.vendor
    assert server.ips == {"10.0.0.9"} and client.ips == {"10.0.0.5"}
    assert ("tcp", 2575) in server.services and ("tcp", 2575) in client.uses
    assert client.peers["10.0.0.9"] > 0
    assert client.packets_sent == 2 and server.packets_sent == 1
    assert client.first_seen == 1.0 and client.last_seen == 1.2


def test_router_mac_does_not_collect_internet_addresses() -> None:
    pkts = [
        eth_ipv4_tcp(f"198.51.100.{k}", "10.0.0.5", 443, 40000 + k, SYN | ACK, smac=GW, dmac=HOST)
        for k in range(1, 40)
    ]
    devices = {d.mac: d for d in analyse([PacketBatch.from_packets(pkts, [1.0] * len(pkts))])}
    router = devices[GW]
    assert len(router.ips) == 0
    assert any(e["source"] == "traffic.forwarding" for e in router.evidence)


def test_raw_ip_capture_makes_devices_per_address() -> None:
    pkts = [ipv4("10.1.1.1", "10.1.1.2", 6, tcp(1234, 1883, SYN))]
    devices = analyse([PacketBatch.from_packets(pkts, [5.0], LINKTYPE_RAW)])
    assert [d.key for d in devices] == ["ip:10.1.1.1"]
    assert devices[0].mac is None


def test_counts_accumulate_across_batches() -> None:
    one = eth_ipv4_tcp("10.0.0.5", "10.0.0.9", 40000, 80, SYN, smac=HOST, dmac=GW)
    batches = [PacketBatch.from_packets([one], [float(t)]) for t in range(5)]
    (dev,) = [d for d in analyse(batches) if d.mac == HOST]
    assert dev.packets_sent == 5 and dev.last_seen == 4.0


def test_arp_poisoner_holds_every_address_it_claims(corpus: Path) -> None:
    # The poisoning capture is ARP only: one MAC claims two addresses (tshark agrees).
    path = corpus / "pcaps" / "arp" / "sgr_na-arpSpoofing.pcap"
    devices = analyse(list(open_capture(path).batches()))
    assert [(d.mac, d.ips) for d in devices] == [
        ("00:e0:4d:3c:25:7b", {"10.0.0.153", "10.0.0.157"})
    ]
    assert devices[0].packets_sent == 36
