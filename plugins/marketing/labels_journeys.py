"""The reader's words for the journeys' stored codes: triggers, step kinds, outcomes, enrolment states."""
from __future__ import annotations

from crmcore.i18n import lazy_gettext as _l

TRIGGERS = {"audience": _l("Members of an audience"), "date_field": _l("A date of the customer"),
            "calendar": _l("A calendar date"), "event": _l("An event"), "no_order": _l("No order for some days"),
            "api": _l("Entered through the API")}
CALENDAR_RULES = {"nth_weekday": _l("A weekday of a month (e.g. the second Sunday of May)"),
                  "fixed": _l("A fixed date (e.g. 11-11)"), "calendar": _l("A configured calendar (e.g. Spring Festival)")}
EVENTS = {"sales.order.created": _l("Order placed"), "service.ticket.resolved": _l("Ticket resolved"),
          "customer.created": _l("Customer (lead) created"), "sales.lead.created": _l("Lead created"),
          "analysis.segment.changed": _l("RFM segment changed")}
STEP_KINDS = {"send": _l("Send a message"), "wait": _l("Wait"), "condition": _l("Condition split"),
              "random": _l("Random split"), "update": _l("Update a field or tag"),
              "activity": _l("Activity for the owner"), "notify": _l("Notify a user"), "goal": _l("Goal")}
BEHAVIOURS = {"opened": _l("Opened a message of this journey"), "clicked": _l("Clicked a link of this journey"),
              "ordered": _l("Ordered since entering")}
OUTCOMES = {"sent": _l("Sent"), "sending": _l("Sending"), "failed": _l("Not sent"), "skipped": _l("Skipped"),
            "waiting": _l("Waiting"), "done": _l("Done"), "yes": _l("Yes"), "no": _l("No")}
STATES = {"active": _l("In the journey"), "done": _l("Finished"), "goal": _l("Goal reached"), "left": _l("Left")}
WEEKDAYS = {0: _l("Monday"), 1: _l("Tuesday"), 2: _l("Wednesday"), 3: _l("Thursday"), 4: _l("Friday"),
            5: _l("Saturday"), 6: _l("Sunday")}
HISTORY = {"created": _l("Journey created"), "started": _l("Journey started"), "paused": _l("Journey paused"),
           "resumed": _l("Journey resumed"),
           "trigger": _l("Trigger changed"), "step_saved": _l("Step saved"), "step_removed": _l("Step removed"),
           "new_version": _l("New version of the steps (entries from now on follow it)"), "updated": _l("Journey changed")}
