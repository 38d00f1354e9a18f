"""The permissions the analysis plugin checks, with the default roles that get each."""
from __future__ import annotations

from crmcore.contracts import Permission

PERMISSIONS = [
    Permission("analysis.read", "See RFM segments, CLV, churn scores, cohorts and customer profiles",
               ("manager", "sales", "analyst")),
    Permission("analysis.run", "Run the analyses (RFM, CLV, churn, basket, tags) and store their results",
               ("manager", "analyst")),
    Permission("analysis.export", "Download analysis tables as CSV", ("manager", "analyst")),
    Permission("analysis.manage", "Edit RFM segments and customer tag rules", ("manager",)),
]
