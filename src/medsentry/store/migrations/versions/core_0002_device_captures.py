"""per-capture device contributions; drop the flows index that ix_flows_pair covers

Revision ID: core_0002
Revises: core_0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "core_0002"
down_revision = "core_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_captures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=False),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("packets_sent", sa.BigInteger(), nullable=False),
        sa.Column("packets_received", sa.BigInteger(), nullable=False),
        sa.Column("peers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_device_captures_capture_id_captures"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_device_captures_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_captures")),
        sa.UniqueConstraint("device_id", "capture_id", name=op.f("uq_device_captures_device_id")),
    )
    with op.batch_alter_table("device_captures", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_device_captures_capture_id"), ["capture_id"], unique=False
        )

    # ix_flows_pair (orig_h, resp_h) answers orig_h lookups; one index less per flow insert.
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.drop_index("ix_flows_orig_h")


def downgrade() -> None:
    with op.batch_alter_table("flows", schema=None) as batch_op:
        batch_op.create_index("ix_flows_orig_h", ["orig_h"], unique=False)
    with op.batch_alter_table("device_captures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_captures_capture_id"))
    op.drop_table("device_captures")
