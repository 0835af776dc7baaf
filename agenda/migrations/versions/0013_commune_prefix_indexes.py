"""the commune finder's prefix searches use an index on PostgreSQL too

- communes.ix_communes_search_name: rebuilt with varchar_pattern_ops on PostgreSQL;
- commune_postcodes.ix_commune_postcodes_postcode_prefix: new (varchar_pattern_ops on
  PostgreSQL).

A B-tree in the database's collation does not serve ``LIKE 'abc%'`` unless that collation
is "C": on fr_FR.UTF-8 or C.UTF-8 every name or postcode typed read the whole table
(35,000 communes, 39,000 postcodes). SQLite's GLOB used the plain index already.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 00:40:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_communes_search_name', table_name='communes')
    op.create_index('ix_communes_search_name', 'communes', ['search_name'], unique=False,
                    postgresql_ops={'search_name': 'varchar_pattern_ops'})
    op.create_index('ix_commune_postcodes_postcode_prefix', 'commune_postcodes', ['postcode'],
                    unique=False, postgresql_ops={'postcode': 'varchar_pattern_ops'})


def downgrade():
    op.drop_index('ix_commune_postcodes_postcode_prefix', table_name='commune_postcodes')
    op.drop_index('ix_communes_search_name', table_name='communes')
    op.create_index('ix_communes_search_name', 'communes', ['search_name'], unique=False)
