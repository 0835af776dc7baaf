"""text messages to consenting patients: confirmation, reminder, one-tap cancel link

- patients: the consent to text messages asked at booking;
- bookings: who cancelled (booker, doctor, outcome, patient);
- sms_messages: one row per message sent about a booking, with the hash of its link;
- charter_settings: when the reminder goes, and the wordings.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa
import agenda.types


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_consent', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cancelled_by', sa.String(length=10), nullable=True))
    with op.batch_alter_table('charter_settings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_reminder_minutes', sa.Integer(), nullable=False,
                                      server_default='120'))
        batch_op.add_column(sa.Column('sms_booking_text', sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column('sms_reminder_text', sa.String(length=320),
                                      nullable=True))
    op.create_table(
        'sms_messages',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('booking_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('expires_at', agenda.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', agenda.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', agenda.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column('used_at', agenda.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'],
                                name=op.f('fk_sms_messages_booking_id_bookings')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages')),
        sa.UniqueConstraint('booking_id', 'kind', name='uq_sms_booking_kind'),
        sa.UniqueConstraint('token_hash', name=op.f('uq_sms_messages_token_hash')),
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_messages_booking_id'), ['booking_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sms_messages_booking_id'))
    op.drop_table('sms_messages')
    with op.batch_alter_table('charter_settings', schema=None) as batch_op:
        batch_op.drop_column('sms_reminder_text')
        batch_op.drop_column('sms_booking_text')
        batch_op.drop_column('sms_reminder_minutes')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('cancelled_by')
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_column('sms_consent')
