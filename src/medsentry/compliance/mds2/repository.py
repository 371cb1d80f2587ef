"""Storing MDS2 forms per device model, and finding the inventory devices a form describes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from medsentry.compliance.mds2.questions import Answer
from medsentry.compliance.mds2.reader import FormAnswer, ParsedForm
from medsentry.compliance.names import norm_model, same_maker
from medsentry.compliance.observe import DeviceInfo, Observations
from medsentry.errors import InputError
from medsentry.store.models.compliance import Mds2AnswerRow, Mds2DeviceLinkRow, Mds2FormRow
from medsentry.store.models.core import DeviceIp, DeviceRow


@dataclass
class StoredForm:
    """A form as kept in the store, with its answers keyed by canonical id."""

    id: int
    version: str
    manufacturer: str | None
    device_description: str | None
    models: list[str]
    document_id: str | None
    release_date: str | None
    source_path: str | None
    imported_at: float
    issues: list[dict[str, str]]
    answers: dict[str, FormAnswer] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    linked_device_ids: list[int] = field(default_factory=list)

    @property
    def title(self) -> str:
        models = ", ".join(self.models) or self.device_description or "unnamed model"
        return f"{self.manufacturer or 'unknown maker'} {models} ({self.version})"

    def value(self, question_id: str | None) -> Answer:
        if question_id is None:
            return Answer.BLANK
        answer = self.answers.get(question_id)
        return answer.value if answer else Answer.BLANK

    def as_parsed(self) -> ParsedForm:
        return ParsedForm(
            version=self.version,
            sha256="",
            source=self.source_path or "",
            answers=self.answers,
            manufacturer=self.manufacturer,
            device_description=self.device_description,
            models=self.models,
            document_id=self.document_id,
            release_date=self.release_date,
            notes=self.notes,
            issues=self.issues,
        )


def resolve_devices(session: Session, selectors: list[str]) -> list[int]:
    """Device ids for keys (``mac:..``, ``ip:..``), MAC addresses or IP addresses."""
    ids = []
    for sel in selectors:
        value = sel.strip()
        device_id = session.scalar(select(DeviceRow.id).where(DeviceRow.key == value))
        if device_id is None:
            device_id = session.scalar(select(DeviceRow.id).where(DeviceRow.mac == value.lower()))
        if device_id is None:
            device_id = session.scalar(select(DeviceIp.device_id).where(DeviceIp.ip == value))
        if device_id is None:
            raise InputError(
                f"no device {value!r} in the inventory: give a device key, MAC or IP "
                "(see `medsentry devices`)"
            )
        ids.append(device_id)
    return ids


def save_form(
    session: Session,
    form: ParsedForm,
    *,
    actor: str,
    devices: list[str] | None = None,
    now: float | None = None,
) -> tuple[int, bool]:
    """Store a form (the same file twice is stored once) and link it to devices.

    Returns (form id, whether it was new).
    """
    device_ids = resolve_devices(session, devices or [])
    held = session.scalar(select(Mds2FormRow.id).where(Mds2FormRow.sha256 == form.sha256))
    created = held is None
    if held is None:
        row = Mds2FormRow(
            sha256=form.sha256,
            form_version=form.version,
            manufacturer=(form.manufacturer or None) and form.manufacturer[:256],
            device_description=(form.device_description or None) and form.device_description[:1024],
            models=form.models,
            document_id=(form.document_id or None) and form.document_id[:256],
            release_date=(form.release_date or None) and str(form.release_date)[:40],
            source_path=form.source[:1024],
            imported_at=now if now is not None else time.time(),
            actor=actor[:256],
            issues=form.issues,
        )
        session.add(row)
        session.flush()
        held = row.id
        values = [
            {
                "form_id": held,
                "question_id": a.question_id,
                "raw_id": a.raw_id[:64],
                "value": a.value.value,
                "text": a.text,
                "note": a.note,
            }
            for a in form.answers.values()
        ]
        values += [
            {
                "form_id": held,
                "question_id": f"NOTE-{ref}"[:32],
                "raw_id": f"Note {ref}"[:64],
                "value": Answer.TEXT.value,
                "text": text,
                "note": None,
            }
            for ref, text in form.notes.items()
        ]
        if values:
            session.execute(insert(Mds2AnswerRow), values)
    link_devices(session, held, device_ids)
    return held, created


def link_devices(session: Session, form_id: int, device_ids: list[int]) -> None:
    held = set(
        session.scalars(
            select(Mds2DeviceLinkRow.device_id).where(Mds2DeviceLinkRow.form_id == form_id)
        )
    )
    for device_id in dict.fromkeys(device_ids):
        if device_id not in held:
            session.add(Mds2DeviceLinkRow(form_id=form_id, device_id=device_id))
    session.flush()


def delete_form(session: Session, form_id: int) -> None:
    session.execute(delete(Mds2FormRow).where(Mds2FormRow.id == form_id))


def _stored(row: Mds2FormRow, answers: list[Mds2AnswerRow], links: list[int]) -> StoredForm:
    form = StoredForm(
        id=row.id,
        version=row.form_version,
        manufacturer=row.manufacturer,
        device_description=row.device_description,
        models=list(row.models or []),
        document_id=row.document_id,
        release_date=row.release_date,
        source_path=row.source_path,
        imported_at=row.imported_at,
        issues=list(row.issues or []),
        linked_device_ids=links,
    )
    for a in answers:
        if a.question_id.startswith("NOTE-"):
            form.notes[a.question_id.removeprefix("NOTE-")] = a.text or ""
        else:
            form.answers[a.question_id] = FormAnswer(
                a.question_id, a.raw_id, Answer(a.value), a.text, a.note
            )
    return form


def get_form(session: Session, form_id: int) -> StoredForm:
    row = session.get(Mds2FormRow, form_id)
    if row is None:
        raise InputError(f"no MDS2 form {form_id}: list them with `medsentry mds2 list`")
    answers = list(
        session.scalars(
            select(Mds2AnswerRow).where(Mds2AnswerRow.form_id == form_id).order_by(Mds2AnswerRow.id)
        )
    )
    links = list(
        session.scalars(
            select(Mds2DeviceLinkRow.device_id).where(Mds2DeviceLinkRow.form_id == form_id)
        )
    )
    return _stored(row, answers, links)


def list_forms(session: Session) -> list[StoredForm]:
    ids = list(session.scalars(select(Mds2FormRow.id).order_by(Mds2FormRow.id)))
    return [get_form(session, i) for i in ids]


def devices_for_form(form: StoredForm, obs: Observations) -> list[DeviceInfo]:
    """Devices linked to the form explicitly, plus devices whose model the form lists."""
    chosen = {i: obs.device_by_id[i] for i in form.linked_device_ids if i in obs.device_by_id}
    models = {norm_model(m) for m in form.models if norm_model(m)}
    for device in obs.devices:
        if device.id in chosen or not device.model:
            continue
        maker = device.manufacturer or device.vendor
        if norm_model(device.model) in models and (
            not maker or not form.manufacturer or same_maker(maker, form.manufacturer)
        ):
            chosen[device.id] = device
    return list(chosen.values())
