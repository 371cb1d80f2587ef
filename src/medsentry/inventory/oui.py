"""MAC vendor names from the IEEE registry copy shipped with ``netaddr`` (offline)."""

from __future__ import annotations

from functools import lru_cache

import netaddr

from medsentry.decode.addresses import is_local_admin_mac, is_multicast_mac

LOCALLY_ADMINISTERED = "locally administered (randomised or virtual)"


@lru_cache(maxsize=65536)
def vendor_of(mac: int) -> str | None:
    """The organisation the MAC's OUI is registered to, if any."""
    if is_multicast_mac(mac):
        return None
    if is_local_admin_mac(mac):
        return LOCALLY_ADMINISTERED
    try:
        org = netaddr.EUI(mac).oui.registration().org
    except (netaddr.NotRegisteredError, netaddr.AddrFormatError, IndexError):
        return None
    return str(org).strip() or None
