"""What each recording contains: the per-protocol fixtures and the demo day on the ward.

Fixtures run one after another on the same ward in a fixed order (the DICOM move fixture
retrieves the study the store fixture sent). The demo then replays a compressed slice of a
ward's day with all devices active at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from paho.mqtt.client import MQTTv5, MQTTv311
from tools.record.fake_phi import ALPHA, BRAVO
from tools.record.plan import NURSE, PACS, PUMP, SPO2, TEMP
from tools.record.ward import DHCP_HOSTS, Ward

SPO2_READINGS = 6
TEMP_READINGS = 6


@dataclass(frozen=True)
class Recording:
    filename: str
    summary: str
    run: Callable[[Ward], None]
    display_filter: str  # what tshark must find in it (with the decode-as rules of the tests)


def _dhcp(ward: Ward) -> None:
    for host in DHCP_HOSTS:
        ward.dhcp(host)


def _dns(ward: Ward) -> None:
    ward.dns_lookups(NURSE, reverse=PACS.ip)
    ward.dns_lookups(PUMP)


def _dicom_abort_reject(ward: Ward) -> None:
    ward.ws_abort()
    ward.ct_wrong_called_aet()


def _hl7_oru(ward: Ward) -> None:
    ward.monitor_oru(count=3)
    ward.pump_oru(count=2)


def _mqtt311(ward: Ward) -> None:
    nurse = ward.nurse_subscriber(MQTTv311, expect=SPO2_READINGS + 1)
    ward.spo2_sensor(SPO2_READINGS)
    ward.bad_mqtt_login(SPO2, MQTTv311, "SPO2-W3-B12-SVC")
    ward.lab.wait(nurse)


def _mqtt5(ward: Ward) -> None:
    nurse = ward.nurse_subscriber(MQTTv5, expect=TEMP_READINGS)
    ward.bad_mqtt_login(TEMP, MQTTv5, "TEMP-W3-B14")
    ward.temperature_patch(TEMP_READINGS)
    ward.lab.wait(nurse)


FIXTURES: tuple[Recording, ...] = (
    Recording(
        "dhcp.pcap",
        "DHCP DISCOVER/OFFER/REQUEST/ACK of the pump and two wearables (busybox udhcpc "
        "against dnsmasq): vendor class (60), hostname (12), parameter request list (55), "
        "client identifier (61); the pump also sends a MUD URL (161)",
        _dhcp,
        "dhcp",
    ),
    Recording(
        "dns.pcap",
        "glibc resolver queries to dnsmasq: A lookups with search-domain expansion, "
        "one PTR lookup, NXDOMAIN for a name that does not exist",
        _dns,
        "dns",
    ),
    Recording(
        "dicom_echo_store.pcap",
        "CT_SCANNER_01 -> PACS_ARCHIVE: A-ASSOCIATE-RQ/AC, C-ECHO, three CT C-STORE "
        "(patient TESTPATIENT^ALPHA), A-RELEASE",
        lambda ward: ward.ct_store(),
        "dicom",
    ),
    Recording(
        "dicom_find_get.pcap",
        "RAD_WS_01 -> PACS_ARCHIVE: patient-level and study-level C-FIND, C-GET of a prior "
        "study (C-STORE sub-operations on the same association, SCP role negotiated), release",
        lambda ward: ward.ws_find_get(BRAVO.mrn),
        "dicom",
    ),
    Recording(
        "dicom_move.pcap",
        "RAD_WS_01 -> PACS_ARCHIVE: C-FIND then C-MOVE to RAD_WS_01; the PACS opens a second "
        "association to the workstation's Storage SCP (port 11113) for the C-STORE sub-operations",
        lambda ward: ward.ws_move(ALPHA.mrn),
        "dicom",
    ),
    Recording(
        "dicom_abort_reject.pcap",
        "RAD_WS_01 C-ECHO then A-ABORT; CT_SCANNER_01 calling the wrong AE title 'PACS' gets "
        "A-ASSOCIATE-RJ",
        _dicom_abort_reject,
        "dicom",
    ),
    Recording(
        "hl7_adt_acks.pcap",
        "EHR -> interface engine on 2575 (python-hl7 MLLPClient): ADT^A01 x3 and MDM^T02; "
        "ACKs MSA AA, AA, AE (PID-3 missing, with ERR), AR (unsupported type)",
        lambda ward: ward.ehr_adt(),
        "hl7",
    ),
    Recording(
        "hl7_oru_devices.pcap",
        "Patient monitor and infusion pump -> engine on non-standard port 7710: ORU^R01 with "
        "OBX-18 equipment identifiers (monitor) and a PRT device segment with UDI (pump), "
        "each ACKed AA",
        _hl7_oru,
        "hl7",
    ),
    Recording(
        "hl7_split_segments.pcap",
        "Patient monitor -> engine on 7710: two ORU^R01 messages each written in 24-byte "
        "pieces with TCP_NODELAY, so every message spans dozens of TCP segments",
        lambda ward: ward.monitor_oru("hl7-send-split", count=2),
        "hl7",
    ),
    Recording(
        "hl7_batch.pcap",
        "EHR -> engine on 2575: four MLLP-framed messages written in one TCP segment, "
        "ACKs AA, AA, AE, AR coming back",
        lambda ward: ward.ehr_adt("hl7-send-batch"),
        "hl7",
    ),
    Recording(
        "mqtt311_vitals.pcap",
        "MQTT 3.1.1 against mosquitto: nurse station SUBSCRIBE hospital/ward3/#, SpO2 "
        "wearable CONNECT with will, retained status, PUBLISH QoS 0/1/2, PINGREQ, DISCONNECT; "
        "a wrong password on the auth listener (1884) refused with CONNACK 5",
        _mqtt311,
        "mqtt",
    ),
    Recording(
        "mqtt5_vitals.pcap",
        "MQTT 5 against mosquitto: nurse station with subscription options, a wrong password "
        "refused with CONNACK reason 134, temperature patch CONNECT/PUBLISH with properties "
        "(session expiry, receive maximum, content type, user properties), "
        "UNSUBSCRIBE, DISCONNECT",
        _mqtt5,
        "mqtt",
    ),
    Recording(
        "fhir_http.pcap",
        "Nurse station -> EHR on 8080, one keep-alive HTTP/1.1 connection (httpx): "
        "GET metadata, GET Patient/123, 124 and 125, GET Observation?patient=123, POST Observation "
        "(201), GET Device/pump-3w-014, GET Patient/999 (404); application/fhir+json",
        lambda ward: ward.fhir_session(),
        "http",
    ),
    Recording(
        "tls.pcap",
        "Nurse station -> EHR on 443 (Python ssl): TLS 1.2 with SNI ehr.hospital.example "
        "(certificate visible) and TLS 1.3 with SNI fhir.hospital.example, ALPN http/1.1",
        lambda ward: ward.tls_session(),
        "tls.handshake.extensions_server_name",
    ),
)


def _parallel(*tasks: Callable[[], None]) -> None:
    with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
        for future in [pool.submit(task) for task in tasks]:
            future.result()


# The demo compresses a couple of minutes of ward activity into about half a minute.
DEMO_SPO2_READINGS = 20
DEMO_TEMP_READINGS = 16
DEMO_MONITOR_MESSAGES = 12
DEMO_PUMP_MESSAGES = 6


def _radiology(ward: Ward) -> None:
    ward.ct_store()
    time.sleep(1.0)
    ward.ct_wrong_called_aet()
    time.sleep(2.0)
    ward.ws_find_get(ALPHA.mrn)
    time.sleep(6.0)
    ward.ws_move(BRAVO.mrn)
    time.sleep(4.0)
    ward.ws_abort()
    time.sleep(6.0)
    ward.ws_find_get(BRAVO.mrn)


def _interfaces(ward: Ward) -> None:
    ward.ehr_adt()
    _parallel(
        lambda: ward.monitor_oru(count=DEMO_MONITOR_MESSAGES, interval=2.0),
        lambda: ward.pump_oru(count=DEMO_PUMP_MESSAGES, interval=4.0),
    )
    ward.monitor_oru("hl7-send-split", count=1, first=DEMO_MONITOR_MESSAGES + 1)


def _sensors(ward: Ward) -> None:
    nurse = ward.nurse_subscriber(MQTTv311, expect=DEMO_SPO2_READINGS + 1 + DEMO_TEMP_READINGS)
    ward.bad_mqtt_login(TEMP, MQTTv5, "TEMP-W3-B14")
    _parallel(
        lambda: ward.spo2_sensor(DEMO_SPO2_READINGS, interval=1.2),
        lambda: ward.temperature_patch(DEMO_TEMP_READINGS, interval=1.5),
    )
    ward.bad_mqtt_login(SPO2, MQTTv311, "SPO2-W3-B12-SVC")
    ward.lab.wait(nurse)


def _clinical_apps(ward: Ward) -> None:
    ward.fhir_session()
    time.sleep(3.0)
    ward.tls_session()
    time.sleep(8.0)
    ward.dns_lookups(PUMP)
    ward.fhir_session()
    time.sleep(5.0)
    ward.tls_session()


def demo_day(ward: Ward) -> None:
    """Devices boot (DHCP), then radiology, interfaces, sensors and apps work side by side."""
    _parallel(*[lambda host=host: ward.dhcp(host) for host in DHCP_HOSTS])
    time.sleep(0.5)
    _parallel(
        lambda: _radiology(ward),
        lambda: _interfaces(ward),
        lambda: _sensors(ward),
        lambda: _clinical_apps(ward),
    )


DEMO = Recording(
    "hospital_demo.pcap",
    "a compressed slice of a ward's day: every device and protocol above, concurrently",
    demo_day,
    "dicom or hl7 or mqtt or http or dns or dhcp or tls",
)
