"""web-chat secrets and WeChat nonces (issue 13)

Revision ID: 7b2d1ef6f662
Revises: 6a1c0de5e551
Create Date: 2026-12-04 16:35:00
"""
from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '7b2d1ef6f662'
down_revision = '6a1c0de5e551'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Web chats started before this revision have no secret and so no row here: the page cannot read
    # them any more (it starts a new chat), which is the point; lawyers still see them in the console.
    op.create_table('web_chat',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('secret_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('wechat_nonce',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('timestamp', sa.BigInteger(), nullable=False),
    sa.Column('nonce', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('body_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('timestamp', 'nonce')
    )
    with op.batch_alter_table('wechat_nonce', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_nonce_timestamp'), ['timestamp'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('wechat_nonce', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_nonce_timestamp'))
    op.drop_table('wechat_nonce')
    op.drop_table('web_chat')
