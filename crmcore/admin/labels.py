"""The reader's words for the record types and actions the audit log stores as codes (``service_ticket``, ``state_changed``)."""
from __future__ import annotations

from typing import Any

from ..i18n import lazy_gettext as _l

# record types as the services write them in the audit log (core, built-in plugins and adapters)
RECORD_TYPES: dict[str, Any] = {
    "customer": _l("Customer"), "contact": _l("Contact"), "address": _l("Address"), "interaction": _l("Interaction"),
    "custom_field": _l("Custom field"), "user": _l("User"), "role": _l("Role"), "team": _l("Team"),
    "api_token": _l("API token"), "workflow": _l("Workflow"), "approval": _l("Approval"),
    "approval_policy": _l("Approval policy"), "activity": _l("Activity"), "lead": _l("Lead"),
    "opportunity": _l("Opportunity"), "quote": _l("Quote"), "order": _l("Order"), "invoice": _l("Invoice"),
    "payment": _l("Payment"), "product": _l("Product"), "price_list": _l("Price list"), "stage": _l("Stage"),
    "expense": _l("Expense"), "metric": _l("Metric"), "sales_target": _l("Sales target"),
    "sales_exchange_rate": _l("Exchange rate"), "analysis_rfm": _l("RFM analysis"), "analysis_clv": _l("CLV analysis"),
    "analysis_churn": _l("Churn analysis"), "analysis_basket": _l("Basket analysis"),
    "analysis_segment_rule": _l("RFM segment"), "analysis_tag_rule": _l("Tag rule"), "loyalty_points": _l("Loyalty points"),
    "service_ticket": _l("Ticket"), "service_ticket_message": _l("Ticket message"), "service_ticket_state": _l("Ticket state"),
    "service_ticket_transition": _l("Ticket transition"), "service_category": _l("Ticket category"),
    "service_assignment_rule": _l("Assignment rule"), "service_calendar": _l("Business calendar"),
    "service_sla_policy": _l("SLA policy"), "service_followup": _l("Follow-up"), "service_followup_rule": _l("Follow-up rule"),
    "service_quality": _l("Quality record"), "service_delivery": _l("Delivery"), "service_survey": _l("Survey"),
    "service_visit": _l("Field visit"), "oa_provider": _l("Approval provider"), "report": _l("Report"),
    "coupon": _l("Coupon"), "coupon_programme": _l("Coupon programme"), "member_event": _l("Member event"),
    "member_event_invitation": _l("Event invitation"),
    "referral_code": _l("Referral code"), "referral": _l("Referral"), "referral_programme": _l("Referral programme"),
    "referral_reward": _l("Referral reward"),
    "marketing_audience": _l("Marketing audience"), "marketing_template": _l("Message template"),
    "marketing_campaign": _l("Marketing campaign"), "marketing_consent": _l("Marketing consent"),
}
ACTIONS: dict[str, Any] = {
    "created": _l("Added"), "updated": _l("Changed"), "deleted": _l("Deleted"), "computed": _l("Computed"),
    "state_changed": _l("State changed"), "answered": _l("Answered"), "completed": _l("Completed"),
    "decided": _l("Decision made"), "escalated": _l("Escalated"), "revoked": _l("Revoked"), "unmerged": _l("Unmerged"),
    "merged": _l("Merged"), "sla_breached": _l("SLA breached"),
    # marketing: audiences, templates, campaigns and consents
    "members_added": _l("Members added"), "started": _l("Started"), "paused": _l("Paused"), "resumed": _l("Resumed"),
    "winner_chosen": _l("A/B winner chosen"), "translated": _l("Translation saved"),
    "untranslated": _l("Translation removed"), "granted": _l("Consent given"), "withdrawn": _l("Consent withdrawn"),
    "pending": _l("Consent awaiting confirmation"),
}
# the words for coded values the audit log records, by record type and field (built-in plugins' records that
# declare no entity metadata; a declared entity's choices come first)
_CHANNELS = {"email": _l("E-mail"), "sms": _l("SMS"), "wechat": _l("WeChat"), "wecom": _l("WeCom"), "phone": _l("Phone")}
_PURPOSES = {"marketing": _l("Marketing"), "service": _l("Service messages")}
_STEP_KINDS = {"send": _l("Send a message"), "wait": _l("Wait"), "condition": _l("Condition split"),
               "random": _l("Random split"), "update": _l("Update a field or tag"),
               "activity": _l("Activity for the owner"), "notify": _l("Notify a user"), "goal": _l("Goal")}
VALUES: dict[str, dict[str, dict[str, Any]]] = {
    "custom_field": {"type": {"text": _l("Text"), "integer": _l("Whole number"), "decimal": _l("Number"),
                              "boolean": _l("Yes / no"), "date": _l("Date"), "choice": _l("One of a list"),
                              "multichoice": _l("Several of a list"), "email": _l("E-mail"), "url": _l("Web address"),
                              "phone": _l("Phone number")}},
    "marketing_campaign": {
        # a campaign's kind, and a journey step's kind (its edits are recorded on the campaign)
        "kind": {"oneoff": _l("One-off send"), "journey": _l("Journey"), **_STEP_KINDS},
        "behaviour": {"opened": _l("Opened a message of this journey"), "clicked": _l("Clicked a link of this journey"),
                      "ordered": _l("Ordered since entering")},
        "trigger": {"audience": _l("Members of an audience"), "date_field": _l("A date of the customer"),
                    "calendar": _l("A calendar date"), "event": _l("An event"),
                    "no_order": _l("No order for some days"), "api": _l("Entered through the API")},
        "channel": _CHANNELS, "purpose": _PURPOSES, "ab_metric": {"opened": _l("Opened"), "clicked": _l("Clicked")},
        "status": {"draft": _l("Draft"), "scheduled": _l("Scheduled"), "running": _l("Sending"), "paused": _l("Paused"),
                   "done": _l("Done"), "cancelled": _l("Cancelled")}},
    "marketing_template": {"channel": _CHANNELS},
    "marketing_consent": {"channel": _CHANNELS, "purpose": _PURPOSES},
    "member_event_invitation": {"response": {"pending": _l("No answer yet"), "yes": _l("Coming"),
                                             "no": _l("Not coming"), "maybe": _l("Maybe")}},
}


def field(name: str) -> Any:
    """A field's word (lazily translated): the label entities share, else Flask-Admin's word for the
    column name through the catalogue (``first_response_minutes`` -> "First Response Minutes")."""
    from flask_admin.model.helpers import prettify_name

    from ..entities import COMMON_LABELS, COUNT_LABELS

    known = COMMON_LABELS.get(name) or COUNT_LABELS.get(name)
    return known if known is not None else _l(prettify_name(name))


def record_type(code: str | None) -> str:
    """A record type in the reader's words; one this module does not know shows as stored."""
    label = RECORD_TYPES.get(code or "")
    return str(label) if label is not None else (code or "")


def value(entity: str | None, field_name: str, code: str) -> str | None:
    """The reader's word for a coded value recorded for ``entity``'s ``field_name``; ``None`` when unknown."""
    label = VALUES.get(entity or "", {}).get(field_name, {}).get(code)
    return str(label) if label is not None else None


def action(code: str | None) -> str:
    """An audited action in the reader's words; one this module does not know shows as stored."""
    label = ACTIONS.get(code or "")
    return str(label) if label is not None else (code or "")

