"""After commit, a listener's calls for all of a commit's events share one savepoint; one that raises on an
event loses only that event's work (and the events it queued), and the others are kept, each once."""
from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select, text

from crmcore import hookimpl
from crmcore.contracts import Event
from crmcore.events import emit, record_changes
from crmcore.models import Tag
from crmcore.services.unit import unit_of_work


def test_one_savepoint_per_listener_for_a_commits_events(make_app, savepoints_of):
    """Once the transaction holds a listener's writes, each later listener runs in a savepoint: one for all of a
    commit's events, not one per event."""
    calls: list[tuple[str, Any]] = []

    class Listener:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            calls.append(("after_commit", entity_id))
            if entity_id == 0:
                ctx.session.add(Tag(name="written by the first listener"))

        @hookimpl
        def crm_event(self, ctx, event):
            calls.append(("event", event.entity_id))

    rt = make_app(plugins=[("listener", Listener())]).extensions["crm"]
    ctx = rt.context()
    with savepoints_of(rt) as savepoints, unit_of_work(ctx):
        record_changes(ctx, [("customer", "updated", n, {"name": ["a", "b"]}, None) for n in range(50)])
    assert calls == [("after_commit", n) for n in range(50)] + [("event", n) for n in range(50)]
    # one per listener called after the write (the built-in plugins' listeners and this one), not one per event
    assert 0 < len(savepoints) < 10
    assert ctx.session.scalar(select(Tag.name)) == "written by the first listener"


def _tags(rt):
    session = rt.db.session()
    try:
        return sorted(session.scalars(select(Tag.name)))
    finally:
        session.close()


def test_listeners_that_only_read_cost_no_savepoint_and_one_failing_stops_none(make_app, savepoints_of):
    seen: list[str] = []

    class Readers:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            ctx.session.scalar(select(Tag.id).limit(1))
            seen.append("first")
            raise RuntimeError("a reader fails")

        @hookimpl
        def crm_event(self, ctx, event):
            ctx.session.scalar(select(Tag.id).limit(1))  # after the failure the session still works
            seen.append("second")

    rt = make_app(plugins=[("readers", Readers())]).extensions["crm"]
    ctx = rt.context()
    with savepoints_of(rt) as savepoints, unit_of_work(ctx):
        record_changes(ctx, [("customer", "updated", 1, {"name": ["a", "b"]}, None)])
    assert seen == ["first", "second"]
    assert savepoints == []


def test_the_first_writer_failing_takes_only_its_own_work_with_it(make_app, savepoints_of):
    """No savepoint before the first write: the listener that fails then had the transaction to itself, and its
    rollback undoes its writes and the events they queued, nothing else; the next listeners' work is kept."""
    made: list[str] = []

    class First:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            ctx.session.add(Tag(name="undone"))
            ctx.session.flush()
            emit(ctx, Event("tag.made", data={"name": "undone"}))
            raise RuntimeError("after writing")

        @hookimpl
        def crm_event(self, ctx, event):
            if event.name == "customer.updated":
                ctx.session.add(Tag(name="kept"))
                emit(ctx, Event("tag.made", data={"name": "kept"}))

        @hookimpl
        def crm_events(self, ctx, events):
            made.extend(e.data["name"] for e in events if e.name == "tag.made")

    rt = make_app(plugins=[("first", First())]).extensions["crm"]
    ctx = rt.context()
    with unit_of_work(ctx):
        record_changes(ctx, [("customer", "updated", 1, {"name": ["a", "b"]}, None)])
    assert _tags(rt) == ["kept"]
    assert made == ["kept"]


def test_a_later_writer_failing_keeps_the_earlier_writes(make_app, savepoints_of):
    class Writers:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            ctx.session.add(Tag(name="first, kept"))

        @hookimpl
        def crm_event(self, ctx, event):
            ctx.session.add(Tag(name="second, undone"))
            ctx.session.flush()
            raise RuntimeError("after writing")

        @hookimpl
        def crm_events(self, ctx, events):
            ctx.session.add(Tag(name="third, kept"))

    rt = make_app(plugins=[("writers", Writers())]).extensions["crm"]
    ctx = rt.context()
    with savepoints_of(rt) as savepoints, unit_of_work(ctx):
        record_changes(ctx, [("customer", "updated", 1, {"name": ["a", "b"]}, None)])
    assert _tags(rt) == ["first, kept", "third, kept"]
    assert len(savepoints) >= 2  # the second and the third ran in savepoints


@pytest.mark.parametrize("how", ["orm", "core", "sql"])
def test_a_write_the_flush_fails_is_the_listeners_own(make_app, how):
    """A listener's unflushed write that fails (a duplicate name) fails in its own call, not in the next
    listener's or the final commit; written through the ORM, a Core statement or plain SQL, later listeners
    see the write and take savepoints."""
    seen: list[str] = []

    class Clash:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            if how == "orm":
                ctx.session.add(Tag(name="unique"))
            elif how == "core":
                ctx.session.execute(insert(Tag.__table__).values(name="unique"))
            else:
                ctx.session.execute(text("INSERT INTO tags (name) VALUES ('unique')"))

        @hookimpl
        def crm_event(self, ctx, event):
            ctx.session.add(Tag(name="unique"))  # clashes with the first listener's: undone alone
            seen.append("second")

        @hookimpl
        def crm_events(self, ctx, events):
            ctx.session.add(Tag(name="other"))
            seen.append("third")

    rt = make_app(plugins=[("clash", Clash())]).extensions["crm"]
    ctx = rt.context()
    with unit_of_work(ctx):
        record_changes(ctx, [("customer", "updated", 1, {"name": ["a", "b"]}, None)])
    assert seen == ["second", "third"]
    assert _tags(rt) == ["other", "unique"]


def test_a_listener_failing_on_one_event_keeps_its_work_for_the_others(make_app):
    calls: list[Any] = []

    class Flaky:
        @hookimpl
        def crm_event(self, ctx, event):
            if event.name != "tag.wanted":
                return
            calls.append(event.data["name"])
            ctx.session.add(Tag(name=event.data["name"]))
            ctx.session.flush()
            emit(ctx, Event("tag.made", data={"name": event.data["name"]}))
            if event.data["name"] == "bad":
                raise RuntimeError("this event's work is undone, the others' kept")

    made: list[str] = []

    class Echo:
        @hookimpl
        def crm_events(self, ctx, events):
            made.extend(e.data["name"] for e in events if e.name == "tag.made")

    rt = make_app(plugins=[("flaky", Flaky()), ("echo", Echo())]).extensions["crm"]
    ctx = rt.context()
    with unit_of_work(ctx):
        for name in ("one", "bad", "two", "three"):
            emit(ctx, Event("tag.wanted", data={"name": name}))
    names = sorted(ctx.session.scalars(select(Tag.name)))
    assert names == ["one", "three", "two"]
    assert sorted(made) == ["one", "three", "two"]  # the undone event's own event is not dispatched
    # the calls before the failing one are made again (their writes went with the savepoint), the failing one once
    assert calls == ["one", "bad", "one", "two", "three"]
