"""the phone call: commune search name and postcode index, regulation file number

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 12:20:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('communes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('search_name', sa.String(length=200), nullable=False,
                                      server_default=''))
        batch_op.create_index(batch_op.f('ix_communes_search_name'), ['search_name'],
                              unique=False)
    op.create_table('commune_postcodes',
    sa.Column('postcode', sa.String(length=5), nullable=False),
    sa.Column('insee', sa.String(length=5), nullable=False),
    sa.ForeignKeyConstraint(['insee'], ['communes.insee'],
                            name=op.f('fk_commune_postcodes_insee_communes'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('postcode', 'insee', name=op.f('pk_commune_postcodes'))
    )
    with op.batch_alter_table('commune_postcodes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commune_postcodes_insee'), ['insee'],
                              unique=False)
    # Fill the folded names and the postcode index of the communes already loaded.
    from agenda.territory.services import fold_name

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT insee, name, postcodes FROM communes")).fetchall()
    for insee, name, postcodes in rows:
        conn.execute(sa.text("UPDATE communes SET search_name = :s WHERE insee = :i"),
                     {"s": fold_name(name), "i": insee})
        for pc in sorted(set((postcodes or "").split())):
            conn.execute(sa.text("INSERT INTO commune_postcodes (postcode, insee) "
                                 "VALUES (:p, :i)"), {"p": pc[:5], "i": insee})
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('regulation_number', sa.String(length=40), nullable=True))


def downgrade():
    with op.batch_alter_table('commune_postcodes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commune_postcodes_insee'))
    op.drop_table('commune_postcodes')
    with op.batch_alter_table('bookings', schema=None) as batch_op:
        batch_op.drop_column('regulation_number')
    with op.batch_alter_table('communes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_communes_search_name'))
        batch_op.drop_column('search_name')
