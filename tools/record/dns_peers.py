"""Name lookups through the system resolver (glibc), as device software does them.

Inside a namespace `ip netns exec` puts our generated resolv.conf in place, so these
queries go to dnsmasq on the gateway.
"""

from __future__ import annotations

import socket
from typing import Any

from tools.record.actor import expect

# Names a ward device typically resolves; the last one does not exist.
DEFAULT_NAMES = ["pacs", "hl7.hospital.example", "mqtt", "ehr.hospital.example"]
MISSING_NAME = "firmware-update.hospital.example"


def _resolve(name: str) -> list[str]:
    infos = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def lookups(params: dict[str, Any]) -> None:
    """Forward lookups (A), one reverse lookup (PTR) and one name that does not exist."""
    for name in params.get("names", DEFAULT_NAMES):
        expect(bool(_resolve(name)), f"{name} did not resolve")
    if reverse := params.get("reverse"):
        host, _aliases, _addrs = socket.gethostbyaddr(reverse)
        expect(bool(host), f"no PTR for {reverse}")
    try:
        _resolve(params.get("missing", MISSING_NAME))
    except socket.gaierror:
        return
    expect(False, "a name that does not exist resolved")
