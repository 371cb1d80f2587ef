"""Decoded header columns agree with tshark on every supported corpus capture."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsentry.capture.open import open_capture
from medsentry.decode.addresses import ip_text, mac_text
from medsentry.decode.columns import L3_ARP, L3_IPV4, L3_IPV6
from medsentry.decode.packets import decode_batch
from tests.corpus_files import capture_files, ids, supported
from tests.tshark import tshark_fields

CAPTURES = [p for p in capture_files() if p.stat().st_size < 4_000_000]

FIELDS = [
    "eth.src",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "ip.proto",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
    "tcp.flags",
    "arp.opcode",
    "arp.src.proto_ipv4",
]


def ours(path: Path) -> list[dict[str, str]]:
    rows = []
    for batch in open_capture(path).batches():
        d = decode_batch(batch)
        for i in range(len(d)):
            row: dict[str, str] = {}
            if d.eth_src[i]:
                row["eth.src"] = mac_text(int(d.eth_src[i]))
            if d.l3[i] in (L3_IPV4, L3_IPV6):
                src = ip_text(int(d.src_hi[i]), int(d.src_lo[i]))
                dst = ip_text(int(d.dst_hi[i]), int(d.dst_lo[i]))
                prefix = "ip" if d.l3[i] == L3_IPV4 else "ipv6"
                row[f"{prefix}.src"], row[f"{prefix}.dst"] = src, dst
                if d.l3[i] == L3_IPV4:
                    row["ip.proto"] = str(int(d.proto[i]))
                if d.fragment[i] or d.more_fragments[i]:
                    row["fragment"] = "1"
                if d.l4_ok[i] and d.proto[i] in (6, 17):
                    name = "tcp" if d.proto[i] == 6 else "udp"
                    row[f"{name}.srcport"] = str(int(d.sport[i]))
                    row[f"{name}.dstport"] = str(int(d.dport[i]))
                    if name == "tcp":
                        row["tcp.flags"] = f"0x{int(d.tcp_flags[i]):04x}"
            if d.l3[i] == L3_ARP:
                row["arp.opcode"] = str(int(d.arp_op[i]))
                if d.arp_sha[i]:
                    row["arp.src.proto_ipv4"] = ip_text(0, 0xFFFF00000000 | int(d.arp_spa[i]))
            rows.append(row)
    return rows


@pytest.mark.corpus
@pytest.mark.parametrize("path", CAPTURES, ids=ids(CAPTURES))
def test_header_fields_match_tshark(corpus: Path, path: Path) -> None:
    if not supported(path):
        return
    expected = tshark_fields(path, FIELDS)
    got = ours(path)
    assert len(got) == len(expected)
    mismatches = []
    for n, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        for field, value in zip(FIELDS, theirs, strict=True):
            if field == "eth.src" and value in ("", "00:00:00:00:00:00"):
                continue
            if field.startswith(("tcp.", "udp.")) and mine.get("ip.proto") in ("1", "58"):
                continue  # tshark's first occurrence is the header an ICMP error quotes
            if field.startswith(("tcp.", "udp.")) and "fragment" in mine:
                continue  # tshark shows ports on the reassembled (last) fragment
            if field == "tcp.flags" and value:
                value = f"0x{int(value, 16) & 0xFF:04x}"  # we keep the 8 classic flag bits
            # tshark decodes tunnels and ICMP-quoted headers too; we compare the outer
            # header, which tshark lists first. Fields tshark did not see must be absent.
            if field == "arp.src.proto_ipv4" and "arp.src.proto_ipv4" not in mine:
                continue  # malformed ARP: we keep the opcode only
            if value and mine.get(field) != value:
                mismatches.append((n + 1, field, value, mine.get(field)))
            if not value and field in mine and field not in ("tcp.flags",):
                mismatches.append((n + 1, field, "<absent>", mine[field]))
    assert not mismatches[:20]
