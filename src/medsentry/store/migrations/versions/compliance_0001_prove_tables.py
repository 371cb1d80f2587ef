"""compliance tables: assessments, attestations and documents, MDS2 forms, recalls, readiness

Revision ID: compliance_0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "compliance_0001"
down_revision = None
branch_labels = ("compliance",)
depends_on = "core_0001"

_APPEND_ONLY = ("compliance_attestations", "compliance_documents")


def upgrade() -> None:
    op.create_table(
        "compliance_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("catalogues", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_assessments")),
    )
    with op.batch_alter_table("compliance_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compliance_assessments_at"), ["at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_compliance_assessments_profile"), ["profile"], unique=False
        )

    op.create_table(
        "compliance_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("catalogue_id", sa.String(length=64), nullable=False),
        sa.Column("control_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("attestation_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["compliance_assessments.id"],
            name=op.f("fk_compliance_results_assessment_id_compliance_assessments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_results")),
    )
    with op.batch_alter_table("compliance_results", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compliance_results_assessment_id"), ["assessment_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_compliance_results_control_id"), ["control_id"], unique=False
        )

    op.create_table(
        "compliance_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("media_type", sa.String(length=128), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_documents")),
    )
    with op.batch_alter_table("compliance_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_compliance_documents_kind"), ["kind"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_compliance_documents_sha256"), ["sha256"], unique=False
        )

    op.create_table(
        "compliance_attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("control_id", sa.String(length=128), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("valid_until", sa.Float(), nullable=True),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("prev_digest", sa.String(length=64), nullable=True),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["compliance_documents.id"],
            name=op.f("fk_compliance_attestations_document_id_compliance_documents"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compliance_attestations")),
        sa.UniqueConstraint("digest", name=op.f("uq_compliance_attestations_digest")),
    )
    with op.batch_alter_table("compliance_attestations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_compliance_attestations_control_id"), ["control_id"], unique=False
        )

    op.create_table(
        "mds2_forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("form_version", sa.String(length=16), nullable=False),
        sa.Column("manufacturer", sa.String(length=256), nullable=True),
        sa.Column("device_description", sa.String(length=1024), nullable=True),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("document_id", sa.String(length=256), nullable=True),
        sa.Column("release_date", sa.String(length=40), nullable=True),
        sa.Column("source_path", sa.String(length=1024), nullable=True),
        sa.Column("imported_at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("issues", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mds2_forms")),
        sa.UniqueConstraint("sha256", name=op.f("uq_mds2_forms_sha256")),
    )
    with op.batch_alter_table("mds2_forms", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_mds2_forms_manufacturer"), ["manufacturer"], unique=False
        )

    op.create_table(
        "mds2_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.String(length=32), nullable=False),
        sa.Column("raw_id", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["mds2_forms.id"],
            name=op.f("fk_mds2_answers_form_id_mds2_forms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mds2_answers")),
        sa.UniqueConstraint("form_id", "question_id", name=op.f("uq_mds2_answers_form_id")),
    )
    with op.batch_alter_table("mds2_answers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mds2_answers_form_id"), ["form_id"], unique=False)

    op.create_table(
        "mds2_device_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_mds2_device_links_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["mds2_forms.id"],
            name=op.f("fk_mds2_device_links_form_id_mds2_forms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mds2_device_links")),
        sa.UniqueConstraint("form_id", "device_id", name=op.f("uq_mds2_device_links_form_id")),
    )
    with op.batch_alter_table("mds2_device_links", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mds2_device_links_form_id"), ["form_id"], unique=False)

    op.create_table(
        "recalls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recall_number", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=True),
        sa.Column("recalling_firm", sa.String(length=512), nullable=True),
        sa.Column("product_code", sa.String(length=8), nullable=True),
        sa.Column("device_name", sa.String(length=512), nullable=True),
        sa.Column("product_description", sa.Text(), nullable=True),
        sa.Column("code_info", sa.Text(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("classification", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("initiated", sa.String(length=10), nullable=True),
        sa.Column("k_numbers", sa.JSON(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_path", sa.String(length=1024), nullable=True),
        sa.Column("imported_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recalls")),
        sa.UniqueConstraint("source", "recall_number", name=op.f("uq_recalls_source")),
    )
    with op.batch_alter_table("recalls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_recalls_product_code"), ["product_code"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_recalls_recalling_firm"), ["recalling_firm"], unique=False
        )

    op.create_table(
        "recall_findings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("recall_pk", sa.Integer(), nullable=False),
        sa.Column("device_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("first_seen", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["devices.id"],
            name=op.f("fk_recall_findings_device_id_devices"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recall_pk"],
            ["recalls.id"],
            name=op.f("fk_recall_findings_recall_pk_recalls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recall_findings")),
        sa.UniqueConstraint("recall_pk", "device_id", name=op.f("uq_recall_findings_recall_pk")),
    )
    with op.batch_alter_table("recall_findings", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recall_findings_device_id"), ["device_id"], unique=False
        )

    op.create_table(
        "readiness_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
        sa.Column("actor", sa.String(length=256), nullable=False),
        sa.Column("questionnaire_version", sa.String(length=32), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("roadmap", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_readiness_assessments")),
    )
    with op.batch_alter_table("readiness_assessments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_readiness_assessments_at"), ["at"], unique=False)

    _create_append_only_guards()


def _create_append_only_guards() -> None:
    # Attestations and their documents are evidence: the database refuses edits and deletes.
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(
            "CREATE FUNCTION compliance_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION compliance_append_only()"
            )
            continue
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )


def _drop_append_only_guards() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _APPEND_ONLY:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS compliance_append_only()")


def downgrade() -> None:
    _drop_append_only_guards()
    for table in (
        "readiness_assessments",
        "recall_findings",
        "recalls",
        "mds2_device_links",
        "mds2_answers",
        "mds2_forms",
        "compliance_attestations",
        "compliance_documents",
        "compliance_results",
        "compliance_assessments",
    ):
        op.drop_table(table)
