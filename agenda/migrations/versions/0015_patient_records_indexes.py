"""bookings.ix_bookings_patient_id and requests.ix_requests_patient_id widened to
(patient_id, status, start) and (patient_id, status, window_start): the duplicate check
reaches a candidate's live records through them whatever the statistics say (with
statistics taken while ``bookings`` was empty, the generic plan of the booking's slot read
walked ``(status, start)`` over every live booking). They still serve every lookup by
patient (the foreign key, the purge).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 08:50:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_bookings_patient_status_start', 'bookings',
                    ['patient_id', 'status', 'start'], unique=False)
    op.drop_index('ix_bookings_patient_id', table_name='bookings')
    op.create_index('ix_requests_patient_status_window', 'requests',
                    ['patient_id', 'status', 'window_start'], unique=False)
    op.drop_index('ix_requests_patient_id', table_name='requests')


def downgrade():
    op.create_index('ix_requests_patient_id', 'requests', ['patient_id'], unique=False)
    op.drop_index('ix_requests_patient_status_window', table_name='requests')
    op.create_index('ix_bookings_patient_id', 'bookings', ['patient_id'], unique=False)
    op.drop_index('ix_bookings_patient_status_start', table_name='bookings')
