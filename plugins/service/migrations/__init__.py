"""Alembic revisions of the service plugin (branch ``service``)."""
