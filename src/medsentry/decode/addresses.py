"""Turning the integer address columns back into text, formatting each distinct value once."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

import numpy as np
import numpy.typing as npt

IPV4_MAPPED_HI = 0
IPV4_MAPPED_PREFIX = 0x0000FFFF00000000


@lru_cache(maxsize=1 << 17)
def ip_text(hi: int, lo: int) -> str:
    """One address from its two 64-bit words (IPv4 is stored IPv4-mapped)."""
    if hi == IPV4_MAPPED_HI and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def ip_texts(hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> list[str]:
    """Many addresses at once; each distinct address is formatted a single time."""
    if not len(hi):
        return []
    if not hi.any():  # all IPv4 (the usual case): one word identifies the address
        uniq, inverse = np.unique(lo, return_inverse=True)
        names = [ip_text(0, low) for low in uniq.tolist()]
    else:
        pairs = np.stack([hi, lo], axis=1)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        names = [ip_text(int(h), int(low)) for h, low in uniq.tolist()]
    return [names[k] for k in inverse.reshape(-1).tolist()]


@lru_cache(maxsize=1 << 16)
def mac_text(value: int) -> str:
    raw = value.to_bytes(6, "big")
    return ":".join(f"{b:02x}" for b in raw)


def mac_texts(values: npt.NDArray[np.uint64]) -> list[str | None]:
    if not len(values):
        return []
    uniq, inverse = np.unique(values, return_inverse=True)
    names: list[str | None] = [mac_text(int(v)) if v else None for v in uniq.tolist()]
    return [names[k] for k in inverse.reshape(-1).tolist()]


def ipv4_text(value: int) -> str:
    return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))


def ipv4_mapped(value: int) -> tuple[int, int]:
    """The (hi, lo) words of an IPv4 address."""
    return 0, IPV4_MAPPED_PREFIX | (value & 0xFFFFFFFF)


def is_multicast_mac(value: int) -> bool:
    return bool((value >> 40) & 0x01)


def is_local_admin_mac(value: int) -> bool:
    return bool((value >> 40) & 0x02)
