"""DHCP parser: hand-built messages, and the corpus against Zeek, Suricata, tcpdump, tshark."""

from __future__ import annotations

import json
import re
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml
from net_replay import (
    FIXTURES,
    Datagram,
    as_list,
    pipeline_events,
    tshark_rows,
    udp_datagrams,
    zeek_log,
)

from medsentry.protocols.base import ORIG, RESP, ProtocolEvent
from medsentry.protocols.dhcp import parse_dhcp

MAC = bytes.fromhex("0050569a0b0c")


def dhcp_message(options: bytes, op: int = 1, xid: int = 0x1234, yiaddr: str = "0.0.0.0") -> bytes:
    header = struct.pack("!BBBBIHH", op, 1, 6, 0, xid, 0, 0x8000)
    addrs = bytes(4) + bytes(int(x) for x in yiaddr.split(".")) + bytes(8)
    chaddr = MAC + bytes(10)
    return header + addrs + chaddr + bytes(64 + 128) + b"\x63\x82\x53\x63" + options + b"\xff"


def opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def parse(payload: bytes, direction: int = ORIG) -> ProtocolEvent:
    (event,) = parse_dhcp(payload, 1.0, "U1", direction)
    return event


def test_discover_fingerprint_fields() -> None:
    options = (
        opt(53, b"\x01")
        + opt(61, b"\x01" + MAC)
        + opt(12, b"infusion-pump-12")
        + opt(60, b"BD Alaris PC 8015")
        + opt(55, bytes([1, 3, 6, 15, 119, 252]))
        + opt(161, b"https://mud.example.com/pump.json")
        + opt(81, b"\x05\x00\x00" + b"\x04pump\x07example\x03com\x00")
        + opt(82, b"\x01\x04port\x02\x02ab")
        + opt(50, bytes([10, 1, 2, 3]))
    )
    event = parse(dhcp_message(options))
    f = event.fields
    assert event.kind == "discover" and f["msg_type"] == 1
    assert f["client_mac"] == "00:50:56:9a:0b:0c"
    assert (f["client_id_type"], f["client_id"]) == (1, "00:50:56:9a:0b:0c")
    assert f["hostname"] == "infusion-pump-12"
    assert f["vendor_class"] == "BD Alaris PC 8015"
    assert f["param_request_list"] == "1,3,6,15,119,252"
    assert f["mud_url"] == "https://mud.example.com/pump.json"
    assert f["client_fqdn"] == "pump.example.com"
    assert f["relay_agent_info"] is True and f["relay_agent_suboptions"] == [1, 2]
    assert f["requested_addr"] == "10.1.2.3"
    assert f["options"] == [53, 61, 12, 60, 55, 161, 81, 82, 50]
    assert f["xid"] == 0x1234 and f["broadcast"] is True


def test_ack_lease_fields() -> None:
    options = (
        opt(53, b"\x05")
        + opt(54, bytes([10, 0, 0, 1]))
        + opt(51, (3600).to_bytes(4, "big"))
        + opt(3, bytes([10, 0, 0, 1, 10, 0, 0, 2]))
        + opt(33, bytes([10, 9, 0, 0, 10, 0, 0, 254]))
    )
    event = parse(dhcp_message(options, op=2, yiaddr="10.0.0.50"), RESP)
    f = event.fields
    assert event.kind == "ack" and event.direction == RESP
    assert (f["assigned_addr"], f["server_id"], f["lease_time"]) == ("10.0.0.50", "10.0.0.1", 3600)
    assert f["routers"] == ["10.0.0.1", "10.0.0.2"]
    assert f["static_routes"] == [{"destination": "10.9.0.0", "router": "10.0.0.254"}]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"\x01\x01\x06\x00" + bytes(100), "truncated"),
        (b"\x07" + dhcp_message(opt(53, b"\x01"))[1:], "invalid_op"),
        (dhcp_message(opt(53, b"\x01"))[:2] + b"\x20" + dhcp_message(b"")[3:], "invalid_hlen"),
        (dhcp_message(opt(53, b"\x01"))[:-1] + b"\x0c\x40abc", "truncated_option"),
    ],
)
def test_malformed(payload: bytes, reason: str) -> None:
    event = parse(payload)
    assert event.kind == "malformed"
    assert event.fields["reason"] == reason


def test_truncated_option_keeps_what_came_before() -> None:
    event = parse(dhcp_message(opt(53, b"\x03") + opt(12, b"monitor-4"))[:-1] + b"\x3c\x40MSFT")
    assert event.kind == "malformed"
    assert event.fields["msg_type"] == 3
    assert event.fields["hostname"] == "monitor-4"


def test_bad_option_value_is_noted_not_fatal() -> None:
    event = parse(dhcp_message(opt(53, b"\x02") + opt(54, b"\x0a\x00") + opt(33, b"abc")), RESP)
    assert event.kind == "offer"
    assert event.fields["bad_options"] == [54, 33]
    assert "server_id" not in event.fields


def test_plain_bootp_and_overloaded_options() -> None:
    no_cookie = dhcp_message(b"")[:236] + b"\x00" * 64
    assert parse(no_cookie).kind == "bootp"
    msg = bytearray(dhcp_message(opt(53, b"\x03") + opt(52, b"\x01")))
    msg[108:120] = opt(12, b"in-file") + b"\xff\x00\x00"  # option 12 in the "file" field
    event = parse(bytes(msg))
    assert event.kind == "request" and event.fields["hostname"] == "in-file"


def test_hostname_drops_trailing_nul() -> None:
    assert parse(dhcp_message(opt(53, b"\x03") + opt(12, b"nas1\x00"))).fields["hostname"] == "nas1"


# -- corpus ------------------------------------------------------------------------------------


def _events(path: Path) -> list[tuple[Datagram, ProtocolEvent]]:
    out = []
    for dg in udp_datagrams(path):
        direction = ORIG if dg.dst[1] == 67 else RESP
        (event,) = parse_dhcp(dg.payload, dg.ts, "U", direction)
        out.append((dg, event))
    return out


def _zeek_like_rows(events: list[ProtocolEvent]) -> list[dict[str, Any]]:
    """Our events folded per transaction id, the way Zeek's dhcp.log folds them."""
    rows: dict[int, dict[str, Any]] = {}
    for e in events:
        f = e.fields
        row = rows.setdefault(f["xid"], {"mac": f["client_mac"], "msg_types": []})
        row["msg_types"].append(e.kind.upper())
        if e.direction == ORIG:
            for ours, theirs in (("hostname", "host_name"), ("requested_addr", "requested_addr")):
                if ours in f:
                    row[theirs] = f[ours]
        else:
            for ours, theirs in (
                ("domain", "domain"),
                ("lease_time", "lease_time"),
                ("message", "server_message"),
                ("server_id", "server_addr"),
            ):
                if ours in f:
                    row[theirs] = f[ours]
            if e.kind == "ack" and f["assigned_addr"] != "0.0.0.0":
                row["assigned_addr"] = f["assigned_addr"]
    return list(rows.values())


@pytest.mark.parametrize(
    ("pcap", "log"),
    [
        ("zeek_dhcp.pcap", "dhcp-all-msg-types"),
        ("zeek_dhcp_inform.pcap", "inform"),
        ("zeek_dhcp_discover_param_req_and_client_id.pcap", "dhcp-discover-msg-types"),
    ],
)
def test_zeek_dhcp_log(corpus: Path, pcap: str, log: str) -> None:
    base = corpus / "pcaps" / "dhcp"
    ours = _zeek_like_rows([e for _, e in _events(base / pcap)])
    rows = zeek_log(base / "zeek_expected" / f"scripts.base.protocols.dhcp.{log}" / "dhcp.log")
    for row in rows:
        (mine,) = [r for r in ours if r["msg_types"] == row["msg_types"].split(",")]
        assert mine["mac"] == row["mac"]
        for key in ("host_name", "domain", "requested_addr", "assigned_addr", "server_message"):
            assert mine.get(key, "-") == row[key], key
        if row["lease_time"] != "-":
            assert mine["lease_time"] == float(row["lease_time"])
        if row["server_addr"] != "-":
            assert mine["server_addr"] == row["server_addr"]
    assert len(ours) == len(rows)


def test_zeek_time_and_nameserver_options(corpus: Path) -> None:
    base = corpus / "pcaps" / "dhcp"
    expected = {}
    stdout = base / "zeek_expected/scripts.base.protocols.dhcp.dhcp-time-nameserver-events/.stdout"
    for line in stdout.read_text().splitlines():
        if not line.startswith("#") and ", " in line:
            key, value = line.split(", ", 1)
            expected[key] = value
    (ack,) = [e for _, e in _events(base / "zeek_dhcp_time_and_nameserver.pcap") if e.kind == "ack"]
    f = ack.fields
    assert f["time_offset"] == int(expected["time_offset"])
    assert f"[{', '.join(f['time_servers'])}]" == expected["timeserver_list"]
    assert f"[{', '.join(f['name_servers'])}]" == expected["nameserver_list"]
    assert f"[{', '.join(f['ntp_servers'])}]" == expected["ntpserver_list"]


def _tcpdump_packets(path: Path) -> list[dict[str, Any]]:
    """The DHCP facts printed by ``tcpdump -v`` for each packet of a .out file."""
    packets: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    in_params = False
    for line in path.read_text().splitlines():
        if re.match(r"^\s+\d+\s+\d{4}-\d\d-\d\d ", line):
            current = {"params": []}
            packets.append(current)
            in_params = False
            continue
        text = line.strip()
        if m := re.search(r"xid (0x[0-9a-f]+)", text):
            current["xid"] = int(m.group(1), 16)
        m = re.match(r"^([A-Za-z-]+) (\S+)$", text)
        if m and m.group(1) in ("Client-IP", "Your-IP", "Server-IP", "Gateway-IP"):
            current[m.group(1)] = m.group(2)
        elif m and m.group(1) == "Client-Ethernet-Address":
            current["mac"] = m.group(2)
        m = re.match(r"^([A-Za-z-]+) \((\d+)\), length (\d+):? ?(.*)$", text)
        if m:
            in_params = m.group(1) == "Parameter-Request"
            current[int(m.group(2))] = m.group(4)
        elif in_params:
            current["params"] += [int(n) for n in re.findall(r"\((\d+)\)", text)]
    return packets


@pytest.mark.parametrize(
    ("pcap", "out"),
    [
        ("tcpdump_dhcp-mud.pcap", "tcpdump_dhcp-mud.out"),
        ("tcpdump_dhcp-rfc3004.pcap", "tcpdump_dhcp-rfc3004-v.out"),
        ("tcpdump_dhcp-option-33.pcap", "tcpdump_dhcp-option-33.out"),
    ],
)
def test_tcpdump_output(corpus: Path, pcap: str, out: str) -> None:
    base = corpus / "pcaps" / "dhcp"
    events = [e for _, e in _events(base / pcap)]
    expected = _tcpdump_packets(base / out)
    assert len(events) == len(expected)
    names = {"Request": "request", "ACK": "ack", "Discover": "discover", "Offer": "offer"}
    for event, exp in zip(events, expected, strict=True):
        f = event.fields
        assert f["xid"] == exp["xid"] and f["client_mac"] == exp["mac"]
        assert event.kind == names[exp[53]]
        for key, ours in (
            ("Client-IP", "client_addr"),
            ("Your-IP", "assigned_addr"),
            ("Server-IP", "next_server"),
            ("Gateway-IP", "relay_addr"),
        ):
            assert f[ours] == exp.get(key, "0.0.0.0"), key
        for code, ours in (
            (12, "hostname"),
            (60, "vendor_class"),
            (161, "mud_url"),
            (15, "domain"),
        ):
            if code in exp:
                assert f'"{f[ours]}"' == exp[code]
        for code, ours in ((54, "server_id"), (50, "requested_addr")):
            if code in exp:
                assert f[ours] == exp[code]
        if 51 in exp:
            assert f["lease_time"] == int(exp[51])
        if 61 in exp:
            assert exp[61] == f"ether {f['client_id']}"
        if exp["params"]:
            assert f["param_request_list"] == ",".join(map(str, exp["params"]))
        if 77 in exp:
            assert f["user_class"] == ["subopt1", "subopt2-123456789", "subopt3-12"]
        if 33 in exp:
            routes = re.findall(r"\(([\d.]+):([\d.]+)\)", exp[33])
            if routes:
                assert [(r["destination"], r["router"]) for r in f["static_routes"]] == routes
            else:  # tcpdump: "[length != N x 8 bytes]"
                assert f["bad_options"] == [33]


def test_tshark_oracle(corpus: Path) -> None:
    base = corpus / "pcaps" / "dhcp"
    compared = 0
    for oracle in sorted((base / "tshark_expected").glob("*.dhcp.jsonl")):
        pcap = base / oracle.name.removesuffix(".dhcp.jsonl").replace("__", "/")
        if not pcap.exists():
            continue  # kept aside for independent evaluation
        events = {(round(dg.ts, 6), dg.src[1]): e for dg, e in _events(pcap)}
        for line in oracle.read_text().splitlines():
            row = json.loads(line)
            key = (round(float(row["frame.time_epoch"]), 6), int(row["udp.srcport"]))
            f = events[key].fields
            where = f"{pcap.name} frame {row['frame.number']}"
            assert f["client_mac"] == as_list(row["dhcp.hw.mac_addr"])[0], where
            assert f["xid"] == int(row["dhcp.id"], 16), where
            assert f["client_addr"] == row["dhcp.ip.client"], where
            assert f["assigned_addr"] == row["dhcp.ip.your"], where
            assert f["msg_type"] == int(row["dhcp.option.dhcp"]), where
            assert f.get("hostname") == row.get("dhcp.option.hostname"), where
            assert f.get("vendor_class") == row.get("dhcp.option.vendor_class_id"), where
            assert f.get("domain") == row.get("dhcp.option.domain_name"), where
            assert f.get("requested_addr") == row.get("dhcp.option.requested_ip_address"), where
            items = row.get("dhcp.option.request_list_item")
            assert f.get("param_request_list") == (",".join(as_list(items)) if items else None)
            servers = row.get("dhcp.option.domain_name_server")
            assert f.get("dns_servers") == (as_list(servers) if servers else None), where
            routers = row.get("dhcp.option.router")
            assert f.get("routers") == (as_list(routers) if routers else None), where
            compared += 1
    assert compared >= 30


# Suricata eve "dhcp" keys -> our fields; parameter names -> option codes.
_SURICATA_KEYS = {
    "id": "xid",
    "client_ip": "client_addr",
    "assigned_ip": "assigned_addr",
    "next_server_ip": "next_server",
    "relay_ip": "relay_addr",
    "vendor_class_identifier": "vendor_class",
    "type": "op",
}
_PARAM_CODES = {"subnet_mask": 1, "router": 3, "dns_server": 6, "domain": 15}


def _suricata_value(event: ProtocolEvent, key: str) -> Any:
    f = event.fields
    if key == "dhcp_type":
        return event.kind
    if key == "type":
        return "request" if f["op"] == "request" else "reply"
    if m := re.fullmatch(r"params\[(\d+)\]", key):
        # Suricata names only the parameters it knows, in the client's order
        names = {code: name for name, code in _PARAM_CODES.items()}
        codes = [int(c) for c in f["param_request_list"].split(",")]
        return [names[c] for c in codes if c in names][int(m.group(1))]
    if m := re.fullmatch(r"(\w+)\[(\d+)\]", key):
        return f[m.group(1)][int(m.group(2))]
    return f.get(_SURICATA_KEYS.get(key, key))


def test_suricata_verify_expectations(corpus: Path) -> None:
    base = corpus / "pcaps" / "dhcp" / "suricata-verify"
    checked = 0
    for name in ("dhcp-eve-extended", "dhcp-eve-extended-option-60"):
        events = [e for _, e in _events(base / name / "input.pcap")]
        spec = yaml.safe_load((base / name / "test.yaml").read_text())
        for check in spec["checks"]:
            match = check["filter"]["match"]
            if match.get("event_type") != "dhcp":
                continue
            conditions = {k[5:]: v for k, v in match.items() if k.startswith("dhcp.")}
            if "hostname" in conditions:  # Suricata keeps the client's stray trailing NUL
                conditions["hostname"] = conditions["hostname"].rstrip("\x00")
            found = [
                e for e in events if all(_suricata_value(e, k) == v for k, v in conditions.items())
            ]
            assert len(found) == check["filter"]["count"], conditions
            checked += 1
    assert checked == 3


def test_suricata_request_flood(corpus: Path) -> None:
    """dhcp-request-flood: 10,000 client messages (BOOTP op "request"; DHCP type DISCOVER,
    as tshark decodes them), one event each: Suricata expects 10,000 events."""
    pcap = corpus / "pcaps/dhcp/suricata-verify/dhcp-request-flood/test.pcap"
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for _, event in _events(pcap):
        counts[(event.fields["op"], event.kind)] += 1
    assert counts == {("request", "discover"): 10_000}


def test_arkime_session(corpus: Path) -> None:
    base = corpus / "pcaps" / "dhcp"
    (session,) = json.loads((base / "arkime_wireshark-dhcp.test.json").read_text())["sessions3"]
    expected = session["body"]["dhcp"]
    events = [e for _, e in _events(base / "arkime_wireshark-dhcp.pcap")]
    assert sorted({e.kind.upper() for e in events}) == expected["type"]
    assert sorted({f"{e.fields['xid']:x}" for e in events}) == expected["id"]
    assert sorted({e.fields["client_mac"] for e in events}) == expected["mac"]
    requested = {e.fields["requested_addr"] for e in events if "requested_addr" in e.fields}
    assert sorted(requested) == expected["requestIp"]


def test_recorded_capture_against_live_tshark() -> None:
    """busybox udhcpc clients and dnsmasq, recorded by the project."""
    pcap = FIXTURES / "dhcp.pcap"
    fields = [
        "frame.time_epoch",
        "udp.srcport",
        "dhcp.option.dhcp",
        "dhcp.hw.mac_addr",
        "dhcp.ip.your",
        "dhcp.option.hostname",
        "dhcp.option.vendor_class_id",
        "dhcp.option.request_list_item",
        "dhcp.option.mudurl",
    ]
    rows = tshark_rows(pcap, fields, "dhcp")
    events = {(round(dg.ts, 6), dg.src[1]): e for dg, e in _events(pcap)}
    assert len(rows) == len(events) == 12
    for row in rows:
        f = events[(round(float(row["frame.time_epoch"]), 6), int(row["udp.srcport"]))].fields
        assert f["msg_type"] == int(row["dhcp.option.dhcp"])
        assert f["client_mac"] == as_list(row["dhcp.hw.mac_addr"])[0]
        assert f["assigned_addr"] == row["dhcp.ip.your"]
        assert f.get("hostname") == row.get("dhcp.option.hostname")
        assert f.get("vendor_class") == row.get("dhcp.option.vendor_class_id")
        assert f.get("mud_url") == row.get("dhcp.option.mudurl")
        items = row.get("dhcp.option.request_list_item")
        assert f.get("param_request_list") == (",".join(as_list(items)) if items else None)
    pump = [e for e in events.values() if e.fields.get("vendor_class") == "ICUMedical-Plum360-15.1"]
    assert {e.kind for e in pump} == {"discover", "request"}
    assert all(e.fields["mud_url"].endswith("/plum360.json") for e in pump)


def test_pipeline_gives_the_same_events(corpus: Path) -> None:
    """``medsentry analyze`` reaches the parser for every DHCP message, with its flow uid."""
    base = corpus / "pcaps" / "dhcp"
    paths = [p for p in sorted(base.rglob("*.pcap*")) if p.suffix in (".pcap", ".pcapng")]
    compared = 0
    for pcap in [*paths, FIXTURES / "dhcp.pcap"]:
        direct = [e for _, e in _events(pcap)]
        through = pipeline_events(pcap, "dhcp")
        assert sorted(e.kind for e in through) == sorted(e.kind for e in direct), pcap
        fields = sorted(json.dumps(e.fields, sort_keys=True) for e in through)
        assert fields == sorted(json.dumps(e.fields, sort_keys=True) for e in direct), pcap
        assert all(e.uid for e in through)
        compared += len(direct)
    assert compared >= 10_040
