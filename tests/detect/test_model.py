"""The shipped CICIoMT2024 classifier: its metadata, its scores on the held-out rows, and
the window features our own packets give (same columns as the dataset)."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from medsentry.capture.batch import PacketBatch
from medsentry.decode.packets import decode_batch
from medsentry.detect.base import Category
from medsentry.detect.ml.features import (
    COLUMNS,
    DROPPED,
    MODEL_FEATURES,
    class_of,
    to_2,
    to_6,
    window_features,
)
from medsentry.detect.ml.infer import load_classifier, model_path
from medsentry.detect.ml.train import META_FILE, MODEL_DIR, prepare, round_significant
from tests.detect.conftest import analyse_file
from tests.packets import SYN, eth_ipv4_tcp, ether, icmp, ipv4

DATASET = "ids/ciciomt2024/merged_sample.csv.gz"


def test_artefact_is_small_and_describes_itself() -> None:
    path = model_path()
    assert path.stat().st_size < 8_000_000
    meta = json.loads((MODEL_DIR / META_FILE).read_text())
    assert tuple(meta["features"]) == MODEL_FEATURES
    assert {"Number", "IAT"} <= set(meta["dropped_columns"]) == set(DROPPED)
    assert len(meta["classes"]) == 19
    for level in ("19", "6", "2"):
        assert 0.0 <= meta["metrics"][level]["macro_f1"] <= 1.0
    assert set(meta["metrics"]["19"]["recall"]) == set(meta["classes"])
    clf = load_classifier()
    assert clf.classes == meta["classes"]


@pytest.mark.corpus
def test_held_out_scores_match_the_metadata(corpus: Path) -> None:
    """The split is reproducible and the shipped model scores what its metadata says on
    rows it never saw; no held-out row is a near-copy of a training row."""
    _, F, y, split = prepare(corpus / DATASET)
    meta = load_classifier().meta
    assert len(split.train) == meta["split"]["train_rows"]
    assert len(split.test) == meta["split"]["test_rows"]
    assert not set(split.train) & set(split.test)
    for shift in (0.0, 0.5):
        keys = [r.tobytes() for r in round_significant(F, 2, shift)]
        train_keys = {keys[i] for i in split.train}
        assert not any(keys[i] in train_keys for i in split.test)
    pred, conf = load_classifier().predict(_full_columns(F[split.test]))
    assert np.all((conf > 0) & (conf <= 1))
    y_test = y[split.test]
    f19 = f1_score(y_test, pred, average="macro")
    assert f19 == pytest.approx(meta["metrics"]["19"]["macro_f1"], abs=1e-3)
    f2 = f1_score(to_2(y_test), to_2(pred), average="macro")
    assert f2 == pytest.approx(meta["metrics"]["2"]["macro_f1"], abs=1e-3)
    f6 = f1_score(to_6(y_test), to_6(pred), average="macro")
    assert f6 == pytest.approx(meta["metrics"]["6"]["macro_f1"], abs=1e-3)


def _full_columns(F: np.ndarray) -> np.ndarray:
    """Model columns back into the full 39-column layout (dropped ones left at 0)."""
    X = np.zeros((len(F), len(COLUMNS)))
    for j, name in enumerate(MODEL_FEATURES):
        X[:, COLUMNS.index(name)] = F[:, j]
    return X


@pytest.mark.corpus
def test_our_columns_are_the_dataset_columns(corpus: Path) -> None:
    with gzip.open(corpus / DATASET, "rt") as f:
        header = next(csv.reader(f))
    assert tuple(h for h in header if h != "attack_type") == COLUMNS
    assert class_of("WiFi_and_MQTT_test_TCP_IP-DDoS-UDP2_test.pcap") == "DDoS-UDP"
    assert class_of("WiFi_and_MQTT_test_Recon-Port_Scan_test.pcap") == "Recon-Port_Scan"


def test_window_features_from_packets() -> None:
    """Ten 60-byte SYNs then ten ICMP echoes: the columns say what the packets are."""
    frames = [eth_ipv4_tcp("10.0.0.1", "10.0.0.2", 40000 + i, 80, SYN) for i in range(10)]
    frames = [f + b"\x00" * (60 - len(f)) for f in frames]
    echo = ether(
        "02:00:00:00:00:01", "02:00:00:00:00:02", 0x0800, ipv4("10.0.0.1", "10.0.0.3", 1, icmp(8))
    )
    frames += [echo] * 10
    ts = [1000.0 + 0.001 * i for i in range(20)]
    w = window_features(decode_batch(PacketBatch.from_packets(frames, ts)), 10)
    assert w.X.shape == (2, len(COLUMNS))
    row = dict(zip(COLUMNS, w.X[0], strict=True))
    assert row["syn_flag_number"] == 1.0 and row["ack_flag_number"] == 0.0
    assert row["TCP"] == 1.0 and row["UDP"] == 0.0 and row["HTTP"] == 1.0
    assert row["Protocol Type"] == 6 and row["Header_Length"] == 20 and row["Time_To_Live"] == 64
    assert row["AVG"] == 60 and row["Std"] == 0 and row["Tot sum"] == 600 and row["Number"] == 10
    assert row["syn_count"] == 10 and row["IPv"] == 1.0
    assert row["Rate"] == pytest.approx(1000.0)
    icmp_row = dict(zip(COLUMNS, w.X[1], strict=True))
    assert icmp_row["ICMP"] == 1.0 and icmp_row["Protocol Type"] == 1
    assert icmp_row["Header_Length"] == 0
    # Picking windows gives the same rows as computing them all.
    only_second = window_features(
        decode_batch(PacketBatch.from_packets(frames, ts)), 10, np.array([1])
    )
    assert np.array_equal(only_second.X[0], w.X[1])


@pytest.mark.corpus
def test_model_verdicts_join_the_rule_alert(corpus: Path) -> None:
    """A 10,000-port scan: one rule alert, carrying the model's agreeing verdict."""
    alerts = analyse_file(corpus / "pcaps/portscan/sgr_portScan_1_to_10000.pcapng", model=True)
    assert [(a.category, a.source) for a in alerts] == [(Category.RECON_PORT_SCAN, "rule")]
    model = alerts[0].evidence["model"]
    assert model["windows"] >= 3
    assert next(iter(model["classes"])) == "Recon-Port_Scan"
