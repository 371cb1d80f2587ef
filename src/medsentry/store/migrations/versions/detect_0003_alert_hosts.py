"""the hosts each alert involves, for indexed "alerts of this device" lookups

Revision ID: detect_0003
Revises: detect_0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "detect_0003"
down_revision = "detect_0002"
branch_labels = None
depends_on = None


def _host(name: str) -> str:
    # As medsentry.store.alert_hosts.host_of, frozen here as this revision wrote it.
    if name.startswith("["):
        return name[1:].split("]", 1)[0]
    host, sep, port = name.rpartition(":")
    return host if sep and name.count(":") == 1 and port.isdigit() else name


def upgrade() -> None:
    op.create_table(
        "alert_hosts",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_hosts_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", "host", name=op.f("pk_alert_hosts")),
    )
    with op.batch_alter_table("alert_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alert_hosts_host"), ["host"], unique=False)

    # Links for the alerts already stored.
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer()),
        sa.column("src", sa.String()),
        sa.column("dst", sa.String()),
        sa.column("targets", sa.JSON()),
        sa.column("devices", sa.JSON()),
    )
    hosts = sa.table("alert_hosts", sa.column("alert_id", sa.Integer()), sa.column("host"))
    bind = op.get_bind()
    rows: list[dict[str, object]] = []
    for alert_id, src, dst, targets, devices in bind.execute(sa.select(alerts)):
        names = [src, dst, *(targets or {}), *(devices or [])]
        found = {_host(n)[:128] for n in names if isinstance(n, str) and n}
        rows.extend({"alert_id": alert_id, "host": h} for h in found)
    for start in range(0, len(rows), 500):
        bind.execute(sa.insert(hosts), rows[start : start + 500])


def downgrade() -> None:
    with op.batch_alter_table("alert_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_hosts_host"))
    op.drop_table("alert_hosts")
