"""Value types the sales plugin's own hooks exchange with other plugins."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Suggestion:
    """A product to offer a customer, with a score in [0, 1], why, and which plugin said so."""

    product_id: int
    score: float
    reasons: list[str] = field(default_factory=list)
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"product_id": self.product_id, "score": self.score, "reasons": list(self.reasons),
                "source": self.source}
