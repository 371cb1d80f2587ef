"""CICIoMT2024 window features, from the dataset's CSV files and from our packet columns.

The dataset describes traffic in windows of consecutive packets (10 or 100): each column
is the mean over the window of a per-packet value (header length, TTL, flag bits, one
indicator per application protocol...), or a statistic of the packet lengths. We compute
the same columns from a ``DecodedBatch`` so the model runs on our own traffic.

Columns not used for learning (``DROPPED``):

* ``Number`` is the window size and ``IAT`` a timing artefact of the extraction: both give
  the class away (the dataset README and its statistics show it);
* ``Tot sum`` and the four ``*_count`` columns are other columns multiplied by the window
  size (``Tot sum = AVG * Number``, ``ack_count = ack_flag_number * Number``...), so they
  carry the window size too: the DoS/DDoS captures used 100-packet windows, the rest 10.
  A model fed them learns "100-packet window = flood", which says nothing about traffic.
"""

from __future__ import annotations

import csv
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from medsentry.decode.columns import (
    L3_ARP,
    L3_IPV4,
    L3_IPV6,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_CWR,
    TCP_ECE,
    TCP_FIN,
    TCP_PSH,
    TCP_RST,
    TCP_SYN,
    DecodedBatch,
)

F64 = npt.NDArray[np.float64]

COLUMNS = (
    "Header_Length", "Protocol Type", "Time_To_Live", "Rate",
    "fin_flag_number", "syn_flag_number", "rst_flag_number", "psh_flag_number",
    "ack_flag_number", "ece_flag_number", "cwr_flag_number",
    "ack_count", "syn_count", "fin_count", "rst_count",
    "HTTP", "HTTPS", "DNS", "Telnet", "SMTP", "SSH", "IRC",
    "TCP", "UDP", "DHCP", "ARP", "ICMP", "IGMP", "IPv", "LLC",
    "Tot sum", "Min", "Max", "AVG", "Std", "Tot size", "IAT", "Number", "Variance",
)  # fmt: skip
DROPPED = ("Number", "IAT", "Tot sum", "ack_count", "syn_count", "fin_count", "rst_count")
MODEL_FEATURES = tuple(c for c in COLUMNS if c not in DROPPED)
RATE_CAP = 1e7  # "inf" rates (all packets at one instant) become this
LABEL_COLUMN = "attack_type"

CLASSES_6 = {
    "ARP_Spoofing": "Spoofing",
    "Benign": "Benign",
    "DDoS-ICMP": "DDoS",
    "DDoS-SYN": "DDoS",
    "DDoS-TCP": "DDoS",
    "DDoS-UDP": "DDoS",
    "DoS-ICMP": "DoS",
    "DoS-SYN": "DoS",
    "DoS-TCP": "DoS",
    "DoS-UDP": "DoS",
    "MQTT-DDoS-Connect_Flood": "MQTT",
    "MQTT-DDoS-Publish_Flood": "MQTT",
    "MQTT-DoS-Connect_Flood": "MQTT",
    "MQTT-DoS-Publish_Flood": "MQTT",
    "MQTT-Malformed_Data": "MQTT",
    "Recon-OS_Scan": "Recon",
    "Recon-Ping_Sweep": "Recon",
    "Recon-Port_Scan": "Recon",
    "Recon-VulScan": "Recon",
}
CLASSES_19 = tuple(sorted(CLASSES_6))


def class_of(source_file: str) -> str:
    """The 19-class label of a row from the capture file name the dataset gives it
    (``WiFi_and_MQTT_test_TCP_IP-DDoS-UDP2_test.pcap`` -> ``DDoS-UDP``)."""
    name = re.sub(r"^.*?_(?:train|test)_", "", source_file)
    name = re.sub(r"_(?:train|test)\.pcap(?:\.csv)?$", "", name)
    name = name.removeprefix("TCP_IP-")
    return re.sub(r"(ICMP|UDP|TCP|SYN)\d$", r"\1", name)


def to_6(labels: list[str] | npt.NDArray[np.str_]) -> npt.NDArray[np.str_]:
    return np.array([CLASSES_6[str(x)] for x in labels])


def to_2(labels: list[str] | npt.NDArray[np.str_]) -> npt.NDArray[np.str_]:
    return np.array(["Benign" if str(x) == "Benign" else "Attack" for x in labels])


@dataclass(slots=True)
class Dataset:
    X: F64  # rows x COLUMNS, cleaned (no inf, no NaN)
    y: npt.NDArray[np.str_]  # 19-class labels

    def model_matrix(self) -> F64:
        return select_model_columns(self.X)


def select_model_columns(X: F64) -> F64:
    idx = [COLUMNS.index(c) for c in MODEL_FEATURES]
    return np.ascontiguousarray(X[:, idx])


def clean(X: F64) -> F64:
    """Infinite rates to ``RATE_CAP``, missing values to 0 (one row has a blank Std)."""
    out = np.where(np.isinf(X), RATE_CAP, X)
    return np.nan_to_num(out, nan=0.0)


def load_dataset(path: Path) -> Dataset:
    """Read a CICIoMT2024 CSV (optionally gzip-compressed) with the 39-feature schema."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:  # type: ignore[operator]
        reader = csv.reader(f)
        header = next(reader)
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise ValueError(f"{path}: not the 39-feature CICIoMT2024 schema (missing {missing})")
        idx = [header.index(c) for c in COLUMNS]
        lab = header.index(LABEL_COLUMN)
        rows: list[list[float]] = []
        labels: list[str] = []
        for row in reader:
            rows.append([float(row[i]) if row[i] != "" else np.nan for i in idx])
            labels.append(class_of(row[lab]))
    return Dataset(clean(np.array(rows, dtype=np.float64)), np.array(labels))


# -- the same columns from our packets ------------------------------------------------------

APP_PORTS = {
    "HTTP": (80,),
    "HTTPS": (443,),
    "DNS": (53,),
    "Telnet": (23,),
    "SMTP": (25,),
    "SSH": (22,),
    "IRC": (6667,),
    "DHCP": (67, 68),
}
FLAG_COLUMNS = {
    "fin_flag_number": TCP_FIN,
    "syn_flag_number": TCP_SYN,
    "rst_flag_number": TCP_RST,
    "psh_flag_number": TCP_PSH,
    "ack_flag_number": TCP_ACK,
    "ece_flag_number": TCP_ECE,
    "cwr_flag_number": TCP_CWR,
}
COUNT_COLUMNS = {
    "ack_count": "ack_flag_number",
    "syn_count": "syn_flag_number",
    "fin_count": "fin_flag_number",
    "rst_count": "rst_flag_number",
}


@dataclass(slots=True)
class Windows:
    """Window features of a batch: ``X`` rows x COLUMNS and, per window, its first and last
    packet time and the rows (in the batch) of its first and last packet."""

    X: F64
    ts_first: F64
    ts_last: F64
    start: npt.NDArray[np.int64]
    size: int

    def __len__(self) -> int:
        return int(self.X.shape[0])


def window_count(d: DecodedBatch, size: int = 10) -> int:
    return len(d) // size


def window_features(
    d: DecodedBatch, size: int = 10, pick: npt.NDArray[np.int64] | None = None
) -> Windows:
    """CICIoMT2024 columns for each run of ``size`` consecutive packets (in time order),
    or only for the windows numbered in ``pick``. A partial window at the end of the
    batch is left out."""
    n_all = len(d) // size
    chosen = np.arange(n_all) if pick is None else np.asarray(pick, np.int64)
    n_win = len(chosen)
    X = np.zeros((n_win, len(COLUMNS)), np.float64)
    if n_win == 0:
        empty = np.zeros(0)
        return Windows(X, empty, empty, np.zeros(0, np.int64), size)
    order = np.argsort(d.ts, kind="stable")[: n_all * size].reshape(n_all, size)[chosen]
    col = {c: i for i, c in enumerate(COLUMNS)}

    def per_window(values: npt.ArrayLike) -> F64:
        return np.asarray(values, np.float64)[order]

    ip = (d.l3 == L3_IPV4) | (d.l3 == L3_IPV6)
    proto = np.where(ip, d.proto, 0).astype(np.int64)
    tcp = ip & (proto == PROTO_TCP) & d.l4_ok
    udp = ip & (proto == PROTO_UDP)
    icmp = ip & ((proto == PROTO_ICMP) | (proto == PROTO_ICMPV6))
    ip_header = np.where(d.l3 == L3_IPV6, 40, 20)
    tcp_header = np.clip(d.ip_len - ip_header - d.payload_size, 20, 60)
    header = np.where(tcp, tcp_header, np.where(udp, 8, 0))
    X[:, col["Header_Length"]] = per_window(header).mean(1)
    X[:, col["Protocol Type"]] = _mode_rows(per_window(proto).astype(np.int64))
    X[:, col["Time_To_Live"]] = per_window(np.where(ip, d.ttl, 0)).mean(1)
    ts = per_window(d.ts)
    gaps = np.diff(ts, axis=1)
    with np.errstate(divide="ignore"):
        rate = np.where(gaps > 0, 1.0 / np.where(gaps > 0, gaps, 1.0), np.inf).mean(1)
    X[:, col["Rate"]] = np.minimum(rate, RATE_CAP)
    for name, bit in FLAG_COLUMNS.items():
        X[:, col[name]] = per_window(tcp & ((d.tcp_flags & bit) != 0)).mean(1)
    for count, flag in COUNT_COLUMNS.items():
        X[:, col[count]] = X[:, col[flag]] * size
    for name, ports in APP_PORTS.items():
        on = (tcp | udp) & (np.isin(d.sport, ports) | np.isin(d.dport, ports))
        X[:, col[name]] = per_window(on).mean(1)
    X[:, col["TCP"]] = per_window(tcp).mean(1)
    X[:, col["UDP"]] = per_window(udp).mean(1)
    X[:, col["ICMP"]] = per_window(icmp).mean(1)
    X[:, col["IGMP"]] = per_window(ip & (proto == 2)).mean(1)
    X[:, col["ARP"]] = per_window(d.l3 == L3_ARP).mean(1)
    X[:, col["IPv"]] = per_window(ip).mean(1)
    X[:, col["LLC"]] = X[:, col["IPv"]]  # equal to IPv throughout the dataset
    length = per_window(d.wirelen)
    X[:, col["Tot sum"]] = length.sum(1)
    X[:, col["Min"]] = length.min(1)
    X[:, col["Max"]] = length.max(1)
    X[:, col["AVG"]] = length.mean(1)
    X[:, col["Std"]] = length.std(1)
    X[:, col["Tot size"]] = X[:, col["AVG"]]
    X[:, col["Variance"]] = X[:, col["Std"]] ** 2
    X[:, col["IAT"]] = gaps.mean(1)
    X[:, col["Number"]] = size
    return Windows(X, ts[:, 0], ts[:, -1], order[:, 0].astype(np.int64), size)


def _mode_rows(values: npt.NDArray[np.int64]) -> F64:
    """Most frequent value of each row (ties: the smallest)."""
    srt = np.sort(values, axis=1)
    n_rows, width = srt.shape
    change = np.ones_like(srt, dtype=bool)
    change[:, 1:] = srt[:, 1:] != srt[:, :-1]
    # Length of each run, placed at the run's last position.
    idx = np.arange(width)[None, :].repeat(n_rows, 0)
    run_start = np.maximum.accumulate(np.where(change, idx, 0), axis=1)
    run_len = idx - run_start + 1
    best = np.argmax(run_len, axis=1)
    return srt[np.arange(n_rows), best].astype(np.float64)
