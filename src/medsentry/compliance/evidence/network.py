"""Network exposure: devices reachable from or talking to the internet, medical devices
sharing a segment with general-purpose computers, legacy clear-text services left on."""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from pydantic import BaseModel, ConfigDict, Field

from medsentry.compliance.evaluators import Context, Evidence, Status, evaluator
from medsentry.compliance.evidence import DeviceFilter, scope_words
from medsentry.compliance.observe import INSECURE_SERVICE_PORTS, MEDICAL_TYPES


@evaluator(
    "network.external_exposure",
    DeviceFilter,
    "Devices neither accept connections from nor talk to the internet",
)
def external_exposure(ctx: Context, params: DeviceFilter) -> Evidence:
    obs = ctx.observations
    eid = "network.external_exposure"
    if not obs.flow_count:
        return Evidence(eid, Status.NOT_ASSESSED, "no traffic recorded")
    scope = obs.ips_of(params.device_types)
    inbound = [c for c in obs.inbound_public if scope is None or c.resp_h in scope]
    outbound = [c for c in obs.outbound_public if scope is None or c.orig_h in scope]
    items = [
        f"{c.orig_h} (internet) -> {obs.name(c.resp_h)} {c.proto}/{c.resp_p}: {c.flows} flow(s)"
        for c in inbound
    ] + [
        f"{obs.name(c.orig_h)} -> {c.resp_h} (internet) {c.proto}/{c.resp_p}: {c.flows} flow(s)"
        for c in outbound
    ]
    metrics = {"inbound": len(inbound), "outbound": len(outbound)}
    if inbound:
        return Evidence(
            eid,
            Status.FAIL,
            f"{len({c.resp_h for c in inbound})} device(s) accept connections from the internet",
            items=items,
            metrics=metrics,
        )
    if outbound:
        return Evidence(
            eid,
            Status.PARTIAL,
            f"{len({c.orig_h for c in outbound})} device(s) ({scope_words(params.device_types)}) "
            "talk to internet addresses: check each is an approved service",
            items=items,
            metrics=metrics,
        )
    return Evidence(
        eid,
        Status.PASS,
        "no traffic with the internet"
        + (f" for {scope_words(params.device_types)} devices" if params.device_types else ""),
        metrics=metrics,
    )


class SegmentParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    medical_types: tuple[str, ...] = tuple(sorted(MEDICAL_TYPES))
    general_types: tuple[str, ...] = ("workstation",)
    prefix: int = Field(24, ge=8, le=30, description="IPv4 prefix length taken as one segment")


@evaluator(
    "network.segmentation",
    SegmentParams,
    "Medical devices sit on segments of their own, apart from workstations",
)
def segmentation(ctx: Context, params: SegmentParams) -> Evidence:
    obs = ctx.observations
    eid = "network.segmentation"
    segments: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for device in obs.devices:
        group = (
            "medical"
            if device.type in params.medical_types
            else "general"
            if device.type in params.general_types
            else None
        )
        if group is None:
            continue
        for ip in device.ips:
            try:
                net = ipaddress.ip_network(f"{ip}/{params.prefix}", strict=False)
            except ValueError:
                continue
            if net.version == 4:
                segments[str(net)][group].append(device.label)
    medical_nets = [n for n, groups in segments.items() if groups.get("medical")]
    if not medical_nets:
        return Evidence(
            eid,
            Status.NOT_ASSESSED,
            "no medical device with a known type and IPv4 address in the inventory",
        )
    mixed = [n for n in medical_nets if segments[n].get("general")]
    items = [
        f"{n}: {len(segments[n]['medical'])} medical device(s) with "
        f"{len(segments[n]['general'])} workstation(s), e.g. {segments[n]['general'][0]}"
        for n in mixed
    ]
    status = (
        Status.PASS
        if not mixed
        else Status.FAIL
        if len(mixed) == len(medical_nets)
        else (Status.PARTIAL)
    )
    return Evidence(
        eid,
        status,
        f"{len(mixed)} of {len(medical_nets)} segment(s) with medical devices also hold "
        "workstations"
        if mixed
        else f"{len(medical_nets)} segment(s) with medical devices, none with workstations",
        items=items,
        metrics={"medical_segments": len(medical_nets), "mixed_segments": len(mixed)},
    )


@evaluator(
    "network.insecure_services",
    DeviceFilter,
    "No legacy clear-text administration service (Telnet, FTP, SMB...) is offered",
)
def insecure_services(ctx: Context, params: DeviceFilter) -> Evidence:
    obs = ctx.observations
    eid = "network.insecure_services"
    devices = obs.devices_of(params.device_types)
    if not devices:
        return Evidence(eid, Status.NOT_ASSESSED, "no devices of that kind in the inventory")
    items = []
    for device in devices:
        offered = obs.services.get(device.id, {}).get("offers", set())
        for key in sorted(offered & INSECURE_SERVICE_PORTS.keys()):
            items.append(f"{device.label} offers {INSECURE_SERVICE_PORTS[key]} ({key[0]}/{key[1]})")
    if items:
        return Evidence(
            eid,
            Status.FAIL,
            f"{len(items)} legacy or clear-text service(s) offered",
            items=items,
            metrics={"services": len(items)},
        )
    return Evidence(
        eid,
        Status.PASS,
        f"none of {len(devices)} device(s) offers Telnet, FTP, TFTP, SMB, rsh, VNC or plain HTTP",
        metrics={"services": 0, "devices": len(devices)},
    )
