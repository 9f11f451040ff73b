"""calculators: the calculation a citizen is being asked about, kept with the conversation (issue 16)

Revision ID: d8e3f0a5b2c4
Revises: c7d2e9f4a1b3
Create Date: 2026-12-05 23:30:00
"""
from alembic import op
import sqlalchemy as sa


revision = 'd8e3f0a5b2c4'
down_revision = 'c7d2e9f4a1b3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('calculation', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('calculation')
