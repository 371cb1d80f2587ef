"""The running ward: the lab plus every server, and one method per device activity.

Scenarios call these methods; each runs a real program inside the right namespace.
``by_name`` selects whether clients address servers by DNS name (the demo, which then
also shows the lookups) or by IP (the per-protocol fixtures, which stay free of DNS).
"""

from __future__ import annotations

from pathlib import Path

from tools.record import services
from tools.record.lab import Lab, Proc
from tools.record.plan import (
    BROKER,
    CT,
    DICOM_PACS_PORT,
    DICOM_WS_STORE_PORT,
    EHR,
    ENGINE,
    FHIR_HTTP_PORT,
    HL7_ADT_PORT,
    HL7_DEVICE_PORT,
    HTTPS_PORT,
    MONITOR,
    MQTT_WRONG_PASSWORD,
    NURSE,
    PACS,
    PUMP,
    RAD_WS,
    SPO2,
    TEMP,
    Host,
)

DHCP_HOSTS = (PUMP, SPO2, TEMP)


class Ward:
    def __init__(self, lab: Lab, by_name: bool = False) -> None:
        self.lab = lab
        self.by_name = by_name
        self.udhcpc_script: Path | None = None
        self.cert: Path | None = None

    def target(self, host: Host) -> str:
        return host.name if self.by_name else host.ip

    # -- daemons and servers ------------------------------------------------------------

    def start_network_services(self) -> None:
        self.udhcpc_script = services.write_udhcpc_script(self.lab.workdir)
        services.start_dnsmasq(self.lab)

    def start_servers(self) -> None:
        cert, key = services.make_certificate(self.lab.workdir)
        self.cert = cert
        services.start_mosquitto(self.lab)
        self.lab.start_actor(PACS, "pacs", port=DICOM_PACS_PORT)
        self.lab.start_actor(RAD_WS, "ws-store-scp", port=DICOM_WS_STORE_PORT)
        self.lab.start_actor(ENGINE, "hl7-engine", ports=[HL7_ADT_PORT, HL7_DEVICE_PORT])
        self.lab.start_actor(
            EHR,
            "ehr-web",
            http_port=FHIR_HTTP_PORT,
            https_port=HTTPS_PORT,
            cert=str(cert),
            key=str(key),
        )

    # -- DHCP and DNS ----------------------------------------------------------------

    def dhcp(self, host: Host) -> None:
        assert self.udhcpc_script is not None, "start_network_services() first"
        services.obtain_lease(self.lab, host, self.udhcpc_script)

    def dns_lookups(self, host: Host, reverse: str = "") -> None:
        self.lab.run_actor(host, "dns-lookups", reverse=reverse)

    # -- DICOM -------------------------------------------------------------------------

    def _dicom(self, host: Host, actor: str, **params: object) -> None:
        self.lab.run_actor(host, actor, server=self.target(PACS), port=DICOM_PACS_PORT, **params)

    def ct_store(self) -> None:
        self._dicom(CT, "ct-store")

    def ct_wrong_called_aet(self) -> None:
        self._dicom(CT, "ct-wrong-aet")

    def ws_find_get(self, patient_id: str) -> None:
        self._dicom(RAD_WS, "ws-find-get", patient_id=patient_id)

    def ws_move(self, patient_id: str) -> None:
        self._dicom(RAD_WS, "ws-move", patient_id=patient_id)

    def ws_abort(self) -> None:
        self._dicom(RAD_WS, "ws-abort")

    # -- HL7 ---------------------------------------------------------------------------

    def hl7(
        self,
        host: Host,
        actor: str,
        port: int,
        messages: str,
        count: int = 3,
        first: int = 1,
        interval: float = 0.2,
    ) -> None:
        server = self.target(ENGINE)
        self.lab.run_actor(
            host,
            actor,
            server=server,
            port=port,
            messages=messages,
            count=count,
            first=first,
            interval=interval,
        )

    def ehr_adt(self, actor: str = "hl7-send") -> None:
        self.hl7(EHR, actor, HL7_ADT_PORT, "adt")

    def monitor_oru(
        self, actor: str = "hl7-send", count: int = 3, first: int = 1, interval: float = 0.2
    ) -> None:
        self.hl7(MONITOR, actor, HL7_DEVICE_PORT, "monitor", count, first, interval)

    def pump_oru(self, count: int = 2, first: int = 1, interval: float = 0.2) -> None:
        self.hl7(PUMP, "hl7-send", HL7_DEVICE_PORT, "pump", count, first, interval)

    # -- MQTT --------------------------------------------------------------------------

    def nurse_subscriber(self, version: int, expect: int) -> Proc:
        return self.lab.start_actor(
            NURSE, "mqtt-nurse", server=self.target(BROKER), version=version, expect=expect
        )

    def spo2_sensor(self, count: int, interval: float = 0.3) -> None:
        self.lab.run_actor(
            SPO2, "mqtt-spo2", server=self.target(BROKER), count=count, interval=interval
        )

    def temperature_patch(self, count: int, interval: float = 0.3) -> None:
        self.lab.run_actor(
            TEMP, "mqtt-temp", server=self.target(BROKER), count=count, interval=interval
        )

    def bad_mqtt_login(self, host: Host, version: int, client_id: str) -> None:
        server, password = self.target(BROKER), MQTT_WRONG_PASSWORD
        self.lab.run_actor(
            host,
            "mqtt-bad-login",
            server=server,
            version=version,
            client_id=client_id,
            password=password,
        )

    # -- HTTP, FHIR, TLS ------------------------------------------------------------------

    def fhir_session(self) -> None:
        self.lab.run_actor(NURSE, "fhir-client", server=self.target(EHR), port=FHIR_HTTP_PORT)

    def tls_session(self) -> None:
        assert self.cert is not None, "start_servers() first"
        self.lab.run_actor(
            NURSE, "tls-client", server=self.target(EHR), port=HTTPS_PORT, cafile=str(self.cert)
        )
