"""A refused MQTT 5 login (CONNACK reason 134, "bad user name or password") is reported as
brute force against the broker; the same capture with the login accepted is silent."""

from __future__ import annotations

from pathlib import Path

import pytest

from medsentry.detect.base import Category
from tests.detect.conftest import analyse_file

pytestmark = pytest.mark.corpus

# CONNACK with properties: type 0x20, remaining length 0x32, flags 0, reason 0, props.
CONNACK_OK = bytes.fromhex("20320000" + "2f22000a")


def test_refused_login_is_brute_force(pcaps: Path, tmp_path: Path) -> None:
    source = pcaps / "mqtt/suricata-verify/mqtt-connect-rules/mqtt5_pub_jpeg.pcap"
    data = bytearray(source.read_bytes())
    at = data.find(CONNACK_OK)
    assert at > 0 and data.find(CONNACK_OK, at + 1) == -1
    data[at + 3] = 134
    patched = tmp_path / "connack134.pcap"
    patched.write_bytes(bytes(data))

    assert analyse_file(source) == []
    alerts = analyse_file(patched)
    assert [a.category for a in alerts] == [Category.BRUTE_FORCE]
    alert = alerts[0]
    assert alert.protocol == "mqtt"
    assert alert.src == "::1" and alert.dst == "::1"
    assert alert.counts["failures"] == 1
    assert "bad_user_name_or_password" in alert.evidence["reasons"][0]
