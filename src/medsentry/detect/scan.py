"""Reconnaissance: port scans (every TCP technique, UDP, IP protocol), address scans, ping
sweeps, OS fingerprinting and service/vulnerability probing.

Scans are judged on finished flows, the way Zeek's scan policies do: a *probe* is a
connection attempt that carried no payload either way (SYN, connect, FIN, NULL, XMAS,
ACK and window probes; UDP datagrams left unanswered). Flows that begin with a SYN-ACK
or a RST are never probes: they are backscatter of someone else's spoofed flood.
Per source, an episode collects probes (slow scans spread over hours are still one
episode: ``window_s``) and, when it ends, is classified:

* many ports on one host: a port scan (``recon_port_scan``);
* one port (or a few) on many hosts: an address scan, also ``recon_port_scan``, unless
  every probe to that port reused the same source port, the mark of crafted host-discovery
  probes (nmap -PS/-PA/-PU), which is a ping sweep (``recon_ping_sweep``);
* ICMP echo to many hosts: a ping sweep; many IP protocols on one host: an IP protocol scan.

Packets are checked for the probe shapes of OS fingerprinting (nmap -O: SYN+FIN+PSH+URG,
NULL, FIN+PSH+URG, ECN SYN, tiny-window SYNs, ICMP echo with a non-zero code, a UDP
datagram of "CCC..."): several kinds at one host is ``recon_os_scan``. HTTP requests with
a scanner's user agent, or that look like service-detection probes (HTTP/1.0 without
Host, OPTIONS, RTSP, nmap's "nice ports" path, unparsable request lines), make
``recon_vuln_scan``.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

import numpy as np
import numpy.typing as npt

from medsentry.decode.columns import (
    L3_IPV4,
    L3_IPV6,
    PROTO_ICMP,
    PROTO_TCP,
    PROTO_UDP,
    TCP_ACK,
    TCP_CWR,
    TCP_ECE,
    TCP_FIN,
    TCP_PSH,
    TCP_SYN,
    TCP_URG,
)
from medsentry.detect.base import Alert, BatchView, Category, Severity, endpoint, register
from medsentry.detect.config import DetectConfig, ScanConfig
from medsentry.detect.episodes import Episode, EpisodeDetector, top
from medsentry.detect.vec import group_by, ip_at
from medsentry.flows.record import FlowRecord

MITRE_SCAN = ["T1046", "T0846"]
MITRE_SWEEP = ["T1018", "T0846"]
MITRE_OS = ["T1082", "T0888"]
MITRE_VULN = ["T1595.002", "T0846"]
MAX_SET = 4096

# Packet shapes of OS fingerprinting probes (bit per kind).
OS_PROBE_NAMES = {
    0: "SYN+FIN+PSH+URG",
    1: "FIN+PSH+URG",
    2: "NULL flags",
    3: "ECN SYN",
    4: "tiny-window SYN",
    5: "ICMP echo with non-zero code",
    6: "UDP 'CCC...' probe",
}
TINY_WINDOWS = (1, 4, 16, 63)
DISCOVERY_PAIR = {"80/tcp", "443/tcp"}

SCANNER_AGENTS = re.compile(
    r"nmap|nikto|sqlmap|masscan|zgrab|nessus|openvas|acunetix|dirbuster|gobuster|wpscan|"
    r"nuclei|w3af|arachni|burp|zap/|qualys|metasploit|hydra",
    re.IGNORECASE,
)
PROBE_PATHS = ("/nice ports", "/nice%20ports", "/Trinity.txt", "/evox/about", "/HNAP1")


_MULTICAST_V4 = tuple(f"{n}." for n in range(224, 240))


def _is_multicast_or_broadcast(ip: str) -> bool:
    """Group or broadcast destinations (checked on the text: this runs once per flow)."""
    if ":" in ip:
        return ip[:2].lower() == "ff"
    return ip.startswith(_MULTICAST_V4) or ip.endswith(".255")


def _technique(rec: FlowRecord) -> str | None:
    """How a flow probed its target, or None if it is no probe. TCP probes carry no
    payload; UDP probes are a few small datagrams that got no answer."""
    if rec.orig_pkts == 0:
        return None
    if rec.proto == "udp":
        small = rec.orig_pkts <= 6 and rec.orig_bytes <= 1500
        return "UDP" if rec.resp_pkts == 0 and small else None
    if rec.orig_bytes or rec.resp_bytes:
        return None
    h = rec.history
    if rec.proto == "tcp":
        if not h:
            return "NULL"
        first = h[0]
        if first == "S":
            return "connect" if "A" in h else "SYN"
        if first == "F":
            return "FIN"
        if first == "A":
            return "ACK"
        return None  # starts with SYN-ACK or RST: backscatter, not a probe
    return None


def _maybe_probe(rec: FlowRecord) -> bool:
    """Cheap pre-filter: flows any of the scan rules could use."""
    if rec.proto == "tcp":
        return not rec.orig_bytes and not rec.resp_bytes
    if rec.proto == "udp":
        return rec.resp_pkts == 0 and rec.orig_pkts <= 6
    return rec.orig_pkts <= 3


def _failed(rec: FlowRecord) -> bool:
    return ("h" not in rec.history and rec.resp_pkts == 0) or rec.conn_state in ("REJ", "RSTOS0")


@register("scan")
class ScanDetector(EpisodeDetector):
    name = "scan"

    def __init__(self, config: DetectConfig) -> None:
        self.cfg: ScanConfig = config.scan
        super().__init__(self.cfg.window_s, self.cfg.max_sources, self.cfg.window_s)
        self.ignored = set(self.cfg.ignore_sources)
        self.singles: dict[str, FlowRecord] = {}
        self.os_watch: dict[int, None] = {}  # numeric keys of sources with OS-probe episodes

    # -- feeding --------------------------------------------------------------------------

    def _feed(self, view: BatchView) -> list[Episode]:
        closed: list[Episode] = []
        by_src: dict[str, list[FlowRecord]] = {}
        for rec in view.flows_closed:
            if rec.orig_pkts and rec.orig_h not in self.ignored and _maybe_probe(rec):
                by_src.setdefault(rec.orig_h, []).append(rec)
        for src, recs in by_src.items():
            # A source with a single probe so far is only remembered: spoofed floods
            # bring millions of those, and almost none ever probes again.
            if len(recs) == 1 and ("scan", src) not in self.tracker.open:
                earlier = self.singles.pop(src, None)
                if earlier is None:
                    self.singles[src] = recs[0]
                    if len(self.singles) > self.cfg.max_sources:
                        self.singles.pop(next(iter(self.singles)))
                    continue
                recs = [earlier, recs[0]]
            elif src in self.singles:
                recs.insert(0, self.singles.pop(src))
            for rec in recs:
                closed.extend(self._flow(rec))
        if len(view):
            closed.extend(self._os_probes(view))
        if view.events:
            closed.extend(self._http(view))
        return closed

    def _episode(self, kind: str, src: str, t0: float, t1: float) -> tuple[Episode, list[Episode]]:
        return self.tracker.touch((kind, src), t0, t1)

    def _flow(self, rec: FlowRecord) -> list[Episode]:
        if rec.proto in ("icmp",):
            if rec.orig_p in (8, 128, 13, 17) and not _is_multicast_or_broadcast(rec.resp_h):
                ep, closed = self._episode("scan", rec.orig_h, rec.ts, rec.last_ts)
                ep.add_distinct("echo_hosts", [rec.resp_h], MAX_SET)
                if rec.orig_p in (13, 17):
                    ep.add("icmp_timestamp_or_mask")
                ep.add_uids([rec.uid])
                return closed
            return []
        if rec.proto not in ("tcp", "udp"):
            if rec.orig_pkts <= 3 and not _is_multicast_or_broadcast(rec.resp_h):
                ep, closed = self._episode("scan", rec.orig_h, rec.ts, rec.last_ts)
                protos = ep.data.setdefault("ip_protos", {})
                if len(protos) < 256 or rec.resp_h in protos:
                    protos.setdefault(rec.resp_h, set()).add(rec.proto)
                return closed
            return []
        technique = _technique(rec)
        if technique is None or _is_multicast_or_broadcast(rec.resp_h):
            return []
        ep, closed = self._episode("scan", rec.orig_h, rec.ts, rec.last_ts)
        ep.add("probes")
        ep.add(f"tech:{technique}")
        if "h" in rec.history:
            ep.add("open")
        port = f"{rec.resp_p}/{rec.proto}"
        per_host: dict[str, set[str]] = ep.data.setdefault("ports_by_host", {})
        if rec.resp_h in per_host or len(per_host) < MAX_SET:
            ports = per_host.setdefault(rec.resp_h, set())
            if len(ports) < 65536:
                ports.add(port)
        per_port: dict[str, set[str]] = ep.data.setdefault("hosts_by_port", {})
        if port in per_port or len(per_port) < MAX_SET:
            hosts = per_port.setdefault(port, set())
            if len(hosts) < MAX_SET:
                hosts.add(rec.resp_h)
        sports: dict[str, set[int]] = ep.data.setdefault("sports_by_port", {})
        if port in sports or len(sports) < MAX_SET:
            sp = sports.setdefault(port, set())
            if len(sp) < 8:
                sp.add(rec.orig_p)
        if _failed(rec):
            ep.add_distinct("failed_hosts", [rec.resp_h], MAX_SET)
        probes: dict[str, int] = ep.data.setdefault("probes_by_host", {})
        if rec.resp_h in probes or len(probes) < MAX_SET:
            probes[rec.resp_h] = probes.get(rec.resp_h, 0) + 1
        ep.add_uids([rec.uid])
        return closed

    def _os_probes(self, view: BatchView) -> list[Episode]:
        d = view.decoded
        ip = ((d.l3 == L3_IPV4) | (d.l3 == L3_IPV6)) & d.l4_ok & ~d.fragment
        tcp = ip & (d.proto == PROTO_TCP)
        f = d.tcp_flags
        core = f & (TCP_SYN | TCP_FIN | TCP_PSH | TCP_URG | TCP_ACK)
        kinds = np.zeros(len(d), np.uint8)
        kinds |= (tcp & (core == (TCP_SYN | TCP_FIN | TCP_PSH | TCP_URG))).astype(np.uint8) << 0
        kinds |= (tcp & (core == (TCP_FIN | TCP_PSH | TCP_URG))).astype(np.uint8) << 1
        kinds |= (tcp & (f == 0)).astype(np.uint8) << 2
        syn = tcp & (core == TCP_SYN)
        ecn = (f & (TCP_ECE | TCP_CWR)) == (TCP_ECE | TCP_CWR)
        kinds |= (syn & ecn).astype(np.uint8) << 3
        kinds |= (syn & np.isin(d.tcp_win, TINY_WINDOWS)).astype(np.uint8) << 4
        echo_code = ip & (d.proto == PROTO_ICMP) & (d.sport == 8) & (d.dport != 0)
        kinds |= echo_code.astype(np.uint8) << 5
        kinds |= (ip & (d.proto == PROTO_UDP) & _ccc_payload(view)).astype(np.uint8) << 6
        rows = np.flatnonzero(kinds)
        closed: list[Episode] = []
        if len(rows) == 0:
            return closed
        g = group_by(d.src_hi[rows], d.src_lo[rows], d.dst_hi[rows], d.dst_lo[rows])
        t0, t1 = g.min(d.ts[rows]), g.max(d.ts[rows])
        bits = np.zeros(len(g), np.uint8)
        np.bitwise_or.at(bits, g.inverse, kinds[rows])
        n_kinds = np.unpackbits(bits[:, None], axis=1).sum(axis=1)
        # One probe shape alone (an ECN SYN flood, a FIN scan) is no fingerprinting; only
        # follow pairs showing two shapes here, or sources already under watch.
        keys = (d.src_lo[rows[g.first]] ^ d.src_hi[rows[g.first]]).astype(np.uint64)
        watched = np.isin(keys, np.fromiter(self.os_watch, np.uint64, len(self.os_watch)))
        for k in np.flatnonzero((n_kinds >= 2) | watched):
            row = int(rows[g.first[k]])
            src = ip_at(d.src_hi, d.src_lo, row)
            if src in self.ignored:
                continue
            self.os_watch[int(keys[k])] = None
            if len(self.os_watch) > 4096:
                self.os_watch.pop(next(iter(self.os_watch)))
            dst = ip_at(d.dst_hi, d.dst_lo, row)
            ep, done = self._episode("os", src, float(t0[k]), float(t1[k]))
            closed.extend(done)
            per_dst: dict[str, int] = ep.data.setdefault("kinds_by_host", {})
            if dst in per_dst or len(per_dst) < 1024:
                per_dst[dst] = per_dst.get(dst, 0) | int(bits[k])
            ep.add("packets", int(g.size[k]))
            if len(ep.uids) < 5:
                ep.add_uids(view.sample_uids(rows[g.inverse == k]), 5)
        return closed

    def _http(self, view: BatchView) -> list[Episode]:
        closed: list[Episode] = []
        for e in view.events:
            if e.protocol != "http" or e.direction != 0:
                continue
            ends = view.endpoints(e.uid)
            if ends is None or ends[0] in self.ignored:
                continue
            reason = _probe_reason(e.kind, e.fields)
            if reason is None:
                continue
            ep, done = self._episode("vuln", ends[0], e.ts, e.ts)
            closed.extend(done)
            ep.add("requests")
            ep.add(f"why:{reason}")
            target = endpoint(ends[2], ends[3])
            ep.targets[target] = ep.targets.get(target, 0) + 1
            agent = e.fields.get("user_agent")
            if reason == "scanner user agent" and agent:
                ep.data.setdefault("agents", set()).add(str(agent)[:80])
            ep.add_uids([e.uid])
        return closed

    # -- reporting ------------------------------------------------------------------------

    def _alert(self, ep: Episode) -> list[Alert]:
        kind, src = ep.key
        if kind == "scan":
            return self._scan_alerts(ep, src)
        alert = self._os_alert(ep, src) if kind == "os" else self._vuln_alert(ep, src)
        return [alert] if alert is not None else []

    def _scan_alerts(self, ep: Episode, src: str) -> list[Alert]:
        cfg = self.cfg
        alerts: list[Alert] = []
        per_host: dict[str, set[str]] = ep.data.get("ports_by_host", {})
        per_port: dict[str, set[str]] = ep.data.get("hosts_by_port", {})
        sports: dict[str, set[int]] = ep.data.get("sports_by_port", {})
        techniques = {k[5:]: v for k, v in ep.counts.items() if k.startswith("tech:")}
        vertical = {h: len(p) for h, p in per_host.items() if len(p) >= cfg.port_scan_min_ports}
        # nmap's default host discovery (empty connections to 80 and 443) followed by a
        # probe of the chosen port: a targeted scan of one host and few ports.
        probes: dict[str, int] = ep.data.get("probes_by_host", {})
        for h, ports in per_host.items():
            if ports >= DISCOVERY_PAIR and probes.get(h, 0) >= 3:
                vertical.setdefault(h, len(ports))
        horizontal = {
            p: len(h) for p, h in per_port.items() if len(h) >= cfg.address_scan_min_hosts
        }
        few_ports = 0 < len(per_port) <= 5
        if (
            not horizontal
            and few_ports
            and ep.distinct("failed_hosts") >= cfg.address_scan_min_hosts
        ):
            horizontal = {p: len(h) for p, h in per_port.items()}  # a few ports across many hosts
        # Crafted discovery probes reuse one source port (or a couple) across all hosts,
        # where a program connecting to each host gets a fresh ephemeral port every time.
        discovery = {p for p, n in horizontal.items() if 2 * len(sports.get(p, ())) < n}
        port_scan_hosts = vertical
        address_ports = {p: n for p, n in horizontal.items() if p not in discovery}
        if port_scan_hosts or address_ports:
            alerts.append(
                self._port_scan_alert(ep, src, port_scan_hosts, address_ports, techniques)
            )
        sweep_hosts = ep.distinct("echo_hosts")
        if discovery or sweep_hosts >= cfg.ping_sweep_min_hosts:
            alerts.append(self._sweep_alert(ep, src, discovery, per_port, sweep_hosts))
        protos: dict[str, set[str]] = ep.data.get("ip_protos", {})
        proto_hosts = {
            h: len(p) for h, p in protos.items() if len(p) >= cfg.ip_proto_scan_min_protocols
        }
        if proto_hosts:
            alerts.append(
                Alert(
                    category=Category.RECON_PORT_SCAN,
                    name="IP protocol scan",
                    severity=Severity.MEDIUM,
                    confidence=0.85,
                    ts_start=ep.first_ts,
                    ts_end=ep.last_ts,
                    src=src,
                    dst=next(iter(top(proto_hosts, 1))),
                    targets=top(proto_hosts, 32),
                    protocol="ip",
                    counts={"hosts": len(proto_hosts), "protocols": max(proto_hosts.values())},
                    evidence={
                        "summary": f"{src} tried {max(proto_hosts.values())} IP protocols on "
                        f"{len(proto_hosts)} host(s)",
                        "uids": ep.uids,
                    },
                    mitre=MITRE_SCAN,
                )
            )
        return alerts

    def _port_scan_alert(
        self,
        ep: Episode,
        src: str,
        vertical: dict[str, int],
        horizontal: dict[str, int],
        techniques: dict[str, int],
    ) -> Alert:
        per_host: dict[str, set[str]] = ep.data.get("ports_by_host", {})
        all_ports = {p for ports in per_host.values() for p in ports}
        technique = ", ".join(f"{t}" for t, _ in sorted(techniques.items(), key=lambda kv: -kv[1]))
        if vertical and horizontal:
            shape = f"{len(per_host)} hosts x {len(all_ports)} ports"
            targets = {
                **top(vertical, 16),
                **{h: len(p) for h, p in per_host.items() if h not in vertical},
            }
        elif vertical:
            shape = f"{max(vertical.values())} ports on {len(vertical)} host(s)"
            targets = vertical
        else:
            shape = f"{max(horizontal.values())} hosts on {', '.join(sorted(horizontal)[:5])}"
            targets = {h: len(p) for h, p in per_host.items()}
        name = f"{technique.split(',')[0]} port scan" if technique else "Port scan"
        name = name[0].upper() + name[1:]
        if not vertical:
            name = "Address scan"
        ranked = top(targets, 32)
        counts = {
            "probes": ep.counts.get("probes", 0),
            "hosts": len(per_host),
            "ports": len(all_ports),
            "open": ep.counts.get("open", 0),
            "failed_hosts": ep.distinct("failed_hosts"),
        }
        return Alert(
            category=Category.RECON_PORT_SCAN,
            name=name,
            severity=Severity.MEDIUM,
            confidence=0.9 if counts["probes"] >= 20 else 0.75,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=src,
            dst=next(iter(ranked), None),
            targets=ranked,
            protocol=_protocols(all_ports),
            counts=counts,
            evidence={
                "summary": f"{src} probed {shape} ({counts['probes']} probes, "
                f"{counts['open']} answered); techniques: {technique or 'n/a'}",
                "techniques": techniques,
                "sample_ports": sorted(all_ports, key=_port_key)[:20],
                "ports_scanned": sorted(horizontal)[:20] if horizontal else [],
                "uids": ep.uids,
            },
            mitre=MITRE_SCAN,
        )

    def _sweep_alert(
        self,
        ep: Episode,
        src: str,
        discovery: set[str],
        per_port: dict[str, set[str]],
        echo_hosts: int,
    ) -> Alert:
        hosts = set(ep.data.get("echo_hosts", set()))
        for p in discovery:
            hosts |= per_port[p]
        how = []
        if echo_hosts >= self.cfg.ping_sweep_min_hosts:
            how.append("ICMP echo")
        how.extend(f"probes to {p}" for p in sorted(discovery))
        return Alert(
            category=Category.RECON_PING_SWEEP,
            name="Ping sweep (" + ", ".join(how) + ")",
            severity=Severity.MEDIUM,
            confidence=0.9,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=src,
            targets={},
            protocol="icmp"
            if echo_hosts >= self.cfg.ping_sweep_min_hosts
            else _protocols(discovery),
            counts={"hosts": len(hosts), "echo_hosts": echo_hosts},
            evidence={
                "summary": f"{src} checked {len(hosts)} hosts for life with " + ", ".join(how),
                "sample_hosts": sorted(hosts, key=_ip_key)[:10],
                "uids": ep.uids,
            },
            mitre=MITRE_SWEEP,
        )

    def _os_alert(self, ep: Episode, src: str) -> Alert | None:
        per_dst: dict[str, int] = ep.data.get("kinds_by_host", {})
        hits = {h: bin(bits).count("1") for h, bits in per_dst.items()}
        fingerprinted = {h: n for h, n in hits.items() if n >= self.cfg.os_scan_min_probe_kinds}
        if not fingerprinted:
            return None
        bits = 0
        for h in fingerprinted:
            bits |= per_dst[h]
        shapes = [name for b, name in OS_PROBE_NAMES.items() if bits & (1 << b)]
        ranked = top(fingerprinted, 32)
        return Alert(
            category=Category.RECON_OS_SCAN,
            name="OS fingerprinting scan",
            severity=Severity.MEDIUM,
            confidence=min(0.95, 0.6 + 0.1 * len(shapes)),
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=src,
            dst=next(iter(ranked)),
            targets=ranked,
            protocol="tcp",
            counts={
                "hosts": len(fingerprinted),
                "probe_kinds": len(shapes),
                "packets": ep.counts.get("packets", 0),
            },
            evidence={
                "summary": f"{src} sent {len(shapes)} kinds of fingerprinting probes to "
                f"{len(fingerprinted)} host(s): {', '.join(shapes)}",
                "probe_kinds": shapes,
                "uids": ep.uids,
            },
            mitre=MITRE_OS,
        )

    def _vuln_alert(self, ep: Episode, src: str) -> Alert | None:
        reasons = {k[4:]: v for k, v in ep.counts.items() if k.startswith("why:")}
        requests = ep.counts.get("requests", 0)
        agent = reasons.get("scanner user agent", 0) > 0
        if not agent and requests < self.cfg.vuln_scan_min_requests:
            return None
        ranked = top(ep.targets, 32)
        return Alert(
            category=Category.RECON_VULN_SCAN,
            name="Vulnerability/service scan" + (" (scanner user agent)" if agent else ""),
            severity=Severity.HIGH if agent else Severity.MEDIUM,
            confidence=0.95 if agent else 0.8,
            ts_start=ep.first_ts,
            ts_end=ep.last_ts,
            src=src,
            dst=next(iter(ranked), None),
            targets=ranked,
            protocol="http",
            counts={"requests": requests, "targets": len(ep.targets)},
            evidence={
                "summary": f"{src} sent {requests} probe-like HTTP requests to "
                f"{len(ep.targets)} service(s)",
                "reasons": reasons,
                "user_agents": sorted(ep.data.get("agents", set()))[:5],
                "uids": ep.uids,
            },
            mitre=MITRE_VULN,
        )


def _probe_reason(kind: str, fields: dict[str, Any]) -> str | None:
    """Why an HTTP request event looks like scanning, or None."""
    if kind == "malformed":
        return "unparsable request"
    if kind != "request":
        return None
    agent = str(fields.get("user_agent") or "")
    if agent and SCANNER_AGENTS.search(agent):
        return "scanner user agent"
    path = str(fields.get("path") or "")
    if any(path.startswith(p) for p in PROBE_PATHS):
        return "scanner probe path"
    method = str(fields.get("method") or "")
    if method in ("OPTIONS", "PROPFIND", "TRACE", "TRACK", "DEBUG"):
        return f"{method} request"
    if fields.get("version") == "1.0" and not fields.get("host") and not agent:
        return "bare HTTP/1.0 probe"
    return None


def _ccc_payload(view: BatchView) -> npt.NDArray[np.bool_]:
    """UDP payloads that start with "CCCC" and are at least 100 bytes (nmap's U1 probe)."""
    d = view.decoded
    out = np.zeros(len(d), bool)
    cand = np.flatnonzero((d.proto == PROTO_UDP) & (d.payload_len >= 100))
    if len(cand) == 0:
        return out
    buf = np.frombuffer(d.batch.data, np.uint8)
    off = d.payload_off[cand]
    ok = np.ones(len(cand), bool)
    for k in range(4):
        pos = off + k
        inside = pos < len(buf)
        ok &= inside & (buf[np.minimum(pos, len(buf) - 1)] == ord("C"))
    out[cand[ok]] = True
    return out


def _protocols(ports: set[str] | Any) -> str:
    names = sorted({p.split("/")[1] for p in ports if "/" in p})
    return "/".join(names) if names else "tcp"


def _port_key(p: str) -> tuple[str, int]:
    num, _, proto = p.partition("/")
    return (proto, int(num) if num.isdigit() else 0)


def _ip_key(ip: str) -> tuple[int, int]:
    try:
        a = ipaddress.ip_address(ip)
        return (a.version, int(a))
    except ValueError:
        return (0, 0)
