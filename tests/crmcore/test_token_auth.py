"""API token authentication (``users.user_for_token``): one Core statement reads the token, its user and their
role, and the user is built from it. Every change to any of them counts on the next request."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from crmcore.db import utcnow
from crmcore.models import ApiToken, AuditLog, Role, User
from crmcore.services import users


def _token_id(ctx, user):
    return ctx.session.scalar(select(ApiToken.id).where(ApiToken.user_id == user.id))


def test_a_revoked_expired_or_disabled_token_fails_at_once(client, ctx, make_user):
    user, headers = make_user("sales")
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    token_id = _token_id(ctx, user)
    ctx.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(
        expires_at=utcnow() - dt.timedelta(minutes=1)))
    ctx.session.commit()
    r = client.get("/api/v1/customers", headers=headers)
    assert r.status_code == 401 and "expired" in r.json["message"]
    ctx.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(expires_at=None))
    ctx.session.commit()
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    ctx.session.execute(update(User).where(User.id == user.id).values(active=False))
    ctx.session.commit()
    r = client.get("/api/v1/customers", headers=headers)
    assert r.status_code == 401 and "disabled" in r.json["message"]
    ctx.session.execute(update(User).where(User.id == user.id).values(active=True))
    ctx.session.commit()
    users.revoke_token(ctx, token_id)
    r = client.get("/api/v1/customers", headers=headers)
    assert r.status_code == 401 and "revoked" in r.json["message"]
    r = client.get("/api/v1/customers", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401 and "not valid" in r.json["message"]


def test_a_roles_permissions_and_scope_count_on_the_next_request(client, ctx, make_user, make_customer):
    user, headers = make_user("sales")
    other, _ = make_user("sales")
    theirs = make_customer("别人的客户", other).id
    assert client.get(f"/api/v1/customers/{theirs}", headers=headers).status_code == 403  # scope own
    ctx.session.execute(update(Role).where(Role.name == "sales").values(scope="all"))
    ctx.session.commit()
    assert client.get(f"/api/v1/customers/{theirs}", headers=headers).status_code == 200
    perms = [p for p in ctx.session.scalar(select(Role.permissions).where(Role.name == "sales")) if p != "customer.read"]
    ctx.session.execute(update(Role).where(Role.name == "sales").values(permissions=perms))
    ctx.session.commit()
    r = client.get(f"/api/v1/customers/{theirs}", headers=headers)
    assert r.status_code == 403 and "customer.read" in r.json["message"]


def test_the_user_acts_as_a_loaded_record(client, ctx, make_user):
    """The user built from the token's row is the session's own: writes name them, their team loads when read."""
    user, headers = make_user("manager", team="华东")
    r = client.post("/api/v1/customers", json={"name": "杭州西湖茶业有限公司", "owner_id": user.id}, headers=headers)
    assert r.status_code == 201, r.json
    entry = ctx.session.scalars(select(AuditLog).where(AuditLog.entity == "customer")).one()
    assert (entry.actor_id, entry.actor_label) == (user.id, user.username)
    r = client.get("/api/v1/users/me", headers=headers)
    assert r.status_code == 200, r.json
    assert r.json["username"] == user.username


def test_last_used_is_written_at_most_every_five_minutes(client, ctx, make_user):
    user, headers = make_user("sales")
    token_id = _token_id(ctx, user)
    client.get("/api/v1/customers", headers=headers)
    first = ctx.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id))
    assert first is not None and utcnow() - first < dt.timedelta(minutes=1)
    client.get("/api/v1/customers", headers=headers)
    ctx.session.expire_all()
    assert ctx.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id)) == first
    ctx.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(
        last_used_at=utcnow() - dt.timedelta(minutes=6)))
    ctx.session.commit()
    client.get("/api/v1/customers", headers=headers)
    ctx.session.expire_all()
    assert ctx.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == token_id)) > first
