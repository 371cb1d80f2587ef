"""DICOM peers built on pynetdicom: the PACS, the CT scanner and the radiology workstation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]  # generated at import time
    CTImageStorage,
    PatientRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
    Verification,
)
from tools.record.actor import expect, serve_until_terminated
from tools.record.dicom_data import archive_seed, modality_study
from tools.record.plan import AET_CT, AET_PACS, AET_WS, DICOM_WS_STORE_PORT, RAD_WS

SUCCESS = 0x0000
PENDING = 0xFF00
MOVE_DESTINATIONS = {AET_WS: (RAD_WS.ip, DICOM_WS_STORE_PORT)}
LEVEL_KEYS = {
    "PATIENT": "PatientID",
    "STUDY": "StudyInstanceUID",
    "SERIES": "SeriesInstanceUID",
    "IMAGE": "SOPInstanceUID",
}
MATCH_KEYS = ("PatientID", "PatientName", "AccessionNumber", *LEVEL_KEYS.values())


# -- the archive ----------------------------------------------------------------------


class Archive:
    """The PACS's in-memory store, seeded with a prior study."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Dataset] = {str(ds.SOPInstanceUID): ds for ds in archive_seed()}

    def add(self, ds: Dataset) -> None:
        with self._lock:
            self._items[str(ds.SOPInstanceUID)] = ds

    def matching(self, query: Dataset) -> list[Dataset]:
        with self._lock:
            items = list(self._items.values())
        return [ds for ds in items if _matches(ds, query)]


def _matches(ds: Dataset, query: Dataset) -> bool:
    for key in MATCH_KEYS:
        wanted = str(query.get(key, "") or "")
        if not wanted or wanted == "*":
            continue
        have = str(ds.get(key, ""))
        if wanted.endswith("*"):
            if not have.startswith(wanted[:-1]):
                return False
        elif have != wanted:
            return False
    return True


def _find_responses(archive: Archive, query: Dataset) -> Iterator[Dataset]:
    level = str(query.QueryRetrieveLevel)
    unique_key = LEVEL_KEYS.get(level, "SOPInstanceUID")
    seen: set[str] = set()
    for ds in archive.matching(query):
        key = str(ds.get(unique_key, ""))
        if key in seen:
            continue
        seen.add(key)
        answer = Dataset()
        for elem in query:
            setattr(answer, elem.keyword, ds.get(elem.keyword, elem.value))
        answer.QueryRetrieveLevel = level
        answer.RetrieveAETitle = AET_PACS
        yield answer


def _pacs_handlers(archive: Archive) -> list[Any]:
    def on_echo(event: evt.Event) -> int:
        return SUCCESS

    def on_store(event: evt.Event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        archive.add(ds)
        return SUCCESS

    def on_find(event: evt.Event) -> Iterator[tuple[int, Dataset | None]]:
        for answer in _find_responses(archive, event.identifier):
            if event.is_cancelled:
                yield 0xFE00, None
                return
            yield PENDING, answer

    def on_get(event: evt.Event) -> Iterator[int | tuple[int, Dataset]]:
        matches = archive.matching(event.identifier)
        yield len(matches)
        for ds in matches:
            yield PENDING, ds

    def on_move(event: evt.Event) -> Iterator[Any]:
        destination = MOVE_DESTINATIONS.get(str(event.move_destination).strip())
        if destination is None:
            yield None, None  # unknown move destination: the SCP answers 0xA801
            return
        matches = archive.matching(event.identifier)
        yield destination
        yield len(matches)
        for ds in matches:
            yield PENDING, ds

    return [
        (evt.EVT_C_ECHO, on_echo),
        (evt.EVT_C_STORE, on_store),
        (evt.EVT_C_FIND, on_find),
        (evt.EVT_C_GET, on_get),
        (evt.EVT_C_MOVE, on_move),
    ]


def _serve(ae: AE, port: int, handlers: list[Any]) -> None:
    server = ae.start_server(("0.0.0.0", port), block=False, evt_handlers=handlers)
    assert server is not None
    serve_until_terminated(server.shutdown)


def run_pacs(params: dict[str, Any]) -> None:
    """The archive: Verification, Storage and Query/Retrieve (FIND, GET, MOVE) SCP."""
    ae = AE(ae_title=AET_PACS)
    ae.require_called_aet = True  # associations addressed to another title are rejected
    ae.add_supported_context(Verification)
    for context in StoragePresentationContexts:
        # SCU role too: C-GET sends the instances back over the same association.
        assert context.abstract_syntax is not None
        ae.add_supported_context(context.abstract_syntax, scu_role=True, scp_role=True)
    for model in (
        PatientRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelFind,
        StudyRootQueryRetrieveInformationModelGet,
        StudyRootQueryRetrieveInformationModelMove,
    ):
        ae.add_supported_context(model)
    ae.add_requested_context(CTImageStorage)  # for the C-MOVE sub-association
    _serve(ae, int(params["port"]), _pacs_handlers(Archive()))


def run_workstation_store_scp(params: dict[str, Any]) -> None:
    """The workstation's own Storage SCP, the destination of its C-MOVE requests."""
    ae = AE(ae_title=AET_WS)
    ae.add_supported_context(CTImageStorage)
    ae.add_supported_context(Verification)
    _serve(ae, int(params["port"]), [(evt.EVT_C_STORE, lambda event: SUCCESS)])


# -- the SCUs -------------------------------------------------------------------------


def ct_echo_and_store(params: dict[str, Any]) -> None:
    """The CT scanner verifies the link, sends its new study and releases."""
    ae = AE(ae_title=AET_CT)
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate(params["server"], int(params["port"]), ae_title=AET_PACS)
    expect(assoc.is_established, "CT association to the PACS was not accepted")
    status = assoc.send_c_echo()
    expect(status.Status == SUCCESS, "C-ECHO failed")
    for ds in modality_study():
        status = assoc.send_c_store(ds)
        expect(bool(status) and status.Status == SUCCESS, "C-STORE failed")
    assoc.release()


def ct_wrong_called_aet(params: dict[str, Any]) -> None:
    """A misconfigured modality calls the PACS by the wrong title and is rejected."""
    ae = AE(ae_title=AET_CT)
    ae.add_requested_context(Verification)
    assoc = ae.associate(params["server"], int(params["port"]), ae_title="PACS")
    expect(assoc.is_rejected, "the PACS should reject an unknown called AE title")


def _workstation_ae() -> AE:
    ae = AE(ae_title=AET_WS)
    ae.add_requested_context(PatientRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    ae.add_requested_context(CTImageStorage)
    return ae


def _study_query(patient_id: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.PatientID = patient_id
    query.PatientName = ""
    query.StudyInstanceUID = ""
    query.StudyDate = ""
    query.AccessionNumber = ""
    query.StudyDescription = ""
    return query


def _find_studies(assoc: Any, patient_id: str) -> list[str]:
    uids = []
    for status, answer in assoc.send_c_find(
        _study_query(patient_id), StudyRootQueryRetrieveInformationModelFind
    ):
        expect(status is not None and "Status" in status, "C-FIND got no status")
        if status.Status == PENDING and answer is not None:
            uids.append(str(answer.StudyInstanceUID))
    return uids


def _retrieve_query(study_uid: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = study_uid
    return query


def workstation_find_and_get(params: dict[str, Any]) -> None:
    """The radiologist searches patients and studies, then pulls a prior study by C-GET."""
    received: list[str] = []

    def on_store(event: evt.Event) -> int:
        received.append(str(event.dataset.SOPInstanceUID))
        return SUCCESS

    ae = _workstation_ae()
    role = build_role(CTImageStorage, scp_role=True)
    assoc = ae.associate(
        params["server"],
        int(params["port"]),
        ae_title=AET_PACS,
        ext_neg=[role],
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    expect(assoc.is_established, "workstation association was not accepted")
    patients = Dataset()
    patients.QueryRetrieveLevel = "PATIENT"
    patients.PatientName = "TESTPATIENT*"
    patients.PatientID = ""
    patients.PatientBirthDate = ""
    found = [
        a for s, a in assoc.send_c_find(patients, PatientRootQueryRetrieveInformationModelFind) if a
    ]
    expect(bool(found), "patient-level C-FIND found nobody")
    studies = _find_studies(assoc, params["patient_id"])
    expect(bool(studies), "study-level C-FIND found no study")
    for _status, _ in assoc.send_c_get(
        _retrieve_query(studies[0]), StudyRootQueryRetrieveInformationModelGet
    ):
        pass
    expect(bool(received), "C-GET delivered no instance")
    assoc.release()


def workstation_move(params: dict[str, Any]) -> None:
    """The workstation asks the PACS to push a study to its own Storage SCP."""
    ae = _workstation_ae()
    assoc = ae.associate(params["server"], int(params["port"]), ae_title=AET_PACS)
    expect(assoc.is_established, "workstation association was not accepted")
    studies = _find_studies(assoc, params["patient_id"])
    expect(bool(studies), "study-level C-FIND found no study to move")
    final = None
    for status, _ in assoc.send_c_move(
        _retrieve_query(studies[0]), AET_WS, StudyRootQueryRetrieveInformationModelMove
    ):
        final = status
    expect(final is not None and final.Status == SUCCESS, "C-MOVE did not complete")
    assoc.release()


def workstation_echo_then_abort(params: dict[str, Any]) -> None:
    """A viewer that is closed mid-session aborts its association instead of releasing."""
    ae = AE(ae_title=AET_WS)
    ae.add_requested_context(Verification)
    assoc = ae.associate(params["server"], int(params["port"]), ae_title=AET_PACS)
    expect(assoc.is_established, "workstation association was not accepted")
    assoc.send_c_echo()
    assoc.abort()
