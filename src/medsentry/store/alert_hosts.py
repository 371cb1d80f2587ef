"""The hosts each alert involves, kept in ``alert_hosts`` for indexed lookups ("the
alerts of this device"): its source, main target, targets and devices, with the port
dropped from ``ip:port`` and ``[v6]:port`` names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, insert
from sqlalchemy.orm import Session

from medsentry.store.models.detect import AlertHostRow

ALERT_HOSTS = cast(Table, AlertHostRow.__table__)
MAX_HOST = 128
CHUNK = 500


def host_of(name: str) -> str:
    """The address in a target name: ``ip:port`` and ``[v6]:port`` lose their port; MACs,
    plain addresses and other names stay as they are."""
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    host, sep, port = name.rpartition(":")
    return host if sep and name.count(":") == 1 and port.isdigit() else name


def alert_hosts(
    src: str | None, dst: str | None, targets: Mapping[str, Any], devices: Sequence[str]
) -> set[str]:
    names = [src, dst, *targets, *devices]
    return {host_of(n)[:MAX_HOST] for n in names if isinstance(n, str) and n}


def link_hosts(session: Session, alerts: Iterable[tuple[int, set[str]]]) -> None:
    """Replace the host links of these alerts (id, hosts) in the session's transaction."""
    pairs = list(alerts)
    ids = [alert_id for alert_id, _ in pairs]
    for start in range(0, len(ids), CHUNK):
        session.execute(
            delete(ALERT_HOSTS).where(ALERT_HOSTS.c.alert_id.in_(ids[start : start + CHUNK]))
        )
    rows = [{"alert_id": alert_id, "host": host} for alert_id, hosts in pairs for host in hosts]
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(ALERT_HOSTS), rows[start : start + CHUNK])
