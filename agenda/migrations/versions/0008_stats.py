"""statistics that reconcile with the field: every call recorded, missing outcomes reminded

- calls: who booked, the patient's commune, the reason, the booking or floating request
  the call ended in, and when it was closed (issue 13);
- bookings: when the doctor was reminded of an outcome still missing after 48 h;
- the channel of a booking made by a CPTS's own organisation is "cpts" (it was counted as
  the call centre, "secretariat").

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 12:10:00

"""
from alembic import op
import sqlalchemy as sa
import agenda.types


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booker_user_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('commune_insee', sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column('reason_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('booking_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('request_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closed_at', agenda.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_calls_booking_id'), ['booking_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_request_id'), ['request_id'], unique=False)
        batch_op.create_index('ix_calls_cpts_created', ['cpts_id', 'created_at'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_calls_booker_user_id_users'), 'users',
                                    ['booker_user_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_calls_commune_insee_communes'), 'communes',
                                    ['commune_insee'], ['insee'])
        batch_op.create_foreign_key(batch_op.f('fk_calls_reason_id_reasons'), 'reasons',
                                    ['reason_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_calls_booking_id_bookings'), 'bookings',
                                    ['booking_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_calls_request_id_requests'), 'requests',
                                    ['request_id'], ['id'])
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('outcome_reminded_at',
                                      agenda.types.UTCDateTime(timezone=True), nullable=True))
    # A CPTS booking for itself is the "cpts" channel, not the call centre.
    for table in ('bookings', 'requests', 'reorientations', 'calls'):
        op.execute(f"UPDATE {table} SET channel = 'cpts' WHERE booker_org_id IN "
                   "(SELECT id FROM organisations WHERE kind = 'cpts')")


def downgrade():
    for table in ('bookings', 'requests', 'reorientations', 'calls'):
        op.execute(f"UPDATE {table} SET channel = 'secretariat' WHERE channel = 'cpts'")
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('outcome_reminded_at')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_calls_request_id_requests'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_calls_booking_id_bookings'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_calls_reason_id_reasons'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_calls_commune_insee_communes'),
                                 type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_calls_booker_user_id_users'), type_='foreignkey')
        batch_op.drop_index('ix_calls_cpts_created')
        batch_op.drop_index(batch_op.f('ix_calls_request_id'))
        batch_op.drop_index(batch_op.f('ix_calls_booking_id'))
        for column in ('closed_at', 'request_id', 'booking_id', 'reason_id', 'commune_insee',
                       'booker_user_id'):
            batch_op.drop_column(column)
