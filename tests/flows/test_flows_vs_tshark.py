"""Flows agree with ``tshark -z conv`` (packets per conversation) on the corpus."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from medsentry.capture.open import open_capture
from medsentry.decode.packets import decode_batch
from medsentry.flows.export import to_records
from medsentry.flows.record import FlowRecord
from medsentry.flows.table import FlowTable
from tests.corpus_files import capture_files, ids, supported
from tests.tshark import tshark_conv, tshark_fields

CAPTURES = capture_files()


def all_flows(path: Path) -> list[FlowRecord]:
    table = FlowTable()
    records: list[FlowRecord] = []
    for batch in open_capture(path).batches():
        _, closed = table.update(decode_batch(batch))
        records += to_records(closed)
    return records + to_records(table.flush())


def per_pair(flows: list[FlowRecord], proto: str, ports: bool) -> dict[tuple[str, str], int]:
    out: Counter[tuple[str, str]] = Counter()
    for f in flows:
        if f.proto != proto and proto != "ip":
            continue
        if proto == "ip" and ":" in f.orig_h:
            continue  # conv,ip lists IPv4 only
        a = f"{f.orig_h}:{f.orig_p}" if ports else f.orig_h
        b = f"{f.resp_h}:{f.resp_p}" if ports else f.resp_h
        out[(min(a, b), max(a, b))] += f.orig_pkts + f.resp_pkts
    return dict(out)


@pytest.mark.corpus
@pytest.mark.parametrize("path", CAPTURES, ids=ids(CAPTURES))
def test_conversations_match_tshark(corpus: Path, path: Path) -> None:
    if not supported(path):
        return
    flows = all_flows(path)
    expected = tshark_conv(path, ("tcp", "udp", "ip"))
    # tshark counts a reassembled datagram once; flows count every IP packet, so the
    # later fragments of each datagram are the only permitted difference.
    later = Counter()
    for src, dst, sport, dport in tshark_fields(
        path, ["ip.src", "ip.dst", "udp.srcport", "udp.dstport"], "ip.frag_offset > 0"
    ):
        if sport:
            a, b = f"{src}:{sport}", f"{dst}:{dport}"
            later[(min(a, b), max(a, b))] += 1
    for kind in ("tcp", "udp"):
        ours = per_pair(flows, kind, ports=True)
        if kind == "udp":
            ours = {k: v - later.get(k, 0) for k, v in ours.items()}
        assert ours == expected[kind], kind
    assert per_pair(flows, "ip", ports=False) == expected["ip"]
