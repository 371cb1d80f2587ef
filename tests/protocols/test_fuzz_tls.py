"""Fuzzing the TLS analyzer with mutated connections from the corpus.

Short in the normal run; ``make fuzz`` (``-m fuzz --hypothesis-profile=long``) runs it longer.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from net_replay import fuzz_stream, stream_seeds

from medsentry.protocols.tls import MAX_HANDSHAKE, MAX_RECORD, TlsAnalyzer


@pytest.fixture(scope="module")
def seeds(corpus: Path) -> list[list[tuple[int, bytes]]]:
    found = stream_seeds(sorted((corpus / "pcaps" / "tls_dns").rglob("*.pcap")), {443, 8081})
    assert len(found) >= 4
    return found


@pytest.mark.fuzz
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_tls_connections(seeds: list[list[tuple[int, bytes]]], data: st.DataObject) -> None:
    fuzz_stream(data, TlsAnalyzer, seeds, limit=2 * (MAX_RECORD + 5 + MAX_HANDSHAKE))
