"""The recorder's fixed ingredients: host plan, invented patients, HL7 and DICOM content,
and the command lines of the real daemons. No namespaces are created here."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import hl7
import netaddr
import pytest
from tools.record import hl7_messages, services
from tools.record.dicom_data import archive_seed, modality_study
from tools.record.fake_phi import PATIENTS, all_planted_strings
from tools.record.plan import GATEWAY, HOSTS, PUMP, SUBNET, SWITCH_NS, Host

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "captures"


# -- host plan ---------------------------------------------------------------------------


def test_hosts_are_unique_and_inside_the_private_subnet() -> None:
    network = ipaddress.ip_network(SUBNET)
    assert network.is_private
    for attr in ("name", "ip", "mac", "netns", "veth"):
        assert len({getattr(h, attr) for h in HOSTS}) == len(HOSTS), attr
    assert all(ipaddress.ip_address(h.ip) in network for h in HOSTS)
    # Linux limits interface names to 15 bytes.
    assert all(len(h.veth) <= 15 for h in HOSTS)
    assert SWITCH_NS not in {h.netns for h in HOSTS}


@pytest.mark.parametrize("host", HOSTS, ids=lambda h: h.name)
def test_mac_prefix_is_registered_to_the_claimed_vendor(host: Host) -> None:
    mac = netaddr.EUI(host.mac)
    assert not mac.words[0] & 0x03  # globally administered unicast, like a real NIC
    assert host.oui_vendor.lower() in mac.oui.registration().org.lower()


# -- invented patients -----------------------------------------------------------------------


def test_committed_fake_phi_list_matches_the_patients() -> None:
    committed = json.loads((FIXTURES / "fake_phi.json").read_text())
    assert committed == all_planted_strings()
    for patient in PATIENTS:
        assert patient.hl7_name in committed and patient.mrn in committed


# -- HL7 ------------------------------------------------------------------------------------


def test_engine_answers_aa_ae_and_ar_as_planned() -> None:
    messages = hl7_messages.ehr_adt_messages()
    codes = [str(hl7.parse(hl7_messages.ack_for(m)).segment("MSA")(1)) for m in messages]
    assert codes == ["AA", "AA", "AE", "AR"]
    for message in messages:
        ack = hl7.parse(hl7_messages.ack_for(message))
        assert str(ack.segment("MSA")(2)) == str(hl7.parse(message).segment("MSH")(10))


def test_device_messages_carry_device_identities() -> None:
    monitor = hl7.parse(hl7_messages.monitor_messages(1)[0])
    assert str(monitor.segment("MSH")(9)) == "ORU^R01^ORU_R01"
    for obx in monitor.segments("OBX"):
        assert str(obx(18)) == hl7_messages.MONITOR_EQUIPMENT
    pump = hl7.parse(hl7_messages.pump_messages(1)[0])
    prt = pump.segment("PRT")
    assert str(prt(10)) == hl7_messages.PUMP_DEVICE
    assert str(prt(16)) == hl7_messages.PUMP_UDI
    assert str(prt(20)) == hl7_messages.PUMP_SERIAL


def test_control_ids_do_not_repeat_within_a_sender() -> None:
    for batch in (
        hl7_messages.ehr_adt_messages(),
        hl7_messages.monitor_messages(12),
        hl7_messages.pump_messages(6),
    ):
        ids = [str(hl7.parse(m).segment("MSH")(10)) for m in batch]
        assert len(set(ids)) == len(ids)


# -- DICOM ----------------------------------------------------------------------------------


def test_synthetic_studies_are_deterministic_and_distinct() -> None:
    first, second = modality_study(), modality_study()
    assert [d.SOPInstanceUID for d in first] == [d.SOPInstanceUID for d in second]
    assert len({d.SOPInstanceUID for d in first}) == len(first) == 3
    prior = archive_seed()
    assert {d.StudyInstanceUID for d in prior}.isdisjoint({d.StudyInstanceUID for d in first})
    assert str(first[0].PatientName) == PATIENTS[0].hl7_name
    assert len(first[0].PixelData) == first[0].Rows * first[0].Columns * 2


# -- daemons ------------------------------------------------------------------------------


def test_dhcp_client_command_announces_the_fingerprint() -> None:
    argv = services.udhcpc_argv(PUMP, Path("/tmp/script"))
    assert argv[argv.index("-V") + 1] == PUMP.dhcp_vendor_class
    assert f"hostname:{PUMP.dhcp_hostname}" in argv
    requested = [int(argv[i + 1]) for i, a in enumerate(argv) if a == "-O"]
    assert requested == list(PUMP.dhcp_requests)
    mud = next(a for a in argv if a.startswith("0xa1:"))
    assert bytes.fromhex(mud[5:]).decode() == PUMP.mud_url
    # The lease's resolver settings go to the namespace's own file, never /etc/resolv.conf.
    assert f"RESOLV_OUT=/etc/netns/{PUMP.netns}/resolv.conf" in argv


def test_dnsmasq_serves_only_the_ward() -> None:
    argv = services.dnsmasq_argv(Path("/tmp/work"))
    assert "--no-resolv" in argv and not any(a.startswith("--server") for a in argv)
    assert "--interface=eth0" in argv and "--bind-interfaces" in argv
    for host in HOSTS:
        if host.dhcp:
            assert f"--dhcp-host={host.mac},{host.ip},{host.name}" in argv
        else:
            assert f"--host-record={host.fqdn},{host.name},{host.ip}" in argv
    assert f"--dhcp-option=option:router,{GATEWAY.ip}" in argv
