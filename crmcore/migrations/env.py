"""Alembic environment: runs on the engine the CRM passes in ``config.attributes``."""
from alembic import context
from sqlalchemy import Connection, inspect, text

from crmcore.db import Base
from crmcore.models import load_all

load_all()  # the core's tables on the metadata

config = context.config
engine = config.attributes["engine"]

VERSION_LENGTH = 128  # Alembic makes VARCHAR(32); plugin revision ids may be longer


def widen_version_table(connection: Connection) -> None:
    """Alembic's recipe for revision ids over 32 characters: make (or widen) the version table first.
    SQLite does not enforce VARCHAR lengths, so only other databases need it."""
    if connection.dialect.name == "sqlite":
        return
    inspector = inspect(connection)
    if not inspector.has_table("alembic_version"):
        connection.execute(text(f"CREATE TABLE alembic_version (version_num VARCHAR({VERSION_LENGTH}) NOT NULL, "
                                "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"))
        return
    column = next(c for c in inspector.get_columns("alembic_version") if c["name"] == "version_num")
    if (getattr(column["type"], "length", None) or VERSION_LENGTH) < VERSION_LENGTH:
        connection.execute(text(f"ALTER TABLE alembic_version ALTER COLUMN version_num TYPE VARCHAR({VERSION_LENGTH})"))


with engine.connect() as connection:
    widen_version_table(connection)
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
