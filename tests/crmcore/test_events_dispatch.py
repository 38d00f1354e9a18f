"""After commit, a listener's calls for all of a commit's events share one savepoint; one that raises on an
event loses only that event's work (and the events it queued), and the others are kept, each once."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore import hookimpl
from crmcore.contracts import Event
from crmcore.events import emit, record_changes
from crmcore.models import Tag
from crmcore.services.unit import unit_of_work


def test_one_savepoint_per_listener_for_a_commits_events(make_app, savepoints_of):
    calls: list[tuple[str, Any]] = []

    class Listener:
        @hookimpl
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            calls.append(("after_commit", entity_id))

        @hookimpl
        def crm_event(self, ctx, event):
            calls.append(("event", event.entity_id))

    rt = make_app(plugins=[("listener", Listener())]).extensions["crm"]
    ctx = rt.context()
    with savepoints_of(rt) as savepoints, unit_of_work(ctx):
        record_changes(ctx, [("customer", "updated", n, {"name": ["a", "b"]}, None) for n in range(50)])
    assert calls == [("after_commit", n) for n in range(50)] + [("event", n) for n in range(50)]
    # one per listener of each hook (the built-in plugins' listeners and this one), not one per event
    assert 0 < len(savepoints) < 10


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
