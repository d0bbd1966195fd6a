"""communities read model; personal data removed after retention

Revision ID: 3c9e5a71d2b4
Revises: 895349f59eab
Create Date: 2026-12-02 18:40:00.000000
"""
from alembic import op
import sqlalchemy as sa



revision = '3c9e5a71d2b4'
down_revision = '895349f59eab'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('communities',
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent', sa.String(length=64), nullable=True),
    sa.Column('name_zh', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('boundary', sa.JSON(), nullable=True),
    sa.Column('hotline', sa.String(length=20), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('personal_data_removed_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('requests', schema=None) as batch_op:
        batch_op.drop_column('personal_data_removed_at')
    op.drop_table('communities')
