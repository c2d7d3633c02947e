"""The thrombosis side of one leg, decided then rendered (issue 21).

`decide_thrombotic` runs the EHIT (rules.ehit), thrombosis (rules.thrombosis), pathway
(rules.pathways) and critical-result (rules.critical) rules into their lean decided records;
the decisions tier (venalab.decisions) reads those. `render_thrombotic` builds the full
results (evidence, texts, recommendations) from the same records for `engine.assess`, so the
two tiers share one implementation of each rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from venalab.exam import ExamDocument, Leg, Side
from venalab.rules.critical import CriticalFinding, CriticalMark, decide_critical, render_critical
from venalab.rules.ehit import (
    EhitResult,
    EhitVerdict,
    decide_ehit,
    decide_treated,
    post_treatment_indices,
    render_ehit,
)
from venalab.rules.pathways import (
    DerivedFollowup,
    PathwayDecision,
    PathwayParams,
    PathwayResult,
    decide_pathway,
    render_pathway,
)
from venalab.rules.thrombosis import (
    ThrombosisDecision,
    ThrombosisResult,
    TptPolicy,
    decide_thrombosis,
    render_thrombosis,
)


@dataclass(frozen=True, slots=True)
class ThromboticDecisions:
    side: Side
    ehit: tuple[EhitVerdict, ...]
    thrombosis: ThrombosisDecision
    pathway: PathwayDecision
    critical: tuple[CriticalMark, ...]


@dataclass(frozen=True, slots=True)
class ThromboticResults:
    ehit: tuple[EhitResult, ...]
    thrombosis: ThrombosisResult
    pathway: PathwayResult
    critical: tuple[CriticalFinding, ...]


def decide_thrombotic(
    side: Side,
    leg: Leg,
    exam: ExamDocument,
    tibioperoneal_trunk: TptPolicy,
    params: PathwayParams,
    derived: DerivedFollowup | None = None,
) -> ThromboticDecisions:
    date = exam.exam.date
    treated = decide_treated(leg, date)
    ehit = decide_ehit(side, leg, date, treated)
    t = decide_thrombosis(
        leg, tibioperoneal_trunk, post_treatment_indices(leg, date, ehit, treated)
    )
    pathway = decide_pathway(side, t, exam, params, ehit, derived)
    return ThromboticDecisions(side, ehit, t, pathway, decide_critical(side, t, pathway, ehit))


def render_thrombotic(d: ThromboticDecisions, params: PathwayParams) -> ThromboticResults:
    side = d.side
    ehit = tuple(render_ehit(e, side) for e in d.ehit)
    thrombosis = render_thrombosis(d.thrombosis)
    pathway = render_pathway(d.pathway, params)
    critical = tuple(render_critical(m, side, thrombosis, pathway, ehit) for m in d.critical)
    return ThromboticResults(ehit, thrombosis, pathway, critical)
