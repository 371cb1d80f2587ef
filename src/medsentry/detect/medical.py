"""Which hosts are medical devices (or clinical systems), for the detectors that watch them.

A host is one when the thresholds file lists it, or when it takes part in a medical
protocol (HL7, DICOM by default) as either side. Bounded; learned from events.
"""

from __future__ import annotations

from collections import OrderedDict

from medsentry.detect.base import BatchView
from medsentry.detect.config import MedicalConfig


class MedicalDevices:
    def __init__(self, cfg: MedicalConfig, limit: int = 65536) -> None:
        self.cfg = cfg
        self.listed = set(cfg.devices)
        self.learned: OrderedDict[str, str] = OrderedDict()  # ip -> protocol that showed it
        self.limit = limit

    def observe(self, view: BatchView) -> None:
        for e in view.events:
            if e.protocol not in self.cfg.protocols:
                continue
            ends = view.endpoints(e.uid)
            if ends is None:
                continue
            for ip in (ends[0], ends[2]):
                if ip not in self.learned:
                    self.learned[ip] = e.protocol
                    if len(self.learned) > self.limit:
                        self.learned.popitem(last=False)

    def __bool__(self) -> bool:
        return bool(self.listed or self.learned)

    def __contains__(self, ip: object) -> bool:
        return ip in self.listed or ip in self.learned

    def why(self, ip: str) -> str:
        return (
            "listed in the thresholds file"
            if ip in self.listed
            else f"speaks {self.learned.get(ip)}"
        )
