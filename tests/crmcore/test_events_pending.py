"""Events queued for after commit: an integration undoing a savepoint drops the events of its writes."""
from __future__ import annotations

from crmcore import hookimpl
from crmcore.contracts import Event
from crmcore.events import discard_pending_since, emit, pending_mark


def test_events_queued_since_a_mark_are_discarded_and_the_others_dispatched(make_app):
    heard: list[str] = []

    class Listener:
        @hookimpl
        def crm_event(self, ctx, event):
            heard.append(event.name)

    rt = make_app(plugins=[("listener", Listener())]).extensions["crm"]
    ctx = rt.context()
    try:
        assert pending_mark(ctx.session) == 0  # nothing queued yet
        emit(ctx, Event("kept.before"))
        mark = pending_mark(ctx.session)
        savepoint = ctx.session.begin_nested()
        emit(ctx, Event("undone.one"))
        emit(ctx, Event("undone.two"))
        savepoint.rollback()
        discard_pending_since(ctx.session, mark)
        emit(ctx, Event("kept.after"))
        ctx.session.commit()
        assert heard == ["kept.before", "kept.after"]
        discard_pending_since(ctx.session, 0)  # nothing pending after the commit: no error
    finally:
        ctx.session.close()


def test_a_released_savepoint_does_not_dispatch_the_events_before_the_commit(make_app):
    heard: list[tuple[str, bool]] = []

    class Listener:
        @hookimpl
        def crm_event(self, ctx, event):
            heard.append((event.name, outer.in_transaction()))

    rt = make_app(plugins=[("listener", Listener())]).extensions["crm"]
    ctx = rt.context()
    outer = ctx.session
    try:
        emit(ctx, Event("before.savepoint"))
        with ctx.session.begin_nested():  # SQLAlchemy calls after_commit when a SAVEPOINT is released
            emit(ctx, Event("in.savepoint"))
        assert heard == []  # nothing is committed yet: no listener may act (nor write beside this transaction)
        ctx.session.commit()
        assert [name for name, _ in heard] == ["before.savepoint", "in.savepoint"]
    finally:
        ctx.session.close()
