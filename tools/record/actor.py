"""Entry point for one simulated device program, run inside its host's namespace.

    python -m tools.record.actor NAME '{"param": "value"}'

Servers print READY on stdout once they listen; clients exit 0 when their exchange went
as planned. Actor modules are imported lazily so each process loads only what it needs.
"""

from __future__ import annotations

import importlib
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

ACTORS: dict[str, str] = {
    # DICOM
    "pacs": "tools.record.dicom_peers:run_pacs",
    "ws-store-scp": "tools.record.dicom_peers:run_workstation_store_scp",
    "ct-store": "tools.record.dicom_peers:ct_echo_and_store",
    "ct-wrong-aet": "tools.record.dicom_peers:ct_wrong_called_aet",
    "ws-find-get": "tools.record.dicom_peers:workstation_find_and_get",
    "ws-move": "tools.record.dicom_peers:workstation_move",
    "ws-abort": "tools.record.dicom_peers:workstation_echo_then_abort",
    # HL7 over MLLP
    "hl7-engine": "tools.record.hl7_peers:run_engine",
    "hl7-send": "tools.record.hl7_peers:send_messages",
    "hl7-send-split": "tools.record.hl7_peers:send_split",
    "hl7-send-batch": "tools.record.hl7_peers:send_batch",
    # MQTT
    "mqtt-nurse": "tools.record.mqtt_peers:nurse_station",
    "mqtt-spo2": "tools.record.mqtt_peers:spo2_sensor",
    "mqtt-temp": "tools.record.mqtt_peers:temperature_patch",
    "mqtt-bad-login": "tools.record.mqtt_peers:bad_login",
    # HTTP, FHIR and TLS
    "ehr-web": "tools.record.http_peers:run_ehr_web",
    "fhir-client": "tools.record.http_peers:fhir_client",
    "tls-client": "tools.record.http_peers:tls_client",
    # DNS
    "dns-lookups": "tools.record.dns_peers:lookups",
}


def resolve(name: str) -> Callable[[dict[str, Any]], None]:
    module_name, func_name = ACTORS[name].split(":")
    func: Callable[[dict[str, Any]], None] = getattr(
        importlib.import_module(module_name), func_name
    )
    return func


def announce_ready() -> None:
    print("READY", flush=True)


def serve_until_terminated(stop: Callable[[], None]) -> None:
    """Tell the recorder we listen, then block until it sends SIGTERM."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    announce_ready()
    while not done.wait(0.2):
        pass
    stop()


class ExchangeError(RuntimeError):
    """A simulated device did not get the answer its scenario expects."""


def expect(condition: bool, what: str) -> None:
    if not condition:
        raise ExchangeError(what)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ACTORS:
        print(f"usage: actor NAME [JSON]; names: {', '.join(sorted(ACTORS))}", file=sys.stderr)
        return 2
    params: dict[str, Any] = json.loads(argv[1]) if len(argv) > 1 else {}
    resolve(argv[0])(params)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
