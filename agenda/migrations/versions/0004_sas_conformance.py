"""SAS conformance: the CPTS's SIRET, the SAS settings of a CPTS (slot visibility),
the identifier system of each appointment sent

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 11:45:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('siret', sa.String(length=14), nullable=True))
    with op.batch_alter_table('sas_appointments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('identifier_system', sa.String(length=200), nullable=True))
    op.create_table('sas_settings',
    sa.Column('cpts_id', sa.Integer(), nullable=False),
    sa.Column('slot_visibility', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['cpts_id'], ['organisations.id'],
                            name=op.f('fk_sas_settings_cpts_id_organisations')),
    sa.PrimaryKeyConstraint('cpts_id', name=op.f('pk_sas_settings'))
    )


def downgrade():
    op.drop_table('sas_settings')
    with op.batch_alter_table('sas_appointments', schema=None) as batch_op:
        batch_op.drop_column('identifier_system')
    with op.batch_alter_table('organisations', schema=None) as batch_op:
        batch_op.drop_column('siret')
