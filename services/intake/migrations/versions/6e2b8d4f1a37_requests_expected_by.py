"""requests.expected_by: when dispatch promised the requester a team by

Revision ID: 6e2b8d4f1a37
Revises: ffd12fab6227
Create Date: 2026-12-02 18:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '6e2b8d4f1a37'
down_revision = 'ffd12fab6227'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expected_by', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('expected_by')
