"""Whose figures a report is about: one rep, one or more teams, or the whole company, and who
may ask for which (a rep only their own, a manager their teams and members, others anything)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from crmcore.errors import NotFound, PermissionDenied
from crmcore.i18n import _
from crmcore.models import Team, User
from crmcore.services.access import team_ids
from crmcore.runtime import ServiceContext

from . import access


@dataclass(frozen=True)
class Subject:
    kind: str  # rep, team, company
    user_id: int | None = None
    team_ids: tuple[int, ...] = ()
    label: str = ""

    @property
    def key(self) -> str:
        if self.kind == "rep":
            return f"rep:{self.user_id}"
        if self.kind == "team":
            return "team:" + ",".join(str(t) for t in self.team_ids)
        return "company"

    def owner_condition(self, column: Any) -> Any:
        """SQL condition: ``column`` (an owner id) belongs to this subject; None for the company."""
        if self.kind == "rep":
            return column == self.user_id
        if self.kind == "team":
            return column.in_(select(User.id).where(User.team_id.in_(self.team_ids)))
        return None


def rep(user: User) -> Subject:
    return Subject("rep", user_id=user.id, label=str(user))


def resolve_subject(ctx: ServiceContext, *, rep_id: int | None = None, team_id: int | None = None) -> Subject:
    """The subject asked for, checked against the actor's record scope; none asked: the actor's own
    figures (a rep), their teams' (a manager), or the company's (scope ``all``)."""
    if rep_id is not None and team_id is not None:
        from crmcore.errors import ValidationError

        raise ValidationError(_("Ask for a rep or a team, not both."), errors={"team_id": [_("Leave one out.")]})
    if rep_id is not None:
        user = ctx.session.get(User, rep_id)
        if user is None:
            raise NotFound(_("User %(id)s does not exist.", id=rep_id))
        access.check_owned(ctx, user.id, "rep's figures")
        return rep(user)
    if team_id is not None:
        team = ctx.session.get(Team, team_id)
        if team is None:
            raise NotFound(_("Team %(id)s does not exist.", id=team_id))
        if ctx.scope != "all" and (ctx.scope != "team" or team.id not in team_ids(ctx)):
            raise PermissionDenied(_("You may only see the figures of your own teams."))
        return Subject("team", team_ids=(team.id,), label=team.name)
    if ctx.scope == "all":
        return Subject("company", label=str(_("Company")))
    if ctx.scope == "team":
        teams = team_ids(ctx)
        if teams:
            names = ctx.session.scalars(select(Team.name).where(Team.id.in_(teams)).order_by(Team.name))
            return Subject("team", team_ids=tuple(teams), label=", ".join(names))
    return rep(ctx.actor)
