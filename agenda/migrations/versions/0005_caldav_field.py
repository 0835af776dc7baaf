"""CalDAV in the field: feed tokens stored as their SHA-256 (like API tokens)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 12:00:00

No column changes: ``calendar_accounts.ics_token`` (64 characters) now holds the digest.
Tokens already issued keep working: each is replaced by its digest here.
"""
import hashlib

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

_accounts = sa.table("calendar_accounts", sa.column("id", sa.Integer),
                     sa.column("ics_token", sa.String(64)))


def upgrade():
    bind = op.get_bind()
    rows = bind.execute(sa.select(_accounts.c.id, _accounts.c.ics_token).where(
        _accounts.c.ics_token.is_not(None))).all()
    for account_id, token in rows:
        if len(token) == 64 and all(c in "0123456789abcdef" for c in token):
            continue  # already a digest
        bind.execute(_accounts.update().where(_accounts.c.id == account_id).values(
            ics_token=hashlib.sha256(token.encode()).hexdigest()))


def downgrade():
    # A digest cannot be turned back into its token: the feed links are dropped.
    op.execute(_accounts.update().values(ics_token=None))
