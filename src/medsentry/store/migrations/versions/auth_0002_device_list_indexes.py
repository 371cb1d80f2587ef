"""indexes for the dashboard's device list sorts

Revision ID: auth_0002
Revises: auth_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "auth_0002"
down_revision = "auth_0001"
branch_labels = None
depends_on = "core_0001"


def upgrade() -> None:
    op.create_index("ix_devices_first_seen", "devices", ["first_seen"])
    op.create_index("ix_devices_bytes", "devices", [sa.text("(bytes_sent + bytes_received)")])
    op.create_index("ix_devices_packets", "devices", [sa.text("(packets_sent + packets_received)")])


def downgrade() -> None:
    op.drop_index("ix_devices_packets", table_name="devices")
    op.drop_index("ix_devices_bytes", table_name="devices")
    op.drop_index("ix_devices_first_seen", table_name="devices")
