"""Invented patients planted in the recordings.

None of these people exist. Every string here is distinctive on purpose: a PHI-safety test
searches the database, logs and outputs for them, so they must not collide with words that
could appear there for innocent reasons.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FakePatient:
    family: str
    given: str
    mrn: str
    birth_date: str  # YYYYMMDD, the HL7 and DICOM form
    sex: str
    street: str
    city: str
    fhir_id: str

    @property
    def hl7_name(self) -> str:
        return f"{self.family}^{self.given}"

    @property
    def fhir_birth_date(self) -> str:
        d = self.birth_date
        return f"{d[:4]}-{d[4:6]}-{d[6:]}"

    @property
    def hl7_address(self) -> str:
        return f"{self.street}^^{self.city}^ZZ^99901"

    @property
    def dicom_address(self) -> str:
        return f"{self.street}, {self.city} ZZ 99901"

    def planted_strings(self) -> list[str]:
        """The strings that identify this patient in the captured bytes."""
        return [
            self.hl7_name,
            self.family,
            self.mrn,
            self.birth_date,
            self.fhir_birth_date,
            self.street,
            self.city,
        ]


ALPHA = FakePatient(
    "TESTPATIENT", "ALPHA", "FAKE0001", "19710315", "F", "100 FAKE STREET", "TESTVILLE", "123"
)
BRAVO = FakePatient(
    "TESTPATIENT", "BRAVO", "FAKE0002", "19820202", "M", "200 MOCK AVENUE", "SAMPLETON", "124"
)
CHARLIE = FakePatient(
    "EXAMPLEPERSON",
    "CHARLIE",
    "FAKE0003",
    "19931203",
    "F",
    "300 DUMMY ROAD",
    "PLACEHOLDBURG",
    "125",
)

PATIENTS: tuple[FakePatient, ...] = (ALPHA, BRAVO, CHARLIE)


def all_planted_strings() -> list[str]:
    """Every planted string once, in a stable order."""
    seen: dict[str, None] = {}
    for patient in PATIENTS:
        for text in patient.planted_strings():
            seen.setdefault(text, None)
    return list(seen)


def patient_by_fhir_id(fhir_id: str) -> FakePatient | None:
    for patient in PATIENTS:
        if patient.fhir_id == fhir_id:
            return patient
    return None
