"""Fuzzing the MQTT analyzer with mutated connections from the corpus.

Short in the normal run; ``make fuzz`` (``-m fuzz --hypothesis-profile=long``) runs it longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_replay import fuzz_stream, stream_seeds

from medsentry.protocols.mqtt import HEAD_LIMIT, RESYNC_MAX_BODY, MqttAnalyzer


@pytest.fixture(scope="module")
def seeds(corpus: Path) -> list[list[tuple[int, bytes]]]:
    found = stream_seeds(sorted((corpus / "pcaps" / "mqtt").rglob("*.pcap")), {1883, 17501})
    assert len(found) >= 20
    return found


@pytest.mark.fuzz
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_mqtt_connections(
    seeds: list[list[tuple[int, bytes]]], data: st.DataObject
) -> None:
    fuzz_stream(data, MqttAnalyzer, seeds, limit=2 * (max(HEAD_LIMIT, RESYNC_MAX_BODY) + 5))
