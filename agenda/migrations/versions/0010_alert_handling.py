"""alerts handled: who acknowledged and resolved them, and when (issue 14)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:00:00

"""
from alembic import op
import sqlalchemy as sa
import agenda.types


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('acknowledged_at', agenda.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('acknowledged_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('resolved_by_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_alerts_acknowledged_by_id_users'), 'users',
                                    ['acknowledged_by_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_alerts_resolved_by_id_users'), 'users',
                                    ['resolved_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_resolved_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_alerts_acknowledged_by_id_users'),
                                 type_='foreignkey')
        batch_op.drop_column('resolved_by_id')
        batch_op.drop_column('acknowledged_by_id')
        batch_op.drop_column('acknowledged_at')
