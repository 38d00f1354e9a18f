"""Admin sessions: which user a session or remember-me cookie names, and ending all of a user's sessions.

A session holds ``<user id>:<auth version>:<random>`` (``User.get_login_id``): the random part makes every
login's session and remember-me cookie new; the version makes them all stop working at once when
``end_sessions`` bumps it (logout, password change, deactivation).
"""
from __future__ import annotations


from sqlalchemy.orm import Session, scoped_session

from ..models.auth import User


def user_for_session(session: Session | scoped_session[Session], session_id: str) -> User | None:
    """The active user a session names, or None when it is malformed, old (another auth version) or disabled."""
    parts = str(session_id or "").split(":")
    if len(parts) < 2 or not parts[0].isdigit() or not parts[1].isdigit() or len(parts[0]) > 18:
        return None  # also every session issued before versions existed
    user = session.get(User, int(parts[0]))
    if user is None or not user.active or int(parts[1]) != (user.auth_version or 0):
        return None
    return user


def end_sessions(user: User) -> None:
    """End every session and remember-me cookie of ``user`` (inside the caller's transaction)."""
    user.auth_version = (user.auth_version or 0) + 1
