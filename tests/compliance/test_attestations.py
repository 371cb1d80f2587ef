"""Attestations: combining with data, audit trail, append-only storage, expiry."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from medsentry.compliance.attestations import (
    attach_document,
    attest,
    effective_attestations,
    history,
    verify_chain,
)
from medsentry.compliance.evaluators import AttestationView, Status, assess, combine
from medsentry.compliance.status import compliance_status, latest_assessment, run_assessment
from medsentry.errors import ConfigError, InputError
from medsentry.store.db import Store

from . import builders as b


def _view(answer: str) -> AttestationView:
    return AttestationView(id=1, answer=answer, comment="c", actor="a", at=0.0)


@pytest.mark.parametrize(
    ("automated", "answer", "asks", "expected"),
    [
        (Status.NOT_ASSESSED, None, True, Status.NOT_ASSESSED),
        (Status.NOT_ASSESSED, "pass", True, Status.PASS),
        (Status.FAIL, "pass", True, Status.FAIL),  # data is never overruled
        (Status.PASS, None, True, Status.PARTIAL),  # data covers only part of the control
        (Status.PASS, None, False, Status.PASS),
        (Status.PASS, "pass", True, Status.PASS),
        (Status.PASS, "fail", True, Status.FAIL),
        (Status.PARTIAL, "pass", True, Status.PARTIAL),
        (Status.PASS, "not_applicable", True, Status.NOT_APPLICABLE),
    ],
)
def test_combine(automated: Status, answer: str | None, asks: bool, expected: Status) -> None:
    status, basis = combine(automated, _view(answer) if answer else None, asks_attestation=asks)
    assert status is expected
    assert basis


def test_attestation_answers_a_control_and_keeps_a_trail(store: Store, tmp_path: Path) -> None:
    policy = tmp_path / "mfa-policy.pdf"
    policy.write_bytes(b"%PDF-1.4 policy")
    with store.session() as s:
        before = {r.control.id: r for r in assess(s, "hospital").results}
        assert before["nprm.mfa"].status is Status.NOT_ASSESSED
        doc = attach_document(s, policy, kind="policy", actor="ciso")
        attest(s, "nprm.mfa", "pass", "MFA enforced by the IdP", "ciso", document=doc, now=100)
        attest(s, "nprm.mfa", "partial", "Two legacy devices exempt", "ciso", now=200)
    with store.session() as s:
        after = {r.control.id: r for r in assess(s, "hospital").results}
        result = after["nprm.mfa"]
        assert result.status is Status.PARTIAL
        assert result.attestation is not None and result.attestation.actor == "ciso"
        trail = history(s, "nprm.mfa")
        assert [a.answer for a in trail] == ["pass", "partial"]
        assert trail[0].document_name == "mfa-policy.pdf"
        assert verify_chain(s) == []


def test_withdrawn_and_expired_attestations_stop_counting(store: Store) -> None:
    with store.session() as s:
        attest(s, "cpg.e2", "pass", "DMARC p=reject", "it", now=0)
        attest(s, "cpg.e3", "pass", "MFA", "it", valid_days=30, now=0)
        attest(s, "cpg.e2", "withdrawn", "mail gateway replaced", "it", now=10)
    with store.session() as s:
        assert set(effective_attestations(s, now=20)) == {"cpg.e3"}
        assert effective_attestations(s, now=31 * 86400) == {}


def test_attestations_are_append_only(store: Store) -> None:
    with store.session() as s:
        attest(s, "cpg.e2", "pass", "DMARC", "it")
    for statement in (
        "UPDATE compliance_attestations SET answer = 'fail'",
        "DELETE FROM compliance_attestations",
    ):
        with pytest.raises(DatabaseError, match="append-only"), store.session() as s:
            s.execute(text(statement))


def test_tampering_is_detected(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    try:
        with store.session() as s:
            attest(s, "cpg.e2", "pass", "DMARC", "it")
            attest(s, "cpg.e3", "fail", "no MFA yet", "it")
        with store.engine.begin() as conn:  # someone drops the guard and edits a row
            conn.execute(text("DROP TRIGGER compliance_attestations_no_update"))
            conn.execute(text("UPDATE compliance_attestations SET answer = 'pass' WHERE id = 2"))
        with store.session() as s:
            problems = verify_chain(s)
        assert problems == ["attestation 2: content does not match its digest"]
    finally:
        store.close()


def test_attestation_input_is_checked(store: Store, tmp_path: Path) -> None:
    with store.session() as s:
        with pytest.raises(ConfigError, match="unknown control"):
            attest(s, "nope", "pass", "x", "me")
        with pytest.raises(InputError, match="answer must be"):
            attest(s, "cpg.e2", "yes", "x", "me")
        with pytest.raises(InputError, match="comment"):
            attest(s, "cpg.e2", "pass", "  ", "me")
        with pytest.raises(InputError, match="kind"):
            attach_document(s, tmp_path / "x", kind="novel", actor="me")
        with pytest.raises(InputError, match="cannot read"):
            attach_document(s, tmp_path / "missing.pdf", kind="policy", actor="me")


def test_kept_assessments_give_status_per_profile(store: Store) -> None:
    b.device(store, "10.0.0.30", type="infusion_pump")
    b.hl7_phi(store, "10.0.0.30", "10.0.0.21")
    with store.session() as s:
        assert compliance_status(s) == {"hospital": None, "manufacturer": None}
        first = run_assessment(s, "hospital", actor="ops", now=1000)
    with store.session() as s:
        status = compliance_status(s)
        assert status["manufacturer"] is None
        hospital = status["hospital"]
        assert hospital is not None and hospital["assessment_id"] == first.id
        assert hospital["counts"]["fail"] >= 1
        latest = latest_assessment(s, "hospital")
        assert latest is not None
        e1 = next(r for r in latest["results"] if r["control"] == "hipaa.164.312.e.1")
        assert e1["status"] == "fail"
        assert "10.0.0.30" in e1["evidence"][0]["items"][0]
