"""FHIR R4 resources (as JSON dicts) about the invented patients and the ward's devices."""

from __future__ import annotations

from typing import Any

from tools.record.fake_phi import FakePatient

FHIR_JSON = "application/fhir+json"


def patient(p: FakePatient) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": p.fhir_id,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": p.mrn}],
        "name": [{"family": p.family, "given": [p.given]}],
        "gender": "female" if p.sex == "F" else "male",
        "birthDate": p.fhir_birth_date,
        "address": [{"line": [p.street], "city": p.city, "postalCode": "99901"}],
    }


def observation(
    p: FakePatient, obs_id: str, loinc: str, display: str, value: float, unit: str
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id,
        "status": "final",
        "category": [{"coding": [{"code": "vital-signs"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc, "display": display}]},
        "subject": {"reference": f"Patient/{p.fhir_id}", "display": p.hl7_name},
        "valueQuantity": {"value": value, "unit": unit},
    }


def observations_bundle(p: FakePatient) -> dict[str, Any]:
    entries = [
        observation(p, "obs-hr-1", "8867-4", "Heart rate", 74, "/min"),
        observation(p, "obs-spo2-1", "59408-5", "Oxygen saturation", 97, "%"),
    ]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(entries),
        "entry": [{"resource": e} for e in entries],
    }


def infusion_pump_device() -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "id": "pump-3w-014",
        "udiCarrier": [{"deviceIdentifier": "00840619012345", "carrierHRF": "(01)00840619012345"}],
        "manufacturer": "ICU Medical",
        "deviceName": [{"name": "Plum 360", "type": "model-name"}],
        "serialNumber": "15SN4D5330",
        "type": {"coding": [{"system": "urn:iso:std:iso:11073:10101", "code": "69986"}]},
    }


def capability_statement() -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "fhirVersion": "4.0.1",
        "format": [FHIR_JSON],
    }


def operation_outcome(text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": text}],
    }
