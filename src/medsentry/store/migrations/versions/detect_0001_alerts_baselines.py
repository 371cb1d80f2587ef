"""alerts and device baselines

Revision ID: detect_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "detect_0001"
down_revision = None
branch_labels = ("detect",)
depends_on = "core_0001"


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.String(length=40), nullable=False),
        sa.Column("capture_id", sa.Integer(), nullable=True),
        sa.Column("ts_start", sa.Float(), nullable=False),
        sa.Column("ts_end", sa.Float(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("src", sa.String(length=64), nullable=True),
        sa.Column("dst", sa.String(length=72), nullable=True),
        sa.Column("protocol", sa.String(length=16), nullable=True),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("mitre", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["capture_id"],
            ["captures.id"],
            name=op.f("fk_alerts_capture_id_captures"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("alert_id", name=op.f("uq_alerts_alert_id")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_category"), ["category"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_severity"), ["severity"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_src"), ["src"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_ts_start"), ["ts_start"], unique=False)
        batch_op.create_index("ix_alerts_category_ts", ["category", "ts_start"], unique=False)

    op.create_table(
        "device_baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("first_ts", sa.Float(), nullable=False),
        sa.Column("learned_until", sa.Float(), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_baselines")),
        sa.UniqueConstraint("device", name=op.f("uq_device_baselines_device")),
    )


def downgrade() -> None:
    op.drop_table("device_baselines")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_category_ts")
        batch_op.drop_index(batch_op.f("ix_alerts_ts_start"))
        batch_op.drop_index(batch_op.f("ix_alerts_src"))
        batch_op.drop_index(batch_op.f("ix_alerts_severity"))
        batch_op.drop_index(batch_op.f("ix_alerts_category"))
    op.drop_table("alerts")
