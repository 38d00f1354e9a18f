"""Users, roles, teams and API tokens (stored hashed)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, created_ts, intpk, str120

SCOPES = ("own", "team", "all")


class Role(Base):
    __tablename__ = "roles"

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    permissions: Mapped[list[str]] = mapped_column(default=list)
    scope: Mapped[str] = mapped_column(String(8), default="own")

    def __str__(self) -> str:
        return self.name


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[intpk]
    name: Mapped[str120] = mapped_column(unique=True)
    manager_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True, name="fk_teams_manager_id_users")
    )

    manager = relationship("User", foreign_keys=[manager_id])

    def __str__(self) -> str:
        return self.name


class User(Base):
    __tablename__ = "users"

    id: Mapped[intpk]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str | None] = mapped_column(String(255))
    full_name: Mapped[str | None] = mapped_column(String(120))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id"))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[created_ts]
    last_login_at: Mapped[dt.datetime | None]
    # Bumped on logout, password change and deactivation: every session and remember-me cookie
    # carries the value it was issued under and stops working once it differs.
    auth_version: Mapped[int] = mapped_column(default=0, server_default="0")

    role: Mapped[Role] = relationship(lazy="joined")
    team = relationship("Team", foreign_keys=[team_id], lazy="joined")

    # Flask-Login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        """The session's user id: ``<id>:<auth_version>`` (see ``crmcore.services.sessions``)."""
        return f"{self.id}:{self.auth_version}"

    def get_login_id(self) -> str:
        """``get_id`` plus a random part, so each login gets a new session and remember-me value."""
        import secrets

        return f"{self.get_id()}:{secrets.token_urlsafe(12)}"

    def __str__(self) -> str:
        return self.full_name or self.username


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[intpk]
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120), default="default")
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[created_ts]
    last_used_at: Mapped[dt.datetime | None]
    expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(lazy="joined")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"
