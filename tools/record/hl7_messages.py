"""HL7 v2 messages the simulated EHR, pump and monitor send, and the engine's ACKs.

The message shapes follow what such devices put on the wire: ADT^A01 from an EHR, and
IHE PCD-01 style ORU^R01 from device gateways, carrying the device identity in OBX-18
(patient monitor) or in a PRT participation segment with a UDI (infusion pump).
"""

from __future__ import annotations

from datetime import UTC, datetime

import hl7
from tools.record.fake_phi import ALPHA, BRAVO, CHARLIE, FakePatient

FACILITY = "GENHOSP"
ENGINE_APP = "HL7_ENGINE"
SEGMENT_SEP = "\r"

# Device identities as they appear in the messages.
MONITOR_EQUIPMENT = "IntelliVue MX450^Philips^00095CFFFE4D5331^EUI-64"
PUMP_DEVICE = "Plum 360^ICU Medical^0003B1FFFE4D5330^EUI-64"
PUMP_UDI = "(01)00840619012345(21)15SN4D5330^^2.16.840.1.113883.3.3719^ISO"
PUMP_SERIAL = "15SN4D5330"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y%m%d%H%M%S")


def _msh(sender: str, sender_facility: str, msg_type: str, control_id: str, version: str) -> str:
    return "|".join(
        [
            "MSH",
            "^~\\&",
            sender,
            sender_facility,
            ENGINE_APP,
            FACILITY,
            _now(),
            "",
            msg_type,
            control_id,
            "P",
            version,
            "",
            "",
            "AL",
            "NE",
        ]
    )


def _pid(patient: FakePatient, with_mrn: bool = True) -> str:
    mrn = f"{patient.mrn}^^^{FACILITY}^MR" if with_mrn else ""
    return "|".join(
        [
            "PID",
            "1",
            "",
            mrn,
            "",
            patient.hl7_name,
            "",
            patient.birth_date,
            patient.sex,
            "",
            "",
            patient.hl7_address,
        ]
    )


def join_segments(segments: list[str]) -> str:
    return SEGMENT_SEP.join(segments)


def adt_a01(patient: FakePatient, control_id: str, bed: str, with_mrn: bool = True) -> str:
    """An admission from the EHR; without an MRN the engine answers AE."""
    return join_segments(
        [
            _msh("EHR_ADT", FACILITY, "ADT^A01^ADT_A01", control_id, "2.5.1"),
            f"EVN|A01|{_now()}",
            _pid(patient, with_mrn),
            f"PV1|1|I|3W^{bed}^01^{FACILITY}||||4711^ATTENDING^DEMO",
        ]
    )


def mdm_t02(patient: FakePatient, control_id: str) -> str:
    """A document notification the engine does not route: it answers AR."""
    return join_segments(
        [
            _msh("EHR_DOCS", FACILITY, "MDM^T02^MDM_T02", control_id, "2.5.1"),
            f"EVN|T02|{_now()}",
            _pid(patient),
            f"TXA|1|DS|TX|{_now()}",
            "OBX|1|TX|DISCHARGE^Discharge summary||Demo text only",
        ]
    )


def _obx(
    index: int, kind: str, code: str, sub_id: str, value: str, unit: str, equipment: str = ""
) -> str:
    fields = ["OBX", str(index), kind, code, sub_id, value, unit, "", "", "", "", "R", "", ""]
    fields += [_now(), "", "", "", equipment]
    return "|".join(fields).rstrip("|")


def monitor_oru(patient: FakePatient, control_id: str, heart_rate: int, spo2: int) -> str:
    """Vital signs from the bedside monitor; OBX-18 names the equipment."""
    return join_segments(
        [
            _msh(
                "MON3W012^00095CFFFE4D5331^EUI-64", "PHILIPS", "ORU^R01^ORU_R01", control_id, "2.6"
            ),
            _pid(patient),
            "PV1|1|I|3W^012^01",
            f"OBR|1|{control_id}^MON3W012|{control_id}^MON3W012|"
            f"182777000^monitoring of patient^SNOMED-CT|||{_now()}",
            _obx(
                1,
                "NM",
                "147842^MDC_ECG_HEART_RATE^MDC",
                "1.1.1.1",
                str(heart_rate),
                "264864^MDC_DIM_BEAT_PER_MIN^MDC",
                MONITOR_EQUIPMENT,
            ),
            _obx(
                2,
                "NM",
                "150456^MDC_PULS_OXIM_SAT_O2^MDC",
                "1.1.2.1",
                str(spo2),
                "262688^MDC_DIM_PERCENT^MDC",
                MONITOR_EQUIPMENT,
            ),
        ]
    )


def _prt_device() -> str:
    # PRT-10 carries the device instance, PRT-16 its UDI, PRT-20 its serial number.
    fields = ["PRT", "1", "UC", "", "EQUIP^Equipment^HL70912"] + [""] * 5
    fields += [PUMP_DEVICE] + [""] * 5 + [PUMP_UDI] + [""] * 3 + [PUMP_SERIAL]
    return "|".join(fields)


def pump_oru(patient: FakePatient, control_id: str, rate_ml_h: int, remaining_ml: int) -> str:
    """Infusion status from the pump; the device is named in a PRT segment."""
    return join_segments(
        [
            _msh(
                "PUMP3W014^0003B1FFFE4D5330^EUI-64",
                "ICUMEDICAL",
                "ORU^R01^ORU_R01",
                control_id,
                "2.8.2",
            ),
            _pid(patient),
            "PV1|1|I|3W^014^01",
            f"OBR|1|{control_id}^PUMP3W014|{control_id}^PUMP3W014|"
            f"69986^MDC_DEV_PUMP_INFUS_VMD^MDC|||{_now()}",
            _prt_device(),
            _obx(
                1,
                "NM",
                "157784^MDC_FLOW_FLUID_PUMP^MDC",
                "1.1.1.1",
                str(rate_ml_h),
                "265266^MDC_DIM_MILLI_L_PER_HR^MDC",
            ),
            _obx(
                2,
                "NM",
                "68063^MDC_VOL_FLUID_TBI_REMAIN^MDC",
                "1.1.1.2",
                str(remaining_ml),
                "263762^MDC_DIM_MILLI_L^MDC",
            ),
        ]
    )


def ack_for(raw: str) -> str:
    """The engine's answer: AR for types it does not route, AE without an MRN, else AA."""
    message = hl7.parse(raw)
    msh = message.segment("MSH")
    control_id = str(msh(10))
    msg_type = str(msh(9)(1)(1))
    if msg_type not in {"ADT", "ORU"}:
        code, text, where, err = "AR", "Message type not supported", "MSH^1^9", "200^Unsupported"
    elif not str(message.segment("PID")(3)):
        code, text, where, err = "AE", "Required field PID-3 missing", "PID^1^3", "101^Required"
    else:
        code, text, where, err = "AA", "", "", ""
    ack = message.create_ack(ack_code=code, message_id=f"ACK{control_id}", application=ENGINE_APP)
    out = str(ack).rstrip(SEGMENT_SEP)
    if code != "AA":
        out += f"|{text}{SEGMENT_SEP}ERR||{where}|{err}^HL70357|E"
    return out


# The conversations every recording contains, by sender.
def ehr_adt_messages() -> list[str]:
    return [
        adt_a01(ALPHA, "ADT000101", "010"),
        adt_a01(BRAVO, "ADT000102", "012"),
        adt_a01(CHARLIE, "ADT000103", "014", with_mrn=False),
        mdm_t02(ALPHA, "MDM000104"),
    ]


def monitor_messages(count: int, first: int = 1) -> list[str]:
    return [
        monitor_oru(BRAVO, f"MON{n:06d}", heart_rate=72 + n % 7, spo2=97 - n % 2)
        for n in range(first, first + count)
    ]


def pump_messages(count: int, first: int = 1) -> list[str]:
    return [
        pump_oru(CHARLIE, f"PMP{n:06d}", rate_ml_h=125, remaining_ml=max(500 - 25 * n, 25))
        for n in range(first, first + count)
    ]
