"""reports: the conversation's language and district, the ticket's first reply and "needless" mark, and the
indexes the dashboard's range queries use (issue 15)

Revision ID: b41c7e2d9a10
Revises: 7ac0a45fd354
Create Date: 2026-12-04 23:30:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = 'b41c7e2d9a10'
down_revision = '7ac0a45fd354'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index('ix_conversation_opened_at', ['opened_at'], unique=False)
    with op.batch_alter_table('handoff_ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('first_reply_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('needless', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.create_index('ix_application_submitted_at', ['submitted_at'], unique=False)
    # What is already there: the citizen's language for their conversations, the district of an application
    # submitted in one, and each ticket's first lawyer message.
    op.execute("UPDATE conversation SET language = (SELECT citizen.language FROM citizen "
               "WHERE citizen.id = conversation.citizen_id)")
    op.execute("UPDATE conversation SET district = (SELECT MIN(application.district) FROM application "
               "WHERE application.conversation_id = conversation.id) WHERE district IS NULL")
    op.execute("UPDATE handoff_ticket SET first_reply_at = (SELECT MIN(message.created_at) FROM message "
               "WHERE message.conversation_id = handoff_ticket.conversation_id AND message.sender = 'lawyer' "
               "AND message.created_at >= handoff_ticket.created_at)")


def downgrade() -> None:
    with op.batch_alter_table('application', schema=None) as batch_op:
        batch_op.drop_index('ix_application_submitted_at')
    with op.batch_alter_table('handoff_ticket', schema=None) as batch_op:
        batch_op.drop_column('needless')
        batch_op.drop_column('first_reply_at')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_opened_at')
        batch_op.drop_column('district')
        batch_op.drop_column('language')
