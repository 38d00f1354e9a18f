"""Words for the report builder's choices, in the reader's language."""
from __future__ import annotations

from crmcore.i18n import lazy_gettext as _l

AGGREGATES = {"count": _l("Count"), "sum": _l("Sum"), "avg": _l("Average"), "min": _l("Lowest"),
              "max": _l("Highest"), "distinct": _l("Distinct count")}
BUCKETS = {"day": _l("Day"), "week": _l("Week"), "month": _l("Month"), "quarter": _l("Quarter"), "year": _l("Year")}
DISPLAYS = {"table": _l("Table"), "pivot": _l("Pivot (rows × columns)"), "bar": _l("Bar chart"),
            "line": _l("Line chart"), "stacked_bar": _l("Stacked bar chart"), "pie": _l("Pie chart")}
SCHEDULES = {"none": _l("Not e-mailed"), "daily": _l("Daily"), "weekly": _l("Weekly"), "monthly": _l("Monthly")}
WEEKDAYS = [_l("Monday"), _l("Tuesday"), _l("Wednesday"), _l("Thursday"), _l("Friday"), _l("Saturday"), _l("Sunday")]
SORTS = {"group": _l("By the groups"), "measure": _l("By the first measure")}
# the audit log's words for the report's audited columns (crmcore.admin.labels.field: Flask-Admin's name for each)
AUDITED_COLUMNS = {"row_limit": _l("Row Limit"), "schedule_time": _l("Schedule Time")}
