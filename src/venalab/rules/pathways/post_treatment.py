"""Pathway of a leg whose only thrombus is accounted for by the post-treatment rules (EHIT I-III
after ablation; rules/ehit.py, KAB21). EHIT IV is deep vein thrombosis: the DVT pathway runs and
the EHIT IV recommendation is added to it (dispatcher in __init__)."""

from __future__ import annotations

from venalab.evidence import evidence
from venalab.exam import Side
from venalab.rules.ehit import EhitResult
from venalab.rules.pathways.model import Decision, PathwayResult

# The most demanding decision of several junctions wins.
_RANK: dict[str, int] = {
    "therapeutic-anticoagulation": 4,
    "anticoagulation": 3,
    "undetermined": 2,
    "individualised": 1,
    "none": 0,
}


def ehit_pathway(side: Side, ehit: tuple[EhitResult, ...]) -> PathwayResult:
    graded = [e for e in ehit if e.ehit_class is not None or e.decision == "undetermined"]
    top = max(graded, key=lambda e: _RANK[e.decision])
    decision: Decision = top.decision
    recs = tuple(r for e in graded for r in e.recommendations)
    labels = "; ".join(f"{e.label} at the {e.junction}" for e in graded)
    return PathwayResult(
        side=side,
        pathway="ehit",
        decision=decision,
        missing=tuple(m for e in graded for m in e.missing),
        boundary=any(e.boundary for e in graded),
        recommendations=recs,
        evidence=evidence(
            "pathway.ehit",
            top.evidence.sources,
            level=top.evidence.level,
            note=f"Thrombus after ablation: {labels}. Decision: {decision}.",
        ),
    )
