"""communities, coordinator tokens, used form tokens

Revision ID: 3c9e1f7a2b64
Revises: 17204836c3f0
Create Date: 2026-12-02 18:40:00.000000
"""
from alembic import op
import sqlalchemy as sa


revision = '3c9e1f7a2b64'
down_revision = '17204836c3f0'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent', sa.String(length=64), nullable=True),
    sa.Column('name_zh', sa.String(length=100), nullable=False),
    sa.Column('name_en', sa.String(length=100), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('boundary', sa.JSON(), nullable=True),
    sa.Column('hotline', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_communities_parent'), ['parent'], unique=False)

    op.create_table('coordinator_tokens',
    sa.Column('jti', sa.String(length=64), nullable=False),
    sa.Column('coordinator_id', sa.String(length=36), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('jti')
    )
    with op.batch_alter_table('coordinator_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_coordinator_tokens_coordinator_id'), ['coordinator_id'], unique=False)

    op.create_table('used_form_tokens',
    sa.Column('nonce', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('nonce')
    )
    with op.batch_alter_table('used_form_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_used_form_tokens_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('used_form_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_used_form_tokens_expires_at'))
    op.drop_table('used_form_tokens')
    with op.batch_alter_table('coordinator_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_coordinator_tokens_coordinator_id'))
    op.drop_table('coordinator_tokens')
    with op.batch_alter_table('communities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_communities_parent'))
    op.drop_table('communities')
