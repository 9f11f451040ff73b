"""reports: each conversation's first handoff reason and when its citizen came back, kept as things happen so
that the dashboard counts a year of conversations in one scan of one table (issue 15)

Revision ID: c7d2e9f4a1b3
Revises: b41c7e2d9a10
Create Date: 2026-12-05 22:20:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'c7d2e9f4a1b3'
down_revision = 'b41c7e2d9a10'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_reason', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('returned_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    # What is already there: the reason of each conversation's first ticket, and the first conversation its
    # citizen opened after it ended.
    op.execute("UPDATE conversation SET handoff_reason = (SELECT COALESCE(t.reason, 'unknown') FROM handoff_ticket t "
               "WHERE t.conversation_id = conversation.id ORDER BY t.id LIMIT 1) "
               "WHERE EXISTS (SELECT 1 FROM handoff_ticket t WHERE t.conversation_id = conversation.id)")
    op.execute("UPDATE conversation SET returned_at = (SELECT MIN(later.opened_at) FROM conversation later "
               "WHERE later.citizen_id = conversation.citizen_id AND later.opened_at > conversation.closed_at)")


def downgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_column('returned_at')
        batch_op.drop_column('handoff_reason')
