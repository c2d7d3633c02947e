"""Decided items of the thrombosis side (issue 21): what the rules decided, before any text.

The thrombosis, EHIT, pathway and critical rules decide into these plain slotted records
(cheap: no validation, no formatting); their render steps build the pydantic results
(evidence, recommendation texts) from them, so both tiers share one implementation of each
rule. A text that needs formatting is kept as a `Text` thunk and formatted only on render.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from venalab.citations import EvidenceLevel
from venalab.evidence import Comparison

Text = str | Callable[[], str]
"""A text, or the function that formats it when the full result is rendered."""


def text_of(t: Text) -> str:
    return t if isinstance(t, str) else t()


@dataclass(slots=True)
class Rec:
    """A decided recommendation: its data-file key and what its text and evidence carry.
    `source` names the data file: "pathway" (data/pathways.toml, rendered by
    rules.pathways.model.recommend) or "ehit" (data/ehit.toml; `key` is "ehit.<management>")."""

    key: str
    note: Text | None = None
    fields: Callable[[], dict[str, Any]] | None = None
    level: EvidenceLevel | None = None
    threshold: float | None = None
    measured: float | None = None
    comparison: Comparison | None = None
    unit: str | None = None
    source: Literal["pathway", "ehit"] = "pathway"

    def id(self, side: str) -> str:
        return f"{self.key}.{side}"
