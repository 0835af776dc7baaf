"""sync worker heartbeats (/healthz, /metrics)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 11:45:00

"""
from alembic import op
import sqlalchemy as sa
import agenda.types


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('worker_heartbeats',
    sa.Column('worker_id', sa.String(length=64), nullable=False),
    sa.Column('host', sa.String(length=64), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', agenda.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('seen_at', agenda.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('worker_id', name=op.f('pk_worker_heartbeats'))
    )
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_worker_heartbeats_seen_at'), ['seen_at'], unique=False)


def downgrade():
    with op.batch_alter_table('worker_heartbeats', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_worker_heartbeats_seen_at'))

    op.drop_table('worker_heartbeats')
