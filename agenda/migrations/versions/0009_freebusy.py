"""free/busy of the doctor's main calendar (issue 18, point 2)

- sync_busy_periods: busy periods only (start, end, when read), never a title;
- calendar_accounts: how the server answers free/busy, when it was last read, and the
  last error of that read.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa
import agenda.types


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'sync_busy_periods',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('doctor_id', sa.Integer(), nullable=False),
        sa.Column('start', agenda.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('end', agenda.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('fetched_at', agenda.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['doctor_id'], ['doctors.id'],
                                name=op.f('fk_sync_busy_periods_doctor_id_doctors')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sync_busy_periods')))
    with op.batch_alter_table('sync_busy_periods', schema=None) as batch_op:
        batch_op.create_index('ix_busy_periods_doctor_start', ['doctor_id', 'start'],
                              unique=False)
    with op.batch_alter_table('calendar_accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('freebusy_method', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('freebusy_fetched_at',
                                      agenda.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('freebusy_from',
                                      agenda.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('freebusy_until',
                                      agenda.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('freebusy_error', sa.Text(), nullable=True))


def downgrade():
    with op.batch_alter_table('calendar_accounts', schema=None) as batch_op:
        batch_op.drop_column('freebusy_error')
        batch_op.drop_column('freebusy_until')
        batch_op.drop_column('freebusy_from')
        batch_op.drop_column('freebusy_fetched_at')
        batch_op.drop_column('freebusy_method')
    with op.batch_alter_table('sync_busy_periods', schema=None) as batch_op:
        batch_op.drop_index('ix_busy_periods_doctor_start')
    op.drop_table('sync_busy_periods')
