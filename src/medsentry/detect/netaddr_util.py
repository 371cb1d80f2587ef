"""Address facts the detectors ask often (public or private), answered from a small cache."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=65536)
def is_public(ip: str) -> bool:
    """Whether an address is globally routable (not private, loopback, link-local, ...)."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if addr.is_multicast or addr.is_unspecified:
        return False
    return bool(addr.is_global)
