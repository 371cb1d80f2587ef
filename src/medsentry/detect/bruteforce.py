"""Credential brute force against FTP, SSH, Telnet, HTTP basic auth and MQTT.

Failures are counted per (client, server, service) episode:

* FTP: server replies starting with ``530`` (login incorrect), read straight from the
  packets of the control connection (a vectorised look at three bytes);
* HTTP: a ``401`` answer to a request that carried basic credentials;
* MQTT: a CONNACK refusing the credentials (e.g. MQTT 5 reason 134);
* SSH and Telnet are encrypted or unparsed: each short session (little data, short
  life) is counted as one attempt, the way Zeek's SSH guessing heuristic does.

``min_failures`` (``ssh_min_attempts`` for session counts) make a brute force. A single
refused MQTT login is still reported, at low severity, because a device that suddenly
presents wrong credentials to the broker is worth a look; repeated ones become a brute
force. A success after failures is called out in the evidence.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from medsentry.decode.columns import PROTO_TCP
from medsentry.detect.base import Alert, BatchView, Category, Severity, endpoint, register
from medsentry.detect.config import BruteForceConfig, DetectConfig
from medsentry.detect.episodes import Episode, EpisodeDetector
from medsentry.detect.vec import group_by, ip_at

MITRE = ["T1110.001", "T0859"]
# CONNACK codes that refuse the credentials themselves (not e.g. an unsupported auth method):
# MQTT 3.x 4/5 (bad user name or password, not authorised), MQTT 5 134/135.
CREDENTIAL_REFUSALS = {3: (4, 5), 4: (4, 5), 5: (134, 135)}
SESSION_SERVICES = ("ssh", "telnet")


@register("bruteforce")
class BruteForceDetector(EpisodeDetector):
    name = "bruteforce"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: BruteForceConfig = config.bruteforce
        super().__init__(self.cfg.window_s)
        self.ftp_ports = np.array(self.cfg.ports.get("ftp", [21]), np.uint16)
        self.session_ports = {
            port: service
            for service in SESSION_SERVICES
            for port in self.cfg.ports.get(service, [])
        }
        self.basic_auth: OrderedDict[str, None] = OrderedDict()  # uids with basic credentials

    def _count(
        self, service: str, client: str, server: str, t0: float, t1: float, kind: str, n: int = 1
    ) -> list[Episode]:
        ep, closed = self.tracker.touch((service, client, server), t0, t1)
        ep.add(kind, n)
        return closed

    def _feed(self, view: BatchView) -> list[Episode]:
        closed = self._ftp(view) if len(view) else []
        for rec in view.flows_closed:
            service = self.session_ports.get(rec.resp_p)
            if service is None or rec.proto != "tcp" or "D" not in rec.history:
                continue
            size = rec.orig_bytes + rec.resp_bytes
            if size <= self.cfg.ssh_max_session_bytes and rec.duration < 60:
                closed.extend(
                    self._count(service, rec.orig_h, rec.resp_h, rec.ts, rec.last_ts, "attempts")
                )
                self.tracker.open[(service, rec.orig_h, rec.resp_h)].add_uids([rec.uid])
        for e in view.events:
            if e.protocol == "http":
                closed.extend(self._http(view, e.ts, e.uid, e.kind, e.fields))
            elif e.protocol == "mqtt" and e.kind == "connack":
                ends = view.endpoints(e.uid)
                if ends is None:
                    continue
                version = e.fields.get("protocol_version")
                code = e.fields.get("reason_code")
                refused = code in CREDENTIAL_REFUSALS.get(
                    version if isinstance(version, int) else 4, ()
                )
                if not refused and not e.fields.get("accepted"):
                    continue
                kind = "failures" if refused else "successes"
                if kind == "successes" and ("mqtt", ends[0], ends[2]) not in self.tracker.open:
                    continue
                closed.extend(self._count("mqtt", ends[0], ends[2], e.ts, e.ts, kind))
                ep = self.tracker.open[("mqtt", ends[0], ends[2])]
                ep.add_uids([e.uid])
                reason = e.fields.get("reason")
                if kind == "failures" and reason is not None:
                    ep.data.setdefault("reasons", set()).add(str(reason))
        return closed

    def _ftp(self, view: BatchView) -> list[Episode]:
        """Server replies ``530`` (failure) and ``230`` (success) on FTP control ports."""
        d = view.decoded
        rows = np.flatnonzero(
            (d.proto == PROTO_TCP)
            & d.l4_ok
            & np.isin(d.sport, self.ftp_ports)
            & (d.payload_len >= 4)
        )
        closed: list[Episode] = []
        if len(rows) == 0:
            return closed
        buf = np.frombuffer(d.batch.data, np.uint8)
        off = d.payload_off[rows]
        code = np.zeros(len(rows), np.int64)
        for k in range(3):
            digit = buf[np.minimum(off + k, len(buf) - 1)].astype(np.int64) - ord("0")
            code = code * 10 + digit
        fourth = buf[np.minimum(off + 3, len(buf) - 1)]
        final = fourth == ord(" ")  # "530 " ends a reply; "530-" starts a multi-line one
        for value, kind in ((530, "failures"), (230, "successes")):
            sel = rows[(code == value) & final]
            if len(sel) == 0:
                continue
            g = group_by(d.dst_hi[sel], d.dst_lo[sel], d.src_hi[sel], d.src_lo[sel])
            t0, t1 = g.min(d.ts[sel]), g.max(d.ts[sel])
            for k in range(len(g)):
                row = int(sel[g.first[k]])
                client, server = ip_at(d.dst_hi, d.dst_lo, row), ip_at(d.src_hi, d.src_lo, row)
                if kind == "successes" and ("ftp", client, server) not in self.tracker.open:
                    continue
                closed.extend(
                    self._count(
                        "ftp", client, server, float(t0[k]), float(t1[k]), kind, int(g.size[k])
                    )
                )
                ep = self.tracker.open[("ftp", client, server)]
                if len(ep.uids) < 5:
                    ep.add_uids(view.sample_uids(sel[g.inverse == k]), 5)
        return closed

    def _http(
        self, view: BatchView, ts: float, uid: str, kind: str, fields: dict[str, object]
    ) -> list[Episode]:
        if kind == "request" and fields.get("basic_auth"):
            self.basic_auth[uid] = None
            if len(self.basic_auth) > 100_000:
                self.basic_auth.popitem(last=False)
            return []
        if kind != "response" or uid not in self.basic_auth:
            return []
        status = fields.get("status")
        ends = view.endpoints(uid)
        if ends is None or not isinstance(status, int):
            return []
        server = endpoint(ends[2], ends[3])
        if status in (401, 407):
            closed = self._count("http", ends[0], server, ts, ts, "failures")
        elif 200 <= status < 400 and ("http", ends[0], server) in self.tracker.open:
            closed = self._count("http", ends[0], server, ts, ts, "successes")
        else:
            return []
        self.tracker.open[("http", ends[0], server)].add_uids([uid])
        return closed

    def _alert(self, ep: Episode) -> Alert | None:
        service, client, server = ep.key
        failures = ep.counts.get("failures", 0)
        attempts = ep.counts.get("attempts", 0)
        successes = ep.counts.get("successes", 0)
        cfg = self.cfg
        if service in SESSION_SERVICES:
            if attempts < cfg.ssh_min_attempts:
                return None
            what = f"{attempts} short {service.upper()} sessions (login attempts)"
            severity = Severity.HIGH
        elif failures >= cfg.min_failures:
            what = f"{failures} failed {service.upper()} logins"
            severity = Severity.HIGH
        elif service == "mqtt" and failures >= 1:
            what = f"{failures} refused MQTT login(s)"
            severity = Severity.LOW
        else:
            return None
        if successes and failures:
            what += f", then {successes} successful login(s)"
            severity = Severity.CRITICAL
        name = f"{service.upper()} brute force"
        if severity == Severity.LOW:
            name = "MQTT login refused"
        counts = {"failures": failures, "attempts": attempts or failures, "successes": successes}
        return Alert(
            category=Category.BRUTE_FORCE,
            name=name,
            severity=severity,
            confidence=0.9 if severity != Severity.LOW else 0.6,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=client,
            dst=server,
            targets={server: counts["attempts"]},
            protocol=service,
            counts=counts,
            evidence={
                "summary": f"{client} -> {server}: {what} in {ep.duration:.0f} s",
                "reasons": sorted(ep.data.get("reasons", set())),
                "uids": ep.uids,
            },
            mitre=MITRE,
        )
