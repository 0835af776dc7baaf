"""the duplicate check finds a patient through an index: phone key and birth date

- patients.phone_key: the last nine digits of the phone (set with the phone), indexed;
- patients.birth_date: indexed.

The check used to read every live booking of the 48 hours and compare each patient's
phone digit by digit: its cost grew with the bookings of the window.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 18:00:00

"""
import re

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_key', sa.String(length=9), nullable=True))
    # The keys of the stored phones (the same rule as ``agenda.booking.models.phone_key``,
    # copied: a migration must not change when the code does).
    conn = op.get_bind()
    patients = sa.table('patients', sa.column('id', sa.Integer),
                        sa.column('phone', sa.String), sa.column('phone_key', sa.String))
    rows = conn.execute(sa.select(patients.c.id, patients.c.phone)
                        .where(patients.c.phone.is_not(None))).all()
    keys = []
    for pid, phone in rows:
        digits = re.sub(r"\D", "", phone)
        if len(digits) >= 9:
            keys.append({"pid": pid, "key": digits[-9:]})
    if keys:
        conn.execute(patients.update().where(patients.c.id == sa.bindparam("pid"))
                     .values(phone_key=sa.bindparam("key")), keys)
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_patients_phone_key'), ['phone_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_patients_birth_date'), ['birth_date'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('patients', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_patients_birth_date'))
        batch_op.drop_index(batch_op.f('ix_patients_phone_key'))
        batch_op.drop_column('phone_key')
