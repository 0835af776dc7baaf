"""calls.ix_calls_cpts_id dropped: ix_calls_cpts_created (cpts_id, created_at) serves every
lookup by CPTS, and each booking, request and call updated both.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 03:10:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_calls_cpts_id', table_name='calls')


def downgrade():
    op.create_index('ix_calls_cpts_id', 'calls', ['cpts_id'], unique=False)
