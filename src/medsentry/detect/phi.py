"""Patient data sent in clear text where it should never be.

Protocol analyzers flag events that carry patient data (``phi``). Clear-text PHI inside
the hospital network (HL7 v2 over MLLP, DICOM) is common practice; the See layer records
it per device pair as a compliance finding. An *alert* is raised when clear-text PHI
crosses to or from a public address (it left the network unprotected), or, with
``alert_internal: true``, for every device pair that exchanges it. One alert per
(client, server, protocol) episode.
"""

from __future__ import annotations

from medsentry.detect.base import Alert, BatchView, Category, Severity, endpoint, register
from medsentry.detect.config import DetectConfig, PhiConfig
from medsentry.detect.episodes import Episode, EpisodeDetector
from medsentry.detect.netaddr_util import is_public

MITRE = ["T1040", "T0830"]


@register("phi")
class PhiDetector(EpisodeDetector):
    name = "phi"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: PhiConfig = config.phi
        super().__init__(self.cfg.gap_s)

    def _feed(self, view: BatchView) -> list[Episode]:
        closed: list[Episode] = []
        for e in view.events:
            if not e.phi or e.protocol == "tls":
                continue
            ends = view.endpoints(e.uid)
            if ends is None:
                continue
            client, server, port = ends[0], ends[2], ends[3]
            if port in self.cfg.encrypted_ports:
                continue
            external = is_public(client) or is_public(server)
            if not external and not self.cfg.alert_internal:
                continue
            ep, done = self.tracker.touch((client, server, e.protocol), e.ts, e.ts)
            closed.extend(done)
            ep.add("messages")
            ep.add(f"kind:{e.kind}")
            ep.data["port"] = port
            ep.data["external"] = external
            ep.add_uids([e.uid])
        return closed

    def _alert(self, ep: Episode) -> Alert:
        client, server, protocol = ep.key
        kinds = {k[5:]: v for k, v in ep.counts.items() if k.startswith("kind:")}
        external = bool(ep.data.get("external"))
        return Alert(
            category=Category.PHI_CLEARTEXT,
            name=f"Patient data in clear text ({protocol.upper()}"
            + (", public address)" if external else ")"),
            severity=Severity.HIGH if external else Severity.MEDIUM,
            confidence=0.9,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=client,
            dst=server,
            targets={endpoint(server, int(ep.data.get("port", 0))): ep.counts.get("messages", 0)},
            devices=[client, server],
            protocol=protocol,
            counts={"messages": ep.counts.get("messages", 0)},
            evidence={
                "summary": f"{ep.counts.get('messages', 0)} {protocol.upper()} message(s) "
                f"carrying patient data between {client} and {server}:{ep.data.get('port')} "
                "without TLS",
                "message_kinds": kinds,
                "uids": ep.uids,
            },
            mitre=MITRE,
        )
