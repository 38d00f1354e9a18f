"""The reader's words for the marketing plugin's stored codes."""
from __future__ import annotations

from crmcore.i18n import lazy_gettext as _l

CAMPAIGN_STATES = {"draft": _l("Draft"), "scheduled": _l("Scheduled"), "running": _l("Sending"),
                   "paused": _l("Paused"), "done": _l("Done"), "cancelled": _l("Cancelled")}
RECIPIENT_STATES = {"waiting": _l("Waiting for the A/B winner"), "pending": _l("Waiting"), "sending": _l("Sending"), "sent": _l("Sent"), "failed": _l("Not sent"),
                    "held_out": _l("Control group (not sent)")}
FUNNEL = {"audience": _l("Audience"), "held_out": _l("Control group (not sent)"),
          "waiting": _l("Waiting for the A/B winner"), "sent": _l("Sent"),
          "failed": _l("Not sent"), "delivered": _l("Delivered"), "opened": _l("Opened the message"), "clicked": _l("Clicked"),
          "unsubscribed": _l("Unsubscribed"), "bounced": _l("Bounced"), "replied": _l("Replied")}
READINESS = {"audience": _l("Audience"), "no_address": _l("Without an address"),
             "no_consent": _l("Without consent"), "suppressed": _l("On the suppression list"),
             "over_cap": _l("Over the frequency cap"), "reachable": _l("Reachable")}
CHANNELS = {"email": _l("E-mail"), "sms": _l("SMS"), "wechat": _l("WeChat"), "wecom": _l("WeCom"),
            "phone": _l("Phone")}
PURPOSES = {"marketing": _l("Marketing"), "service": _l("Service messages")}
CONSENT_STATES = {"granted": _l("Agreed"), "withdrawn": _l("Withdrawn"), "pending": _l("Awaiting confirmation by e-mail")}
CONSENT_SOURCES = {"form": _l("A form"), "api": _l("Another system (API)"), "import": _l("An import"),
                   "admin": _l("Recorded by staff"), "double_opt_in": _l("Confirmed by e-mail"),
                   "unsubscribe": _l("Unsubscribe link"), "preference_page": _l("Preference page")}
# the audit log's words for the audited columns Flask-Admin's name leaves in English (crmcore.admin.labels.field)
AUDITED_COLUMNS = {"html": _l("Html"), "ab_metric": _l("Ab Metric"), "ab_test_percent": _l("Ab Test Percent"),
                   "ab_hours": _l("Ab Hours"), "holdout_percent": _l("Holdout Percent"), "template_id": _l("Template Id")}
# what each template variable gives, shown beside its name on the template form
VARIABLES = {"customer.name": _l("the customer's name"), "customer.code": _l("the customer's number"),
             "customer.city": _l("the city of the customer's main address"),
             "contact.name": _l("the main contact's name (else the customer's)"),
             "company.name": _l("our company's name"),
             "recommendations": _l("products recommended for the customer (a list, may be empty)"),
             "best_sellers": _l("recent best sellers the customer has not bought (a list)"),
             "unsubscribe_url": _l("the unsubscribe link"), "preferences_url": _l("the link to the preference page")}
