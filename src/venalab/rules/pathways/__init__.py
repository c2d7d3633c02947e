"""Management pathways of one leg: the dispatcher over the thrombosis branches.

    model.py   the data file (`data/pathways.toml`), parameters, result models, builders, facts
    dvt.py     isolated distal, calf muscle vein and proximal DVT; chronic and none
    svt.py     superficial vein thrombosis, alone or with a DVT
    cvi.py     treatment recommendations for chronic venous disease

Imports run one way: the branch modules build on model.py, and this module on them.
Sources are named in each module's docstring.
"""

from __future__ import annotations

from dataclasses import replace

from venalab.exam import ExamDocument, Side
from venalab.rules.ehit import EhitVerdict
from venalab.rules.pathways.dvt import chronic_pathway, deep_pathway, no_pathway
from venalab.rules.pathways.model import (
    DEFAULT_PARAMS,
    PATHWAYS,
    DerivedFollowup,
    PathwayData,
    PathwayDecision,
    PathwayParams,
    PathwayResult,
    RiskFactor,
    SvtResult,
    parse_pathway_data,
    pathway_params,
    render_pathway,
)
from venalab.rules.pathways.post_treatment import ehit_pathway, graded
from venalab.rules.pathways.svt import superficial_pathway, with_dvt
from venalab.rules.thrombosis import ThrombosisDecision

__all__ = [
    "DEFAULT_PARAMS",
    "PATHWAYS",
    "DerivedFollowup",
    "PathwayData",
    "PathwayDecision",
    "PathwayParams",
    "PathwayResult",
    "RiskFactor",
    "SvtResult",
    "decide_pathway",
    "parse_pathway_data",
    "pathway_params",
    "render_pathway",
    "thrombosis_pathway",
]


def thrombosis_pathway(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams | None = None,
    ehit: tuple[EhitVerdict, ...] = (),
    derived: DerivedFollowup | None = None,
) -> PathwayResult:
    """The management pathway of one leg's thrombosis, with its recommendations (the rendered
    `decide_pathway`)."""
    params = params or DEFAULT_PARAMS
    return render_pathway(decide_pathway(side, thrombosis, exam, params, ehit, derived), params)


def decide_pathway(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams,
    ehit: tuple[EhitVerdict, ...] = (),
    derived: DerivedFollowup | None = None,
) -> PathwayDecision:
    """The management pathway of one leg's thrombosis, as decided.

    `thrombosis` is `decide_thrombosis(leg)` of the same leg (with the engine's
    tibioperoneal-trunk option); `exam` supplies the bedside context (`history`, Wells items)
    and the segment paths named in `missing`. Deep thrombosis decides the pathway; a
    superficial thrombosis in the same leg is reported in `svt` and its regimen is folded in.
    `ehit`: the leg's post-ablation decisions (rules.ehit); the thrombus they account for is
    already apart in `thrombosis.post_treatment`. Alone they give the EHIT pathway; beside a
    DVT or SVT their recommendations are added to that pathway's.
    `derived`: the surveillance result of the comparison with an earlier exam, used by the
    distal DVT pathway when `history.serial_imaging_result` is not given.
    """
    result = _thrombus_pathway(side, thrombosis, exam, params, derived)
    found = graded(ehit)
    if not found:
        return result
    if result.pathway in ("none", "chronic"):
        alone = ehit_pathway(side, ehit)
        chronic = result.recs if result.pathway == "chronic" else ()
        return replace(alone, recs=alone.recs + chronic)
    return replace(result, recs=result.recs + tuple(r for e in found for r in e.recs))


def _thrombus_pathway(
    side: Side,
    thrombosis: ThrombosisDecision,
    exam: ExamDocument,
    params: PathwayParams,
    derived: DerivedFollowup | None,
) -> PathwayDecision:
    deep_active = thrombosis.classification != "none" and not thrombosis.chronic_only
    superficial = thrombosis.superficial
    svt_active = any(s.age != "chronic" for s in superficial)
    if deep_active:
        deep = deep_pathway(side, thrombosis, exam, params, derived)
        if not svt_active:
            return deep
        return with_dvt(deep, superficial_pathway(side, thrombosis, exam, params))
    if svt_active:
        result = superficial_pathway(side, thrombosis, exam, params)
        if thrombosis.chronic_only:
            result = replace(result, recs=result.recs + chronic_pathway(side, thrombosis).recs)
        return result
    if thrombosis.chronic_only or superficial:
        return chronic_pathway(side, thrombosis)
    return no_pathway(side, thrombosis)
