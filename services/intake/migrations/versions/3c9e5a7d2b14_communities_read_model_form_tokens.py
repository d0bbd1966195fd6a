"""communities from volunteers' events (read model), used form tokens, retention mark

Revision ID: 3c9e5a7d2b14
Revises: 6e2b8d4f1a37
Create Date: 2026-12-02 19:00:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '3c9e5a7d2b14'
down_revision = '6e2b8d4f1a37'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Intake's own catalogue goes: volunteers owns communities now.
    op.drop_table('communities')
    op.create_table('communities',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('parent', sa.String(length=64), nullable=True),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('boundary', sa.JSON(), nullable=True),
    sa.Column('hotline', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('used_form_tokens',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )
    op.create_index(op.f('ix_used_form_tokens_expires_at'), 'used_form_tokens', ['expires_at'], unique=False)
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal_data_removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('personal_data_removed_at')
    op.drop_index(op.f('ix_used_form_tokens_expires_at'), table_name='used_form_tokens')
    op.drop_table('used_form_tokens')
    op.drop_table('communities')
    op.create_table('communities',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
