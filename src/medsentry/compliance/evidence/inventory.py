"""Asset inventory: how much of what talks on the network MedSentry can name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from medsentry.compliance.evaluators import Context, Evidence, NoParams, Status, evaluator
from medsentry.compliance.evidence import by_threshold, percent, scope_words


class CoverageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    device_types: tuple[str, ...] = Field((), description="empty: every device")
    pass_at: float = Field(0.9, ge=0, le=1, description="share of devices identified to pass")
    partial_at: float = Field(0.5, ge=0, le=1)


@evaluator("inventory.coverage", CoverageParams, "Devices seen on the network are identified")
def coverage(ctx: Context, params: CoverageParams) -> Evidence:
    devices = ctx.observations.devices_of(params.device_types)
    if not devices:
        return Evidence(
            "inventory.coverage",
            Status.NOT_ASSESSED,
            f"no {scope_words(params.device_types)} devices in the inventory: analyse a "
            "capture first (`medsentry analyze`)",
        )
    # A device is identified when we know what it is (type) and who made it; for a list of
    # device types (already known), when its model is known too.
    unknown = [
        d
        for d in devices
        if d.type == "unknown"
        or not (d.manufacturer or d.vendor)
        or (params.device_types and not d.model)
    ]
    named = len(devices) - len(unknown)
    share = named / len(devices)
    status = by_threshold(share, params.pass_at, params.partial_at)
    return Evidence(
        "inventory.coverage",
        status,
        f"{named} of {len(devices)} devices identified ({percent(named, len(devices))}%)",
        items=[f"not identified: {d.label}" for d in unknown],
        metrics={"devices": len(devices), "identified": named, "share": round(share, 3)},
    )


@evaluator("inventory.network_map", NoParams, "A map of who talks to whom can be drawn")
def network_map(ctx: Context, _params: NoParams) -> Evidence:
    obs = ctx.observations
    if not obs.devices or not obs.flow_count:
        return Evidence(
            "inventory.network_map",
            Status.NOT_ASSESSED,
            "no traffic recorded: analyse a capture to build the map",
        )
    links = {(c.orig_h, c.resp_h) for c in obs.conversations}
    phi_links = {(t.sender, t.receiver) for t in obs.phi_cleartext}
    mapped = {ip for pair in links for ip in pair} & set(obs.device_by_ip)
    return Evidence(
        "inventory.network_map",
        Status.PASS,
        f"{len(links)} device-to-device links from {obs.flow_count} flows; "
        f"{len(phi_links)} links carry patient data in clear text",
        items=[f"{obs.name(a)} -> {obs.name(b)} (patient data)" for a, b in sorted(phi_links)],
        metrics={"links": len(links), "devices_mapped": len(mapped), "flows": obs.flow_count},
    )
