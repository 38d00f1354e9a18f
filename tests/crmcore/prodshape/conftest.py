"""The production-shape test needs PostgreSQL: collected only in the PostgreSQL run of the suite."""
from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("CRM_TEST_DATABASE_URL") else ["test_*.py"]
