"""communities read model, consent_changes audit, requesters.closed_at

Revision ID: 5ef3660b649f
Revises: 5c1e7a9d2b40
Create Date: 2026-12-02 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '5ef3660b649f'
down_revision = '5c1e7a9d2b40'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent', sa.String(length=100), nullable=True),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('boundary', sa.JSON(), nullable=True),
    sa.Column('hotline', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('consent_changes',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('opted_out', sa.Boolean(), nullable=False),
    sa.Column('preferred_channel', sa.String(length=12), nullable=True),
    sa.Column('changed_via', sa.String(length=10), nullable=False),
    sa.Column('changed_by', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consent_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_changes_phone'), ['phone'], unique=False)

    with op.batch_alter_table('requesters', schema=None) as batch_op:
        batch_op.add_column(sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_requesters_closed_at'), ['closed_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('requesters', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_requesters_closed_at'))
        batch_op.drop_column('closed_at')

    with op.batch_alter_table('consent_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_changes_phone'))

    op.drop_table('consent_changes')
    op.drop_table('communities')
