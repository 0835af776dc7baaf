"""security hardening: session version, token expiry, login throttle, hold caps,
audit detail as text

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 11:30:00

"""
from datetime import timedelta

from alembic import op
import sqlalchemy as sa
import agenda.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_version', sa.Integer(), server_default='0',
                                      nullable=False))
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', agenda.types.UTCDateTime(), nullable=True))
    # Tokens created before expiry existed live one year from their creation.
    tokens = sa.table('api_tokens', sa.column('id', sa.Integer()),
                      sa.column('created_at', agenda.types.UTCDateTime()),
                      sa.column('expires_at', agenda.types.UTCDateTime()))
    conn = op.get_bind()
    for token_id, created in conn.execute(sa.select(tokens.c.id, tokens.c.created_at)).all():
        conn.execute(tokens.update().where(tokens.c.id == token_id)
                     .values(expires_at=created + timedelta(days=365)))
    op.create_table('login_throttle',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('window_start', agenda.types.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_login_throttle'))
    )
    with op.batch_alter_table('charter_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_max_per_user', sa.Integer(), server_default='2',
                                      nullable=False))
        batch_op.add_column(sa.Column('hold_max_per_org', sa.Integer(), server_default='20',
                                      nullable=False))
        batch_op.add_column(sa.Column('hold_max_total_min', sa.Integer(), server_default='15',
                                      nullable=False))
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('held_since', agenda.types.UTCDateTime(), nullable=True))
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.String(length=300), type_=sa.Text(),
                              existing_nullable=True)


def downgrade():
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('detail', existing_type=sa.Text(), type_=sa.String(length=300),
                              existing_nullable=True)
    with op.batch_alter_table('slots', schema=None) as batch_op:
        batch_op.drop_column('held_since')
    with op.batch_alter_table('charter_settings', schema=None) as batch_op:
        batch_op.drop_column('hold_max_total_min')
        batch_op.drop_column('hold_max_per_org')
        batch_op.drop_column('hold_max_per_user')
    op.drop_table('login_throttle')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('expires_at')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_version')
