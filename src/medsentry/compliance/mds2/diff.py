"""Declared versus observed: what an MDS2 form says about a device model against what its
devices were seen doing on the network.

Each check reads one topic of the form (``facts`` in forms.yaml, so both editions work) and
the traffic of the devices the form describes, and gives a verdict: the form is contradicted,
confirmed, cannot be checked from traffic, or is silent about something that was seen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from medsentry.compliance.mds2.questions import Answer, forms_spec
from medsentry.compliance.mds2.reader import declared_ports
from medsentry.compliance.mds2.repository import StoredForm, devices_for_form, get_form
from medsentry.compliance.observe import (
    INSECURE_SERVICE_PORTS,
    REMOTE_ACCESS_PORTS,
    Conversation,
    DeviceInfo,
    Observations,
    PhiTransfer,
    UnauthenticatedSession,
)

PROTOCOLS = {"hl7": "HL7", "dicom": "DICOM", "http": "FHIR/HTTP", "mqtt": "MQTT"}


class Verdict(StrEnum):
    CONTRADICTION = "contradiction"
    CONSISTENT = "consistent"
    UNVERIFIED = "unverified"  # the form answers, the traffic cannot confirm it
    UNDECLARED = "undeclared"  # the traffic shows it, the form does not answer


@dataclass
class DiffItem:
    check: str
    questions: list[str]
    declared: str
    observed: str
    verdict: Verdict
    evidence: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "questions": self.questions,
            "declared": self.declared,
            "observed": self.observed,
            "verdict": self.verdict.value,
            "evidence": self.evidence[:50],
        }


@dataclass
class FormDiff:
    form: StoredForm
    devices: list[DeviceInfo]
    items: list[DiffItem]

    @property
    def contradictions(self) -> list[DiffItem]:
        return [i for i in self.items if i.verdict is Verdict.CONTRADICTION]

    def to_json(self) -> dict[str, Any]:
        return {
            "form": {
                "id": self.form.id,
                "title": self.form.title,
                "version": self.form.version,
                "manufacturer": self.form.manufacturer,
                "models": self.form.models,
            },
            "devices": [d.label for d in self.devices],
            "contradictions": len(self.contradictions),
            "items": [i.to_json() for i in self.items],
        }


@dataclass
class DeviceTraffic:
    """The traffic of a set of devices, cut from the store-wide observations."""

    obs: Observations
    devices: list[DeviceInfo]
    ips: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.ips = {ip for d in self.devices for ip in d.ips}

    def _ours(self, *hosts: str) -> bool:
        return any(h in self.ips for h in hosts)

    @property
    def phi_cleartext(self) -> list[PhiTransfer]:
        return [t for t in self.obs.phi_cleartext if self._ours(t.sender, t.receiver)]

    @property
    def phi_public(self) -> list[PhiTransfer]:
        from medsentry.compliance.observe import is_public

        return [t for t in self.phi_cleartext if is_public(t.sender) or is_public(t.receiver)]

    @property
    def inbound_public(self) -> list[Conversation]:
        return [c for c in self.obs.inbound_public if c.resp_h in self.ips]

    @property
    def outbound_public(self) -> list[Conversation]:
        return [c for c in self.obs.outbound_public if c.orig_h in self.ips]

    @property
    def tls(self) -> list[Conversation]:
        return [c for c in self.obs.tls_conversations if self._ours(c.orig_h, c.resp_h)]

    @property
    def unauthenticated(self) -> list[UnauthenticatedSession]:
        return [s for s in self.obs.unauthenticated if self._ours(s.client, s.server)]

    def ports(self, role: str) -> dict[tuple[str, int], list[str]]:
        out: dict[tuple[str, int], list[str]] = {}
        for device in self.devices:
            for key in self.obs.services.get(device.id, {}).get(role, set()):
                out.setdefault(key, []).append(device.label)
        return out

    @property
    def remote_access_sessions(self) -> list[Conversation]:
        return [
            c
            for c in self.obs.conversations
            if c.resp_h in self.ips and (c.proto, c.resp_p) in REMOTE_ACCESS_PORTS
        ]


def _said(form: StoredForm, qid: str | None) -> str:
    if qid is None:
        return "not asked in this edition"
    answer = form.answers.get(qid)
    if answer is None or answer.value is Answer.BLANK:
        return f"{qid}: no answer"
    return f"{qid}: {answer.text or answer.value.value}"


def _describe_phi(traffic: DeviceTraffic, transfers: list[PhiTransfer]) -> list[str]:
    name = traffic.obs.name
    return [
        f"{name(t.sender)} -> {name(t.receiver)} port {t.port}: {t.messages} "
        f"{PROTOCOLS.get(t.protocol, t.protocol)} message(s) with patient data, clear text"
        for t in transfers
    ]


Check = Callable[[StoredForm, DeviceTraffic], DiffItem | None]


def _qid(form: StoredForm, fact: str) -> str | None:
    return forms_spec().facts[fact].question(form.version)


def check_phi_encrypted(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qid = _qid(form, "phi_encrypted_in_transit")
    declared = form.value(qid)
    clear = traffic.phi_cleartext
    protocols = sorted({PROTOCOLS.get(t.protocol, t.protocol) for t in clear})
    observed = (
        f"patient data in clear text over {', '.join(protocols)} "
        f"({sum(t.messages for t in clear)} messages)"
        if clear
        else f"no clear-text patient data; {len(traffic.tls)} TLS conversation(s)"
    )
    evidence = _describe_phi(traffic, clear)
    if declared is Answer.YES:
        verdict = Verdict.CONTRADICTION if clear else Verdict.CONSISTENT
    elif declared is Answer.NO:
        verdict = Verdict.CONSISTENT
    elif clear:
        verdict = Verdict.UNDECLARED
    else:
        return None
    return DiffItem(
        "phi_encrypted_in_transit",
        [q for q in [qid] if q],
        _said(form, qid),
        observed,
        verdict,
        evidence,
    )


def check_phi_capable(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qid = _qid(form, "phi_capable")
    declared = form.value(qid)
    clear = traffic.phi_cleartext
    if declared is Answer.NO and clear:
        verdict = Verdict.CONTRADICTION
    elif declared is Answer.YES:
        verdict = Verdict.CONSISTENT if clear else Verdict.UNVERIFIED
    elif declared in (Answer.BLANK, Answer.NA) and clear:
        verdict = Verdict.UNDECLARED
    else:
        return None
    observed = (
        "patient data seen in its traffic" if clear else "no patient data seen (TLS hides it)"
    )
    return DiffItem(
        "phi_capable",
        [q for q in [qid] if q],
        _said(form, qid),
        observed,
        verdict,
        _describe_phi(traffic, clear),
    )


def check_remote_service(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qid = _qid(form, "remote_service")
    if qid is None:
        return None
    declared = form.value(qid)
    inbound = traffic.inbound_public
    remote = traffic.remote_access_sessions
    name = traffic.obs.name
    evidence = [
        f"{c.orig_h} (internet) -> {name(c.resp_h)} {c.proto}/{c.resp_p}: {c.flows} connection(s)"
        for c in inbound
    ] + [
        f"{name(c.orig_h)} -> {name(c.resp_h)} {REMOTE_ACCESS_PORTS[(c.proto, c.resp_p)]} "
        f"({c.proto}/{c.resp_p}): {c.flows} session(s)"
        for c in remote
    ]
    seen = bool(inbound or remote)
    observed = (
        f"{len(inbound)} inbound connection path(s) from internet addresses, "
        f"{len(remote)} remote-access session path(s)"
        if seen
        else "no inbound connection from outside, no remote-access session"
    )
    if declared is Answer.NO:
        verdict = Verdict.CONTRADICTION if seen else Verdict.CONSISTENT
    elif declared is Answer.YES:
        verdict = Verdict.CONSISTENT if seen else Verdict.UNVERIFIED
    elif seen:
        verdict = Verdict.UNDECLARED
    else:
        return None
    return DiffItem("remote_service", [qid], _said(form, qid), observed, verdict, evidence)


def _public_peers(convs: list[Conversation]) -> set[str]:
    from medsentry.compliance.observe import is_public

    return {h for c in convs for h in (c.orig_h, c.resp_h) if is_public(h)}


def check_external(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qid = _qid(form, "external_communication")
    phi_qid = _qid(form, "phi_external_network")
    if qid is None:
        return None
    convs = traffic.outbound_public + traffic.inbound_public
    phi = traffic.phi_public
    name = traffic.obs.name
    evidence = [
        f"{name(c.orig_h)} -> {name(c.resp_h)} {c.proto}/{c.resp_p}: {c.flows} flow(s)"
        for c in convs
    ]
    declared = form.value(qid)
    phi_declared = form.value(phi_qid)
    if (declared is Answer.NO and convs) or (phi_declared is Answer.NO and phi):
        verdict = Verdict.CONTRADICTION
    elif declared is Answer.YES:
        verdict = Verdict.CONSISTENT if convs else Verdict.UNVERIFIED
    elif declared is Answer.NO:
        verdict = Verdict.CONSISTENT
    elif convs:
        verdict = Verdict.UNDECLARED
    else:
        return None
    observed = (
        f"traffic with {len(_public_peers(convs))}"
        " internet address(es)" + (", patient data among it" if phi else "")
        if convs
        else "no traffic with internet addresses"
    )
    questions = [q for q in (qid, phi_qid) if q]
    declared_text = "; ".join(_said(form, q) for q in questions)
    return DiffItem("external_communication", questions, declared_text, observed, verdict, evidence)


def _port_text(key: tuple[str | None, int]) -> str:
    return f"{key[1]}/{key[0]}" if key[0] else str(key[1])


def check_ports(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    list_qid = _qid(form, "ports_list_provided")
    hardening_qid = _qid(form, "unused_ports_disabled")
    declared = declared_ports(form.as_parsed())
    offered = traffic.ports("offers")
    used = traffic.ports("uses")
    questions = [q for q in (list_qid, hardening_qid) if q]
    declared_text = "; ".join(_said(form, q) for q in questions)
    if declared is None:
        if not offered:
            return None
        return DiffItem(
            "declared_ports",
            questions,
            declared_text + "; the form lists no ports",
            "open: " + ", ".join(f"{p}/{proto}" for proto, p in sorted(offered)),
            Verdict.UNDECLARED,
            [
                f"{', '.join(devs)} offers {p}/{proto}"
                for (proto, p), devs in sorted(offered.items())
            ],
        )

    def listed(key: tuple[str, int]) -> bool:
        return (key[0], key[1]) in declared or (None, key[1]) in declared

    extra_open = {k: v for k, v in offered.items() if not listed(k)}
    # Only well-known destination ports say something; ephemeral ones are client-side noise.
    extra_used = {k: v for k, v in used.items() if not listed(k) and k[1] < 49152 and k[1] != 53}
    evidence = [
        f"{', '.join(devs)} has {p}/{proto} open, not in the declared list"
        for (proto, p), devs in sorted(extra_open.items())
    ] + [
        f"{', '.join(devs)} connects to port {p}/{proto}, not in the declared list"
        for (proto, p), devs in sorted(extra_used.items())
    ]
    seen_ports = {p for _, p in offered} | {p for _, p in used}
    unseen = sorted(k for k in declared if k[1] not in seen_ports)
    if unseen:
        evidence.append("declared but not seen: " + ", ".join(_port_text(k) for k in unseen))
    observed = (
        f"open {', '.join(f'{p}/{proto}' for proto, p in sorted(offered)) or 'none'}; "
        f"uses {', '.join(f'{p}/{proto}' for proto, p in sorted(used) if p != 53) or 'none'}"
    )
    verdict = Verdict.CONTRADICTION if (extra_open or extra_used) else Verdict.CONSISTENT
    return DiffItem(
        "declared_ports",
        questions,
        declared_text + "; declared " + ", ".join(_port_text(k) for k in sorted(declared, key=str)),
        observed,
        verdict,
        evidence,
    )


def check_authenticated(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qids = [
        q for q in (_qid(form, "connections_authenticated"), _qid(form, "node_authentication")) if q
    ]
    said_yes = [q for q in qids if form.value(q) is Answer.YES]
    sessions = traffic.unauthenticated
    name = traffic.obs.name
    evidence = [
        f"{name(s.client)} -> {name(s.server)} port {s.port}: {s.reason} ({s.count}x)"
        for s in sessions
    ]
    if said_yes:
        verdict = Verdict.CONTRADICTION if sessions else Verdict.UNVERIFIED
    elif sessions and all(form.value(q) is Answer.NO for q in qids):
        verdict = Verdict.CONSISTENT
    elif sessions:
        verdict = Verdict.UNDECLARED
    else:
        return None
    observed = (
        f"{sum(s.count for s in sessions)} session(s) without authentication "
        f"({', '.join(sorted({PROTOCOLS.get(s.protocol, s.protocol) for s in sessions}))})"
        if sessions
        else "no unauthenticated session seen"
    )
    return DiffItem(
        "authenticated_connections",
        qids,
        "; ".join(_said(form, q) for q in qids),
        observed,
        verdict,
        evidence,
    )


def check_tls(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qid = _qid(form, "tls_supported")
    if qid is None:
        return None
    declared = form.value(qid)
    tls = traffic.tls
    if declared is Answer.NO and tls:
        verdict = Verdict.CONTRADICTION
    elif declared is Answer.YES:
        verdict = Verdict.CONSISTENT if tls else Verdict.UNVERIFIED
    else:
        return None
    name = traffic.obs.name
    return DiffItem(
        "tls",
        [qid],
        _said(form, qid),
        f"{len(tls)} TLS conversation path(s)" if tls else "no TLS seen",
        verdict,
        [f"{name(c.orig_h)} -> {name(c.resp_h)} port {c.resp_p}" for c in tls],
    )


def check_services(form: StoredForm, traffic: DeviceTraffic) -> DiffItem | None:
    qid = _qid(form, "unused_services_disabled")
    if qid is None or form.value(qid) is not Answer.YES:
        return None
    legacy = {k: v for k, v in traffic.ports("offers").items() if k in INSECURE_SERVICE_PORTS}
    return DiffItem(
        "legacy_services",
        [qid],
        _said(form, qid),
        ", ".join(INSECURE_SERVICE_PORTS[k] for k in sorted(legacy)) or "none offered",
        Verdict.CONTRADICTION if legacy else Verdict.CONSISTENT,
        [
            f"{', '.join(v)} offers {INSECURE_SERVICE_PORTS[k]} ({k[1]}/{k[0]})"
            for k, v in legacy.items()
        ],
    )


CHECKS: tuple[Check, ...] = (
    check_phi_encrypted,
    check_phi_capable,
    check_authenticated,
    check_remote_service,
    check_external,
    check_ports,
    check_tls,
    check_services,
)


def diff_form(session: Session, form_id: int, obs: Observations | None = None) -> FormDiff:
    """Compare one stored form with the traffic of the devices it describes."""
    form = get_form(session, form_id)
    observations = obs or Observations(session)
    devices = devices_for_form(form, observations)
    if not devices:
        return FormDiff(form, [], [])
    traffic = DeviceTraffic(observations, devices)
    items = [item for check in CHECKS if (item := check(form, traffic)) is not None]
    return FormDiff(form, devices, items)
