"""Small synthetic CT studies for invented patients.

UIDs are derived from fixed seeds so every recording carries the same instances; the
pixel data is a tiny gradient, enough to make C-STORE carry a real data set.
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, CTImageStorage, ExplicitVRLittleEndian, generate_uid
from tools.record.fake_phi import ALPHA, BRAVO, FakePatient

ROWS = COLS = 64
STUDY_DATE = "20240611"


def _uid(*seed: str) -> UID:
    return generate_uid(entropy_srcs=["medsentry-demo", *seed])


def ct_slice(patient: FakePatient, accession: str, index: int) -> Dataset:
    """One CT slice of the study identified by ``accession``."""
    study_uid = _uid(patient.mrn, accession)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = _uid(patient.mrn, accession, "sop", str(index))
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = _uid(patient.mrn, accession, "series")
    ds.PatientName = patient.hl7_name
    ds.PatientID = patient.mrn
    ds.PatientBirthDate = patient.birth_date
    ds.PatientSex = patient.sex
    ds.PatientAddress = patient.dicom_address
    ds.AccessionNumber = accession
    ds.StudyDate = STUDY_DATE
    ds.StudyTime = "101500"
    ds.StudyID = accession[-4:]
    ds.StudyDescription = "CT HEAD WO CONTRAST"
    ds.Modality = "CT"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    ds.Manufacturer = "MedSentry demo modality"
    ds.StationName = "CT01"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = ROWS
    ds.Columns = COLS
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    gradient = (np.add.outer(np.arange(ROWS), np.arange(COLS)) * 16 + index * 64) % 4096
    ds.PixelData = gradient.astype("<u2").tobytes()
    return ds


def ct_study(patient: FakePatient, accession: str, slices: int) -> list[Dataset]:
    return [ct_slice(patient, accession, i) for i in range(slices)]


def archive_seed() -> list[Dataset]:
    """What the PACS already holds before the recording starts."""
    return ct_study(BRAVO, "ACC20240610", slices=2)


def modality_study() -> list[Dataset]:
    """What the CT scanner sends during the recording."""
    return ct_study(ALPHA, "ACC20240611", slices=3)
