"""Device inventory, updated batch by batch from decoded packets and finished flows.

A device is a unicast MAC address seen as a packet source. Where a capture has no
link layer (raw IP, loopback) the device is the IP address instead. Per-packet counters
are aggregated with numpy per batch; Python touches only distinct (MAC, IP) pairs and
finished flows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from medsentry.decode.addresses import ip_text, ipv4_mapped, is_multicast_mac, mac_text
from medsentry.decode.columns import L3_ARP, L3_IPV4, L3_IPV6, DecodedBatch
from medsentry.flows.keys import mix64
from medsentry.flows.record import FlowRecord
from medsentry.inventory.device import Device
from medsentry.inventory.oui import vendor_of

# A MAC seen sending from more addresses than this is forwarding traffic (a router or
# firewall): its IP-traffic addresses belong to the hosts behind it, not to it.
ROUTER_ADDRESS_THRESHOLD = 16
# Connection states in which the responder demonstrably answered.
ANSWERED_TCP = {"SF", "S1", "S2", "S3", "RSTO", "RSTR", "RSTRH", "SHR"}


@dataclass(slots=True)
class Groups:
    """Per distinct key: packets, bytes, first and last time, and one row holding it."""

    keys: np.ndarray
    pkts: np.ndarray
    byts: np.ndarray
    first: np.ndarray
    last: np.ndarray
    row: np.ndarray


def _group(keys: np.ndarray, ts: np.ndarray, size: np.ndarray) -> Groups:
    order = np.argsort(keys, kind="stable")
    k = keys[order]
    starts = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
    t = ts[order]
    return Groups(
        keys=k[starts],
        pkts=np.diff(np.r_[starts, len(k)]),
        byts=np.add.reduceat(size[order].astype(np.int64), starts),
        first=np.minimum.reduceat(t, starts),
        last=np.maximum.reduceat(t, starts),
        row=order[starts],
    )


@lru_cache(maxsize=65536)
def _is_unicast_address(text: str) -> bool:
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return False
    return not (addr.is_multicast or addr.is_unspecified or text.endswith(".255"))


class InventoryTracker:
    """Accumulates devices across batches and flows."""

    def __init__(self) -> None:
        self.devices: dict[str, Device] = {}
        self._by_mac: dict[int, Device] = {}
        self._ip_owner: dict[str, Device] = {}  # IP -> device that owns it
        self._mac_ips: dict[int, set[str]] = {}  # every source IP seen per MAC
        self._arp_ips: dict[int, set[str]] = {}  # IPs a MAC claimed in ARP
        self._pairs_seen: set[int] = set()  # hashes of (MAC, IP) pairs already learnt
        # Per-MAC packet counters live in numpy rows, written to devices at the end.
        self._row_of: dict[int, int] = {}
        self._mac_keys = np.zeros(0, np.uint64)  # MAC of each counter row
        self._mac_order = np.zeros(0, np.int64)  # rows sorted by MAC, for searchsorted
        self._counters: dict[str, np.ndarray] = {
            "first": np.zeros(0, np.float64),
            "last": np.zeros(0, np.float64),
            "pkts_sent": np.zeros(0, np.int64),
            "bytes_sent": np.zeros(0, np.int64),
            "pkts_recv": np.zeros(0, np.int64),
            "bytes_recv": np.zeros(0, np.int64),
        }

    # -- packets -----------------------------------------------------------------------
    def observe(self, d: DecodedBatch) -> None:
        if not len(d):
            return
        ts = d.ts
        mac = d.eth_src
        has_mac = (mac != 0) & ((mac >> np.uint64(40)) & np.uint64(1) == 0)
        self._count_macs(mac[has_mac], ts[has_mac], d.wirelen[has_mac], sent=True)
        dst = d.eth_dst
        dst_ok = (dst != 0) & ((dst >> np.uint64(40)) & np.uint64(1) == 0)
        self._count_macs(dst[dst_ok], ts[dst_ok], d.wirelen[dst_ok], sent=False)
        ip = (d.l3 == L3_IPV4) | (d.l3 == L3_IPV6)
        self._learn_ips(mac[has_mac & ip], d.src_hi[has_mac & ip], d.src_lo[has_mac & ip])
        self._learn_arp(d, has_mac)
        no_l2 = ip & (mac == 0)
        if no_l2.any():
            self._count_ips(d, no_l2)

    def _device_for_mac(self, value: int, ts: float) -> Device:
        dev = self._by_mac.get(value)
        if dev is None:
            text = mac_text(value)
            dev = Device(key=f"mac:{text}", mac=text, vendor=vendor_of(value), first_seen=ts)
            dev.last_seen = ts
            self._by_mac[value] = dev
            self.devices[dev.key] = dev
            row = len(self._row_of)
            self._row_of[value] = row
            c = self._counters
            if row >= len(c["first"]):
                for name, arr in c.items():
                    fill = np.inf if name == "first" else (-np.inf if name == "last" else 0)
                    c[name] = np.concatenate([arr, np.full(max(len(arr), 64), fill, arr.dtype)])
        return dev

    def _device_for_ip(self, text: str, ts: float) -> Device:
        key = f"ip:{text}"
        dev = self.devices.get(key)
        if dev is None:
            dev = Device(key=key, mac=None, ips={text}, first_seen=ts, last_seen=ts)
            self.devices[key] = dev
            self._ip_owner[text] = dev
        return dev

    def _count_macs(
        self, macs: np.ndarray, ts: np.ndarray, size: np.ndarray, *, sent: bool
    ) -> None:
        if not len(macs):
            return
        g = _group(macs, ts, size)
        idx = self._mac_rows(g.keys, g.first, create=sent)
        known = idx >= 0
        idx, pkts, byts = idx[known], g.pkts[known], g.byts[known]
        c = self._counters
        c["first"][idx] = np.minimum(c["first"][idx], g.first[known])
        c["last"][idx] = np.maximum(c["last"][idx], g.last[known])
        prefix = "sent" if sent else "recv"
        c[f"pkts_{prefix}"][idx] += pkts
        c[f"bytes_{prefix}"][idx] += byts

    def _mac_rows(self, macs: np.ndarray, first: np.ndarray, *, create: bool) -> np.ndarray:
        """Counter row of each MAC (sorted, distinct); -1 for unknown ones not created."""
        rows = self._rows_of(macs)
        missing = np.flatnonzero(rows < 0)
        if create and len(missing):
            for k in missing.tolist():
                self._device_for_mac(int(macs[k]), float(first[k]))
            # Rows are handed out in order, so the row of a MAC is its index in this list.
            self._mac_keys = np.fromiter(self._row_of, np.uint64, len(self._row_of))
            self._mac_order = np.argsort(self._mac_keys, kind="stable")
            rows = self._rows_of(macs)
        return rows

    def _rows_of(self, macs: np.ndarray) -> np.ndarray:
        if not len(self._mac_keys):
            return np.full(len(macs), -1, np.int64)
        known = self._mac_keys[self._mac_order]
        pos = np.minimum(np.searchsorted(known, macs), len(known) - 1)
        return np.where(known[pos] == macs, self._mac_order[pos], -1).astype(np.int64)

    def _learn_ips(self, macs: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> None:
        if not len(macs):
            return
        # Only (MAC, IP) pairs never seen before reach Python.
        pair = mix64(macs ^ mix64(hi ^ mix64(lo)))
        _, first = np.unique(pair, return_index=True)
        fresh = [
            k
            for k, h in zip(first.tolist(), pair[first].tolist(), strict=True)
            if h not in self._pairs_seen
        ]
        self._pairs_seen.update(pair[fresh].tolist())
        for value, h, low in zip(
            macs[fresh].tolist(), hi[fresh].tolist(), lo[fresh].tolist(), strict=True
        ):
            text = ip_text(h, low)
            if not _is_unicast_address(text) or text == "0.0.0.0":
                continue
            seen = self._mac_ips.setdefault(value, set())
            seen.add(text)
            self._attach(value, text)

    def _learn_arp(self, d: DecodedBatch, has_mac: np.ndarray) -> None:
        arp = np.flatnonzero((d.l3 == L3_ARP) & (d.arp_sha != 0) & (d.arp_spa != 0))
        if not len(arp):
            return
        pairs = np.unique(np.stack([d.arp_sha[arp], d.arp_spa[arp]], axis=1), axis=0)
        for value, spa in pairs.tolist():
            if is_multicast_mac(value):
                continue
            text = ip_text(*ipv4_mapped(spa))
            self._arp_ips.setdefault(value, set()).add(text)
            if value in self._by_mac:
                self._attach(value, text)

    def _attach(self, value: int, text: str) -> None:
        dev = self._by_mac.get(value)
        if dev is None:
            return
        if self.is_router(value) and text not in self._arp_ips.get(value, set()):
            return
        if text not in dev.ips:
            owner = self._ip_owner.get(text)
            if owner is None or owner is dev or owner.mac is None:
                dev.ips.add(text)
                self._ip_owner[text] = dev

    def is_router(self, value: int) -> bool:
        return len(self._mac_ips.get(value, ())) > ROUTER_ADDRESS_THRESHOLD

    def _count_ips(self, d: DecodedBatch, sel: np.ndarray) -> None:
        for side in ("src", "dst"):
            hi = getattr(d, f"{side}_hi")[sel]
            lo = getattr(d, f"{side}_lo")[sel]
            key = mix64(hi ^ mix64(lo))
            g = _group(key, d.ts[sel], d.wirelen[sel])
            pkts, byts, first, last = g.pkts, g.byts, g.first, g.last
            for k, (h, low) in enumerate(zip(hi[g.row].tolist(), lo[g.row].tolist(), strict=True)):
                text = ip_text(h, low)
                if not _is_unicast_address(text):
                    continue
                if side == "dst" and f"ip:{text}" not in self.devices:
                    continue
                dev = self._device_for_ip(text, float(first[k]))
                dev.first_seen = min(dev.first_seen, float(first[k]))
                dev.last_seen = max(dev.last_seen, float(last[k]))
                if side == "src":
                    dev.packets_sent += int(pkts[k])
                    dev.bytes_sent += int(byts[k])
                else:
                    dev.packets_received += int(pkts[k])
                    dev.bytes_received += int(byts[k])

    # -- flows -------------------------------------------------------------------------
    def device_of(self, ip: str, l2: str | None) -> Device | None:
        """The local device behind one end of a flow, if it is one of ours."""
        if l2 is not None:
            dev = self.devices.get(f"mac:{l2}")
            if dev is not None and ip in dev.ips:
                return dev
            return None
        return self.devices.get(f"ip:{ip}")

    def observe_flows(self, flows: Iterable[FlowRecord]) -> None:
        for f in flows:
            orig = self.device_of(f.orig_h, f.orig_l2_addr)
            resp = self.device_of(f.resp_h, f.resp_l2_addr)
            answered = (
                f.conn_state in ANSWERED_TCP and "h" in f.history
                if f.proto == "tcp"
                else f.resp_pkts > 0
            )
            volume = f.orig_ip_bytes + f.resp_ip_bytes
            if orig is not None:
                if f.proto in ("tcp", "udp"):
                    orig.uses.add((f.proto, f.resp_p))
                orig.peers[f.resp_h] = orig.peers.get(f.resp_h, 0) + volume
            if resp is not None:
                if answered and f.proto in ("tcp", "udp"):
                    resp.services.add((f.proto, f.resp_p))
                resp.peers[f.orig_h] = resp.peers.get(f.orig_h, 0) + volume

    def _sync_counters(self) -> None:
        c = self._counters
        for value, row in self._row_of.items():
            dev = self._by_mac[value]
            if np.isfinite(c["first"][row]):
                dev.first_seen = float(c["first"][row])
                dev.last_seen = float(c["last"][row])
            dev.packets_sent = int(c["pkts_sent"][row])
            dev.bytes_sent = int(c["bytes_sent"][row])
            dev.packets_received = int(c["pkts_recv"][row])
            dev.bytes_received = int(c["bytes_recv"][row])

    def finish(self) -> list[Device]:
        """All devices, routers marked with the evidence that shows it."""
        self._sync_counters()
        for value, dev in self._by_mac.items():
            if self.is_router(value):
                # Addresses learnt before the MAC showed itself to be a router belong
                # to the hosts behind it; keep only what it claimed in ARP.
                claimed = self._arp_ips.get(value, set())
                for ip in dev.ips - claimed:
                    if self._ip_owner.get(ip) is dev:
                        del self._ip_owner[ip]
                dev.ips &= claimed
                count = len(self._mac_ips.get(value, ()))
                evidence = {
                    "source": "traffic.forwarding",
                    "value": f"sends traffic from {count} addresses",
                    "weight": 0.6,
                }
                if evidence not in dev.evidence:
                    dev.evidence.append(evidence)
        return sorted(self.devices.values(), key=lambda d: d.first_seen)
