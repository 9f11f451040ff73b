"""one engine: the inbox (processed_at, reply_to) and at most one open conversation / ticket

Revision ID: 5c1e0a7d2b9f
Revises: d3f25be646ee
Create Date: 2026-12-03 10:40:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '5c1e0a7d2b9f'
down_revision = 'd3f25be646ee'
branch_labels = None
depends_on = None

OPEN_TICKET = "status IN ('waiting', 'claimed')"
OPEN_CONVERSATION = "status != 'closed'"
UNPROCESSED = "direction = 'in' AND processed_at IS NULL AND NOT failed"


def upgrade() -> None:
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.add_column(sa.Column('processed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reply_to', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_message_reply_to'), ['reply_to'], unique=False)
    # Everything stored before the inbox existed was processed then.
    op.execute("UPDATE message SET processed_at = created_at WHERE direction = 'in'")

    # Repair what concurrent workers could leave before the database enforced it: tickets open on a
    # closed conversation, several open tickets in one conversation (the earliest claimed or waiting
    # one stays), several open conversations of one citizen (the newest stays).
    op.execute(f"UPDATE handoff_ticket SET status = 'expired' WHERE {OPEN_TICKET} AND conversation_id IN "
               "(SELECT id FROM conversation WHERE status = 'closed')")
    op.execute(f"UPDATE handoff_ticket SET status = 'expired' WHERE {OPEN_TICKET} AND conversation_id IN "
               "(SELECT conversation_id FROM handoff_ticket WHERE status = 'claimed') AND id NOT IN "
               "(SELECT min(id) FROM handoff_ticket WHERE status = 'claimed' GROUP BY conversation_id)")
    op.execute(f"UPDATE handoff_ticket SET status = 'expired' WHERE {OPEN_TICKET} AND id NOT IN ("
               f"SELECT min(id) FROM handoff_ticket AS keep WHERE keep.{OPEN_TICKET} GROUP BY keep.conversation_id)")
    op.execute(f"UPDATE conversation SET status = 'closed', outcome = 'abandoned', close_reason = 'duplicate' "
               f"WHERE {OPEN_CONVERSATION} AND id NOT IN (SELECT max(id) FROM conversation AS keep "
               f"WHERE keep.{OPEN_CONVERSATION} GROUP BY keep.citizen_id)")
    op.execute(f"UPDATE handoff_ticket SET status = 'expired' WHERE {OPEN_TICKET} AND conversation_id IN "
               "(SELECT id FROM conversation WHERE status = 'closed')")

    op.create_index('ux_conversation_open', 'conversation', ['citizen_id'], unique=True,
                    sqlite_where=sa.text(OPEN_CONVERSATION), postgresql_where=sa.text(OPEN_CONVERSATION))
    op.create_index('ux_handoff_ticket_open', 'handoff_ticket', ['conversation_id'], unique=True,
                    sqlite_where=sa.text(OPEN_TICKET), postgresql_where=sa.text(OPEN_TICKET))
    op.create_index('ix_message_unprocessed', 'message', ['citizen_id'], unique=False,
                    sqlite_where=sa.text(UNPROCESSED), postgresql_where=sa.text(UNPROCESSED))


def downgrade() -> None:
    op.drop_index('ix_message_unprocessed', table_name='message')
    op.drop_index('ux_handoff_ticket_open', table_name='handoff_ticket')
    op.drop_index('ux_conversation_open', table_name='conversation')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_message_reply_to'))
        batch_op.drop_column('reply_to')
        batch_op.drop_column('processed_at')
