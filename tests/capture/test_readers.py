from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from medsentry.capture.batch import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IEEE802_11,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
)
from medsentry.capture.open import open_capture
from medsentry.capture.writer import PcapWriter, pcapng_bytes
from medsentry.errors import CaptureError, UnsupportedCaptureError
from tests.packets import SYN, eth_ipv4_tcp

PACKETS = [
    (1_700_000_000.123456 + i * 0.5, eth_ipv4_tcp("10.0.0.1", "10.0.0.2", 40000 + i, 80, SYN))
    for i in range(7)
]


def read_all(path: Path) -> tuple[list[float], list[bytes], list[int]]:
    reader = open_capture(path, chunk_size=64)  # tiny chunks exercise record carry-over
    ts: list[float] = []
    data: list[bytes] = []
    links: list[int] = []
    for batch in reader.batches():
        ts += batch.ts.tolist()
        data += [batch.packet(i) for i in range(len(batch))]
        links += batch.linktype.tolist()
    return ts, data, links


@pytest.mark.parametrize("nanoseconds", [False, True])
@pytest.mark.parametrize("big_endian", [False, True])
def test_pcap_variants_round_trip(tmp_path: Path, nanoseconds: bool, big_endian: bool) -> None:
    path = tmp_path / "x.cap"  # extension deliberately meaningless
    with PcapWriter(path, nanoseconds=nanoseconds, big_endian=big_endian) as w:
        w.write_all(PACKETS)
    ts, data, links = read_all(path)
    assert data == [p for _, p in PACKETS]
    np.testing.assert_allclose(ts, [t for t, _ in PACKETS], atol=1e-6)
    assert set(links) == {LINKTYPE_ETHERNET}


def test_gzip_compressed_capture_is_read(tmp_path: Path) -> None:
    plain = tmp_path / "a.pcap"
    with PcapWriter(plain) as w:
        w.write_all(PACKETS)
    packed = tmp_path / "a.pcapng"  # wrong extension on purpose
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert read_all(packed)[1] == [p for _, p in PACKETS]


@pytest.mark.parametrize("big_endian", [False, True])
def test_pcapng_interfaces_resolutions_and_simple_blocks(tmp_path: Path, big_endian: bool) -> None:
    raw_ip = PACKETS[0][1][14:]
    body = pcapng_bytes(
        interfaces=[(LINKTYPE_ETHERNET, None), (LINKTYPE_RAW, 9), (LINKTYPE_LINUX_SLL2, 0x80 | 20)],
        packets=[
            (0, 1_600_000_000.25, PACKETS[0][1]),
            (1, 1_600_000_001.000000123, raw_ip),
            (2, 1_600_000_002.5, b"\x08\x00" + b"\x00" * 18 + raw_ip),
        ],
        big_endian=big_endian,
        simple=[PACKETS[1][1]],
    )
    path = tmp_path / "multi.pcap"
    path.write_bytes(body)
    ts, data, links = read_all(path)
    assert links == [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL2, LINKTYPE_ETHERNET]
    assert data[1] == raw_ip
    assert ts[0] == pytest.approx(1_600_000_000.25, abs=1e-6)
    assert ts[1] == pytest.approx(1_600_000_001.000000123, abs=1e-6)
    assert ts[2] == pytest.approx(1_600_000_002.5, abs=1e-5)
    assert ts[3] == ts[2]  # a simple packet block has no timestamp of its own


def test_two_sections_reset_interfaces(tmp_path: Path) -> None:
    first = pcapng_bytes([(LINKTYPE_ETHERNET, None)], [(0, 1.0, PACKETS[0][1])])
    second = pcapng_bytes([(LINKTYPE_RAW, None)], [(0, 2.0, PACKETS[0][1][14:])])
    path = tmp_path / "two.pcapng"
    path.write_bytes(first + second)
    _, _, links = read_all(path)
    assert links == [LINKTYPE_ETHERNET, LINKTYPE_RAW]


def test_unknown_format_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pcap"
    path.write_text("hello, not a capture")
    with pytest.raises(CaptureError, match=r"notes\.pcap: not a pcap or pcapng"):
        open_capture(path)


def test_80211_is_reported_as_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "wifi.pcap"
    with PcapWriter(path, linktype=LINKTYPE_IEEE802_11) as w:
        w.write(1.0, b"\x80\x00" + b"\x00" * 30)
    with pytest.raises(UnsupportedCaptureError, match=r"IEEE 802\.11"):
        open_capture(path)


def test_truncated_pcap_keeps_packets_and_names_offset(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    with PcapWriter(path) as w:
        w.write_all(PACKETS)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    got: list[int] = []
    with pytest.raises(CaptureError) as info:
        for batch in open_capture(path).batches():
            got.append(len(batch))
    assert sum(got) == len(PACKETS) - 1
    assert info.value.packets_read == len(PACKETS) - 1
    record = 16 + len(PACKETS[-1][1])
    assert info.value.offset == len(data) - record
    assert "t.pcap" in str(info.value) and "byte offset" in str(info.value)


def test_corrupt_record_length_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.pcap"
    with PcapWriter(path) as w:
        w.write_all(PACKETS)
    data = bytearray(path.read_bytes())
    third = 24 + 2 * (16 + len(PACKETS[0][1]))
    data[third + 8 : third + 12] = struct.pack("<I", 0x7FFFFFFF)
    path.write_bytes(bytes(data))
    seen = 0
    with pytest.raises(CaptureError, match="impossible") as info:
        for batch in open_capture(path).batches():
            seen += len(batch)
    assert seen == 2
    assert info.value.offset == third


def test_truncated_gzip_reports_error(tmp_path: Path) -> None:
    plain = tmp_path / "a.pcap"
    with PcapWriter(plain) as w:
        w.write_all(PACKETS * 50)
    packed = tmp_path / "a.pcap.gz"
    blob = gzip.compress(plain.read_bytes())
    packed.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CaptureError, match="compressed data"):
        for _ in open_capture(packed).batches():
            pass
