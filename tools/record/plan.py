"""The simulated hospital network: hosts, addresses, MACs, names and service ports.

Everything here is fixed so that every recording has the same hosts and the same
conversations; only timestamps, TCP ports chosen by the kernel and random ids differ.
Each MAC starts with an IEEE OUI registered to a plausible maker for the role, so the
inventory's vendor lookup has something real to find.
"""

from __future__ import annotations

from dataclasses import dataclass

SUBNET = "10.77.0.0/24"
PREFIX_LEN = 24
DOMAIN = "hospital.example"
BRIDGE = "br-ward"
SWITCH_NS = "ms-switch"


@dataclass(frozen=True)
class Host:
    """One simulated device: its own network namespace, veth and MAC."""

    name: str
    ip: str
    mac: str
    role: str
    oui_vendor: str
    dhcp: bool = False
    dhcp_vendor_class: str = ""
    dhcp_hostname: str = ""
    # Option 55 differs per DHCP client stack; that difference is a device fingerprint.
    dhcp_requests: tuple[int, ...] = ()
    mud_url: str = ""

    @property
    def netns(self) -> str:
        return f"ms-{self.name}"

    @property
    def veth(self) -> str:
        # The switch-side end of the veth pair; interface names are limited to 15 bytes.
        return f"sw-{self.name}"[:15]

    @property
    def fqdn(self) -> str:
        return f"{self.name}.{DOMAIN}"


GATEWAY = Host("gw", "10.77.0.1", "00:00:0c:4d:53:01", "gateway, DHCP and DNS", "Cisco Systems")
PACS = Host("pacs", "10.77.0.10", "00:1c:23:4d:53:10", "PACS archive (DICOM SCP)", "Dell")
CT = Host("ct01", "10.77.0.11", "44:4b:5d:4d:53:11", "CT modality (DICOM SCU)", "GE Healthcare")
RAD_WS = Host(
    "radws01", "10.77.0.12", "00:68:eb:4d:53:12", "radiology workstation (DICOM SCU)", "HP Inc."
)
EHR = Host(
    "ehr", "10.77.0.20", "b8:6c:e0:4d:53:20", "EHR server (HL7 ADT, FHIR, HTTPS)", "Hewlett Packard"
)
ENGINE = Host("hl7", "10.77.0.21", "14:fe:b5:4d:53:21", "HL7 interface engine (MLLP)", "Dell")
PUMP = Host(
    "pump3w014",
    "10.77.0.30",
    "00:03:b1:4d:53:30",
    "infusion pump (HL7 ORU with PRT)",
    "ICU Medical",
    dhcp=True,
    dhcp_vendor_class="ICUMedical-Plum360-15.1",
    dhcp_hostname="PUMP-3W-014",
    dhcp_requests=(1, 3, 6, 12, 15, 42, 43),
    mud_url=f"https://mud.{DOMAIN}/plum360.json",
)
MONITOR = Host(
    "mon3w012",
    "10.77.0.31",
    "00:09:5c:4d:53:31",
    "patient monitor (HL7 ORU with OBX-18)",
    "Philips Medical Systems",
)
BROKER = Host("mqtt", "10.77.0.40", "b8:27:eb:4d:53:40", "MQTT broker (mosquitto)", "Raspberry Pi")
SPO2 = Host(
    "spo2b12",
    "10.77.0.41",
    "e0:c2:b7:4d:53:41",
    "SpO2 wearable (MQTT 3.1.1)",
    "Masimo",
    dhcp=True,
    dhcp_vendor_class="Masimo-Wearable-SpO2",
    dhcp_hostname="SPO2-W3-B12",
    dhcp_requests=(1, 3, 6, 15, 28, 51),
)
TEMP = Host(
    "tempb14",
    "10.77.0.42",
    "08:3a:8d:4d:53:42",
    "temperature patch (MQTT 5)",
    "Espressif",
    dhcp=True,
    dhcp_vendor_class="ESP32-TempPatch",
    dhcp_hostname="TEMP-W3-B14",
    dhcp_requests=(1, 3, 6, 15, 28, 31, 33, 43, 44, 46, 47, 121),
)
NURSE = Host(
    "nurse3w",
    "10.77.0.50",
    "00:68:eb:4d:53:50",
    "nurse station (MQTT subscriber, FHIR and HTTPS client)",
    "HP Inc.",
)

HOSTS: tuple[Host, ...] = (
    GATEWAY,
    PACS,
    CT,
    RAD_WS,
    EHR,
    ENGINE,
    PUMP,
    MONITOR,
    BROKER,
    SPO2,
    TEMP,
    NURSE,
)

# Service ports. HL7 runs on the registered port and on one that is not, so analyzers
# cannot rely on the port number.
DICOM_PACS_PORT = 11112
DICOM_WS_STORE_PORT = 11113
HL7_ADT_PORT = 2575
HL7_DEVICE_PORT = 7710
MQTT_OPEN_PORT = 1883
MQTT_AUTH_PORT = 1884
FHIR_HTTP_PORT = 8080
HTTPS_PORT = 443

# DICOM application entity titles.
AET_PACS = "PACS_ARCHIVE"
AET_CT = "CT_SCANNER_01"
AET_WS = "RAD_WS_01"

# MQTT accounts on the password listener; the wrong one is what a misconfigured device sends.
MQTT_USER = "temp-patch-b14"
MQTT_PASSWORD = "ward3-sensor-pass"
MQTT_WRONG_PASSWORD = "factory-default"


def host_by_name(name: str) -> Host:
    for host in HOSTS:
        if host.name == name:
            return host
    raise KeyError(f"no host named {name!r} in the recording plan")
