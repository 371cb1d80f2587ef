"""Network-level attacks in the reference captures: floods, ARP spoofing, scans.

Each attack capture must raise the right category naming the right attacker and target;
backscatter and benign captures must stay silent; alerts are one per episode.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from medsentry.detect.base import Alert, Category
from tests.detect.conftest import Analyse

pytestmark = pytest.mark.corpus


def _of(alerts: list[Alert], category: Category) -> list[Alert]:
    return [a for a in alerts if a.category == category]


# (capture, category, attacker (src) or None for spoofed/many, target or None)
ATTACKS = [
    ("dos/stopddos_pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng", Category.DDOS, None, "10.10.10.10"),
    ("dos/ppa1_dosattack.pcap", Category.DDOS, None, None),
    (
        "dos/suricata-verify/firewall/tcp-session-syn-flood-drop-precedence/input.pcap",
        Category.DOS,
        "192.0.2.10",
        "198.51.100.5",
    ),
    ("arp/sgr_na-arpSpoofing.pcap", Category.ARP_SPOOFING, "00:e0:4d:3c:25:7b", None),
    ("arp/sgr_hs-arpScan.pcap", Category.RECON_PING_SWEEP, "10.0.0.128", None),
    ("portscan/ppa1_portscan.pcap", Category.RECON_PORT_SCAN, "10.100.25.14", "10.100.18.12"),
    ("portscan/ppa3_synscan.pcapng", Category.RECON_PORT_SCAN, "172.16.0.8", "64.13.134.52"),
    ("portscan/ndpi_synscan.pcap", Category.RECON_PORT_SCAN, "172.16.0.8", "64.13.134.52"),
    ("portscan/ndpi_tcp_scan.pcapng", Category.RECON_PORT_SCAN, "192.168.1.178", "192.168.1.2"),
    (
        "portscan/esnet_masscan_tcp_0_1000_20190821.pcap",
        Category.RECON_PORT_SCAN,
        "172.31.15.102",
        "198.124.152.15",
    ),
    (
        "portscan/esnet_masscan_udp_0_1000_20190821.pcap",
        Category.RECON_PORT_SCAN,
        "172.31.15.102",
        "198.124.152.15",
    ),
    (
        "portscan/sgr_portScan_1_to_10000.pcapng",
        Category.RECON_PORT_SCAN,
        "192.168.1.7",
        "192.168.1.1",
    ),
    (
        "portscan/ppa3_activeosfingerprinting.pcapng",
        Category.RECON_OS_SCAN,
        "172.16.16.128",
        "172.16.16.150",
    ),
    ("portscan/sgr_hs-icmpScan.pcap", Category.RECON_PING_SWEEP, "10.0.0.128", None),
    ("portscan/sgr_hs-tcp_synPingSweepRand.pcapng", Category.RECON_PING_SWEEP, "10.0.0.128", None),
    ("portscan/sgr_hs-udpScan.pcap", Category.RECON_PING_SWEEP, "246.237.45.150", None),
    ("portscan/zeek_nmap-vsn.pcap", Category.RECON_PORT_SCAN, "192.168.1.71", None),
    (
        "portscan/esnet_nmap_nmap_80_vanilla.pcap",
        Category.RECON_PORT_SCAN,
        "10.87.1.10",
        "130.211.223.103",
    ),
    (
        "portscan/esnet_nmap_nmap_80_w_service_detection.pcap",
        Category.RECON_VULN_SCAN,
        "10.87.1.10",
        "130.211.223.103:80",
    ),
    (
        "portscan/esnet_nmap_nmap_80_all.pcap",
        Category.RECON_VULN_SCAN,
        "10.87.1.10",
        "130.211.223.103:80",
    ),
    ("bruteforce/zeek_ftp_bruteforce.pcap", Category.BRUTE_FORCE, "192.168.56.1", "192.168.56.101"),
    ("bruteforce/zeek_ssh_sshguess.pcap", Category.BRUTE_FORCE, "192.168.56.1", "192.168.56.103"),
    ("dhcp/suricata-verify/dhcp-request-flood/test.pcap", Category.DHCP_STARVATION, None, None),
    (
        "mqtt/suricata-verify/mqtt-events-invalid-qos/input.pcap",
        Category.MQTT_MALFORMED,
        "::1",
        None,
    ),
    (
        "mqtt/suricata-verify/mqtt-events-unassigned-msgtype/input.pcap",
        Category.MQTT_MALFORMED,
        "::1",
        None,
    ),
    (
        "mqtt/suricata-verify/mqtt-events-missing-connect/input.pcap",
        Category.MQTT_MALFORMED,
        "::1",
        None,
    ),
]


@pytest.mark.parametrize(("rel", "category", "src", "dst"), ATTACKS)
def test_attack_is_caught(
    analyse: Analyse, rel: str, category: Category, src: str | None, dst: str | None
) -> None:
    hits = _of(analyse(rel), category)
    assert len(hits) == 1, [a.to_json() for a in analyse(rel)]
    alert = hits[0]
    if src is not None:
        assert alert.src == src
    if dst is not None:
        assert alert.dst == dst or dst in alert.targets
    assert alert.ts_start <= alert.ts_end
    assert alert.mitre


# Zeek bro-simple-scan notice.log: (capture, scanner, kind of scan).
ZEEK_NOTICES = [
    ("445_scan", "176.192.150.3", "Address_Scan"),
    ("multiport_scan", "125.27.226.209", "Address_Scan"),
    ("port_scan", "192.168.2.154", "Port_Scan"),
    ("scan_with_zero_windows", "10.0.0.1", "Address_Scan"),
]
NOTICE_DIRS = {
    "445_scan": "tests.test_445_scan",
    "multiport_scan": "tests.test_mutiport_scan",
    "port_scan": "tests.test_port_scan",
    "scan_with_zero_windows": "tests.test_port_scan_with_zero_windows",
}


@pytest.mark.parametrize(("name", "scanner", "note"), ZEEK_NOTICES)
def test_zeek_notice_scans_are_found(
    analyse: Analyse, pcaps: Path, name: str, scanner: str, note: str
) -> None:
    notice = pcaps / "portscan/ncsa_simple_scan/expected" / NOTICE_DIRS[name] / "notice.log"
    fields = notice.read_text().split("\t")
    assert fields[0] == scanner and fields[2] == f"Scan::{note}"
    scans = _of(analyse(f"portscan/ncsa_simple_scan/{name}.pcap"), Category.RECON_PORT_SCAN)
    assert [a.src for a in scans] == [scanner]
    if note == "Port_Scan":
        victim = re.search(r"on host (\S+)", fields[3])
        assert victim is not None and scans[0].dst == victim.group(1)
        assert scans[0].counts["ports"] >= 5
    else:
        assert scans[0].name == "Address scan"
        assert scans[0].counts["hosts"] >= 5


BENIGN_FOLDERS = ("hl7", "dicom", "http", "tls_dns", "mixed")
MQTT_BENIGN = [
    "mqtt/zeek_mqtt.pcap",
    "mqtt/arkime_mqtt_big.pcap",
    "mqtt/arkime_mqtt_synthetic.pcap",
    "mqtt/ndpi_mqtt.pcap",
    "mqtt/ndpi_coap_mqtt.pcap",
    "mqtt/suricata-verify/mqtt-connect-rules/mqtt5_pub_jpeg.pcap",
    "mqtt/suricata-verify/mqtt-midstream-split/mqtt-midstream-split.pcap",
    "mqtt/suricata-verify/mqtt-frames-truncated/input.pcap",
    "mqtt/suricata-verify/mqtt-limit-2/input.pcap",
    "mqtt/suricata-verify/mqtt-ping/input.pcap",
    "mqtt/suricata-verify/mqtt31-pub-userpass/input.pcap",
    "mqtt/suricata-verify/mqtt311-pub-userpass/input.pcap",
    "mqtt/suricata-verify/mqtt311-sub-userpass/input.pcap",
    "mqtt/suricata-verify/mqtt311-unsub-qos1/input.pcap",
    "mqtt/suricata-verify/mqtt5-pub-mosquittoprops/input.pcap",
    "mqtt/suricata-verify/mqtt5-pub-qos2/input.pcap",
    "mqtt/suricata-verify/mqtt5-pub-userpass/input.pcap",
    "mqtt/suricata-verify/mqtt5-sub-customauth/input.pcap",
]


def test_benign_folders_are_silent(analyse: Analyse, pcaps: Path) -> None:
    """Every wired capture of the benign folders and the DHCP exchanges: no alert."""
    from medsentry.errors import UnsupportedCaptureError

    checked = 0
    noisy = {}
    files = [p for folder in BENIGN_FOLDERS for p in sorted((pcaps / folder).rglob("*.pcap*"))]
    files += [p for p in sorted((pcaps / "dhcp").rglob("*.pcap*")) if "flood" not in str(p)]
    for path in files:
        if path.suffix not in (".pcap", ".pcapng"):
            continue
        rel = str(path.relative_to(pcaps))
        try:
            alerts = analyse(rel)
        except UnsupportedCaptureError:
            continue  # 802.11 captures
        checked += 1
        if alerts:
            noisy[rel] = [a.name for a in alerts]
    assert checked >= 25
    assert noisy == {}


SILENT = [
    *MQTT_BENIGN,
    "dos/stopddos_amp.TCP.reflection.SYNACK.pcap",  # backscatter of someone else's flood
    "arp/arkime_cloudshark-arp.pcap",
    "arp/ppa3_arp_gratuitous.pcapng",
    "arp/ppa3_arp_resolution.pcapng",
    "arp/zeek_arp-leak.pcap",
    "arp/zeek_arp-who-has.pcap",
    "arp/tcpdump_arp-too-long-tha.pcap",
    "portscan/ppa3_passiveosfingerprinting.pcapng",
    "mixed/zeek_echo-connections.pcap",
]


@pytest.mark.parametrize("rel", SILENT)
def test_no_alert(analyse: Analyse, rel: str) -> None:
    assert [a.to_json() for a in analyse(rel)] == []


@pytest.mark.parametrize(
    ("rel", "category", "min_count", "key"),
    [
        ("dos/stopddos_pkt.TCP.DOMINATE.syn.ecn.cwr.pcapng", Category.DDOS, 9000, "packets"),
        ("portscan/sgr_portScan_1_to_10000.pcapng", Category.RECON_PORT_SCAN, 9000, "ports"),
        ("portscan/ppa3_synscan.pcapng", Category.RECON_PORT_SCAN, 1000, "ports"),
    ],
)
def test_one_alert_per_episode(
    analyse: Analyse, rel: str, category: Category, min_count: int, key: str
) -> None:
    alerts = analyse(rel)
    hits = _of(alerts, category)
    # Thousands of packets, one alert that counts them.
    assert len(hits) == 1
    assert hits[0].counts[key] >= min_count
    assert len({a.id for a in alerts}) == len(alerts)
