"""The tag rule form's condition builder: the customer fields a tag rule may name, labelled, segments by name."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from crmcore.conditions import KIND_OPS
from crmcore.i18n import lazy_gettext as _l
from crmcore.models import User
from crmcore.runtime import ServiceContext

from ..services import tags
from ..services.segments import segment_labels

LABELS: dict[str, Any] = {
    "recency_days": _l("Recency (days)"), "frequency": _l("Frequency (orders)"), "monetary": _l("Monetary value"),
    "r_score": _l("R score"), "f_score": _l("F score"), "m_score": _l("M score"), "segment": _l("RFM segment"),
    "clv": _l("Lifetime value"), "p_alive": _l("Probability still active"),
    "expected_purchases": _l("Expected purchases"), "churn_score": _l("Churn score"),
    "purchase_probability": _l("Purchase probability"),
}


def builder_meta(ctx: ServiceContext) -> dict[str, Any]:
    """What the builder offers on the tag rule form: exactly the fields a tag rule's validation accepts (the
    metrics and the computed customer fields of plugins), in the reader's language, segments by name."""
    fields = [{"name": name, "label": str(LABELS.get(name, name)), "type": kind, "source": "column", "related": None,
               "choices": ([{"value": k, "label": v} for k, v in segment_labels(ctx).items()] if name == "segment" else [])}
              for name, (kind, _model, _column) in tags.FIELDS.items()]
    fields += [{"name": spec.field, "label": str(spec.label), "type": spec.kind, "source": "column", "related": None,
                "choices": []} for spec in tags.plugin_fields(ctx)]
    users = [{"value": u.id, "label": u.full_name or u.username}
             for u in ctx.session.scalars(select(User).where(User.active.is_(True)).order_by(User.username))]
    return {"name": "customer", "label": str(_l("Customers")), "fields": fields,
            "operators": {k: list(ops) for k, ops in KIND_OPS.items()}, "users": users}
