"""Alembic environment: runs on the engine the CRM passes in ``config.attributes``."""
from alembic import context

from crmcore import models  # noqa: F401 - core tables on the metadata
from crmcore.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
