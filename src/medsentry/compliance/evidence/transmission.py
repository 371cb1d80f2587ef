"""Transmission security: patient data in clear text, sessions without authentication."""

from __future__ import annotations

from medsentry.compliance.evaluators import Context, Evidence, Status, evaluator
from medsentry.compliance.evidence import DeviceFilter, scope_words

PROTOCOL_NAMES = {"hl7": "HL7 v2", "dicom": "DICOM", "http": "HTTP/FHIR", "mqtt": "MQTT"}


@evaluator(
    "transmission.phi_cleartext",
    DeviceFilter,
    "No device sends patient data over the network in clear text",
)
def phi_cleartext(ctx: Context, params: DeviceFilter) -> Evidence:
    obs = ctx.observations
    eid = "transmission.phi_cleartext"
    if not obs.event_count:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            "no protocol events recorded: analyse a capture with protocol analysis on",
        )
    scope = obs.ips_of(params.device_types)
    transfers = [
        t for t in obs.phi_cleartext if scope is None or t.sender in scope or t.receiver in scope
    ]
    tls = [
        c for c in obs.tls_conversations if scope is None or c.orig_h in scope or c.resp_h in scope
    ]
    if scope is not None and not scope:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            f"no {scope_words(params.device_types)} devices in the inventory",
        )
    if not transfers:
        return Evidence(
            eid,
            Status.PASS,
            f"no patient data seen in clear text ({len(tls)} TLS conversations seen, "
            f"devices in scope: {scope_words(params.device_types)})",
            metrics={"cleartext_messages": 0, "tls_conversations": len(tls)},
        )
    senders = sorted({t.sender for t in transfers})
    messages = sum(t.messages for t in transfers)
    items = [
        f"{obs.name(t.sender)} sent {t.messages} {PROTOCOL_NAMES.get(t.protocol, t.protocol)} "
        f"message(s) with patient data in clear text to {obs.name(t.receiver)} port {t.port}"
        for t in transfers
    ]
    return Evidence(
        eid,
        Status.FAIL,
        f"{len(senders)} device(s) send patient data in clear text ({messages} messages): "
        + ", ".join(obs.name(s) for s in senders[:8]),
        items=items,
        metrics={
            "cleartext_messages": messages,
            "devices": len(senders),
            "tls_conversations": len(tls),
            "protocols": sorted({t.protocol for t in transfers}),
        },
    )


@evaluator(
    "transmission.unauthenticated_sessions",
    DeviceFilter,
    "Devices only exchange data with peers that authenticate",
)
def unauthenticated_sessions(ctx: Context, params: DeviceFilter) -> Evidence:
    obs = ctx.observations
    eid = "transmission.unauthenticated_sessions"
    if not obs.event_count:
        return Evidence(eid, Status.NOT_ASSESSED, "no protocol events recorded")
    scope = obs.ips_of(params.device_types)
    sessions = [
        s for s in obs.unauthenticated if scope is None or s.client in scope or s.server in scope
    ]
    if not sessions:
        return Evidence(
            eid,
            Status.PASS,
            "every medical-protocol session seen carried credentials or ran over TLS",
        )
    servers = sorted({s.server for s in sessions})
    return Evidence(
        eid,
        Status.FAIL,
        f"{sum(s.count for s in sessions)} session(s) without authentication to "
        f"{len(servers)} server(s): " + ", ".join(obs.name(s) for s in servers[:8]),
        items=[
            f"{obs.name(s.client)} -> {obs.name(s.server)} port {s.port}: {s.reason} ({s.count}x)"
            for s in sessions
        ],
        metrics={"sessions": sum(s.count for s in sessions), "servers": len(servers)},
    )
