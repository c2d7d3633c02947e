"""Pathway of a leg whose only thrombus is accounted for by the post-treatment rules (EHIT I-III
after ablation; rules/ehit.py, KAB21). EHIT IV is deep vein thrombosis: the DVT pathway runs and
the EHIT IV recommendation is added to it (dispatcher in __init__)."""

from __future__ import annotations

from venalab.exam import Side
from venalab.rules.ehit import EhitVerdict
from venalab.rules.pathways.model import Decision, PathwayDecision, Summary

# The most demanding decision of several junctions wins.
_RANK: dict[str, int] = {
    "therapeutic-anticoagulation": 4,
    "anticoagulation": 3,
    "undetermined": 2,
    "individualised": 1,
    "none": 0,
}


def graded(ehit: tuple[EhitVerdict, ...]) -> list[EhitVerdict]:
    """The junctions with an EHIT class, or whose class cannot be told."""
    return [e for e in ehit if e.ehit_class is not None or e.decision == "undetermined"]


def ehit_pathway(side: Side, ehit: tuple[EhitVerdict, ...]) -> PathwayDecision:
    found = graded(ehit)
    top = max(found, key=lambda e: _RANK[e.decision])
    decision: Decision = top.decision
    return PathwayDecision(
        side=side,
        pathway="ehit",
        decision=decision,
        missing=tuple(m for e in found for m in e.missing),
        boundary=any(e.boundary for e in found),
        recs=tuple(r for e in found for r in e.recs),
        summary=Summary(
            "pathway.ehit",
            lambda: (
                "Thrombus after ablation: "
                f"{'; '.join(f'{e.label} at the {e.junction}' for e in found)}. "
                f"Decision: {decision}."
            ),
            sources=top.sources,
            level=top.level,
        ),
    )
