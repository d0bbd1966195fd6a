"""requesters.expected_by: when dispatch promised the requester a team by

Revision ID: 5c1e7a9d2b40
Revises: 368572b48baf
Create Date: 2026-12-02 18:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '5c1e7a9d2b40'
down_revision = '368572b48baf'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requesters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expected_by', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('requesters', schema=None) as batch_op:
        batch_op.drop_column('expected_by')
