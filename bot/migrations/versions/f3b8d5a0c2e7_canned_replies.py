"""canned replies: shared and personal, with shortcuts and variables; seeded from handoff/canned_replies.yml (issue 17)

Revision ID: f3b8d5a0c2e7
Revises: e2a7c4f9b1d6
Create Date: 2026-12-06 02:00:00
"""
import datetime as dt
from pathlib import Path

from alembic import op
import sqlalchemy as sa
import sqlmodel
import yaml


revision = 'f3b8d5a0c2e7'
down_revision = 'e2a7c4f9b1d6'
branch_labels = None
depends_on = None

#: The shared replies the table starts with; afterwards admins edit them in the console.
SEED = Path(__file__).resolve().parents[3] / 'handoff' / 'canned_replies.yml'


def _seed() -> list[dict]:
    try:
        items = yaml.safe_load(SEED.read_text(encoding='utf-8')) or []
    except (OSError, yaml.YAMLError):
        return []  # an installed copy without the file: the table starts empty
    now = dt.datetime.now(dt.UTC)
    return [{'title': str(i['title'])[:64], 'text': str(i['text']), 'shortcut': str(i.get('shortcut') or '')[:32],
             'owner_id': None, 'created_at': now, 'updated_at': now}
            for i in items if isinstance(i, dict) and i.get('title') and i.get('text')]


def upgrade() -> None:
    canned = op.create_table(
        'canned_reply',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('shortcut', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['owner_id'], ['lawyer.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('canned_reply', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canned_reply_owner_id'), ['owner_id'], unique=False)
    rows = _seed()
    if rows:
        op.bulk_insert(canned, rows)


def downgrade() -> None:
    with op.batch_alter_table('canned_reply', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_canned_reply_owner_id'))
    op.drop_table('canned_reply')
