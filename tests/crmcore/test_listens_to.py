"""``listens_to``: a listener is called only with the events (or, after commit, the entities) it names, and one
that is left nothing costs no savepoint; a listener without it still gets everything."""
from __future__ import annotations

from typing import Any

import pytest

from crmcore import hookimpl, listens_to
from crmcore.contracts import Event
from crmcore.events import emit, record_changes
from crmcore.services.unit import unit_of_work


def _commit(rt: Any, events: list[Event], writes: list[tuple[str, int]] = ()) -> None:  # type: ignore[assignment]
    ctx = rt.context()
    with unit_of_work(ctx):
        record_changes(ctx, [(entity, "updated", n, {"name": ["a", "b"]}, None) for entity, n in writes])
        for ev in events:
            emit(ctx, ev)


def test_each_hook_gets_only_what_it_names(make_app):
    seen: dict[str, list[Any]] = {"one": [], "batch": [], "entity": [], "all": []}

    class Picky:
        @hookimpl
        @listens_to("order.created", "ticket.")
        def crm_event(self, ctx, event):
            seen["one"].append(event.name)

        @hookimpl
        @listens_to("ticket.closed")
        def crm_events(self, ctx, events):
            seen["batch"].append([e.name for e in events])

        @hookimpl
        @listens_to("quote")
        def crm_after_commit(self, ctx, entity, action, entity_id, changes):
            seen["entity"].append((entity, entity_id))

    class Everything:
        @hookimpl
        def crm_events(self, ctx, events):
            seen["all"].append([e.name for e in events])

    rt = make_app(plugins=[("picky", Picky()), ("everything", Everything())]).extensions["crm"]
    names = ["order.created", "order.createdx", "ticket.opened", "ticket.closed", "ticketing.x", "ticket", "lead.won"]
    _commit(rt, [Event(n) for n in names], writes=[("quote", 1), ("customer", 2), ("quote", 3)])
    # an exact name matches only itself; a prefix ending in a dot matches what starts with it, not the bare word
    assert seen["one"] == ["order.created", "ticket.opened", "ticket.closed"]
    assert seen["batch"] == [["ticket.closed"]]
    assert seen["entity"] == [("quote", 1), ("quote", 3)]
    assert seen["all"] and set(names) <= set(seen["all"][0])  # unmarked: the whole commit, as before


def test_a_listener_left_nothing_is_not_called(make_app):
    called: list[str] = []

    class Quiet:
        @hookimpl
        @listens_to("never.emitted")
        def crm_events(self, ctx, events):
            called.append("events")

        @hookimpl
        @listens_to("never.emitted")
        def crm_event(self, ctx, event):
            called.append("event")

    class Loud:
        @hookimpl
        def crm_events(self, ctx, events):
            called.append("loud")

    quiet = make_app(plugins=[("quiet", Quiet())]).extensions["crm"]
    loud = make_app(plugins=[("quiet", Quiet()), ("loud", Loud())]).extensions["crm"]
    for rt in (quiet, loud):
        _commit(rt, [Event("something.else")])
    assert called == ["loud"]


@pytest.mark.parametrize("names", [(), ("",), ("  ",), (3,), tuple(f"e{i}" for i in range(201))])
def test_listens_to_refuses_what_names_nothing(names):
    with pytest.raises(ValueError, match="listens_to"):
        listens_to(*names)
