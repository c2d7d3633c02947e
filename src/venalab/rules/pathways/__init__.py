"""Management pathways of one leg: the dispatcher over the thrombosis branches.

    model.py   the data file (`data/pathways.toml`), parameters, result models, builders, facts
    dvt.py     isolated distal, calf muscle vein and proximal DVT; chronic and none
    svt.py     superficial vein thrombosis, alone or with a DVT
    cvi.py     treatment recommendations for chronic venous disease

Imports run one way: the branch modules build on model.py, and this module on them.
Sources are named in each module's docstring.
"""

from __future__ import annotations

from venalab.exam import ExamDocument, Side
from venalab.rules.ehit import EhitResult
from venalab.rules.pathways.dvt import chronic_pathway, deep_pathway, no_pathway
from venalab.rules.pathways.model import (
    DEFAULT_PARAMS,
    PATHWAYS,
    DerivedFollowup,
    PathwayData,
    PathwayParams,
    PathwayResult,
    RiskFactor,
    SvtResult,
    parse_pathway_data,
    pathway_params,
)
from venalab.rules.pathways.post_treatment import ehit_pathway
from venalab.rules.pathways.svt import superficial_pathway, with_dvt
from venalab.rules.thrombosis import ThrombosisResult

__all__ = [
    "DEFAULT_PARAMS",
    "PATHWAYS",
    "DerivedFollowup",
    "PathwayData",
    "PathwayParams",
    "PathwayResult",
    "RiskFactor",
    "SvtResult",
    "parse_pathway_data",
    "pathway_params",
    "thrombosis_pathway",
]


def thrombosis_pathway(
    side: Side,
    thrombosis: ThrombosisResult,
    exam: ExamDocument,
    params: PathwayParams | None = None,
    ehit: tuple[EhitResult, ...] = (),
    derived: DerivedFollowup | None = None,
) -> PathwayResult:
    """The management pathway of one leg's thrombosis, with its recommendations.

    `thrombosis` is `classify_thrombosis(leg)` of the same leg (with the engine's
    tibioperoneal-trunk option); `exam` supplies the bedside context (`history`, Wells items)
    and the segment paths named in `missing`. Deep thrombosis decides the pathway; a
    superficial thrombosis in the same leg is reported in `svt` and its regimen is folded in.
    `ehit`: the leg's post-ablation results (rules.ehit); the thrombus they account for is
    already apart in `thrombosis.post_treatment`. Alone they give the EHIT pathway; beside a
    DVT or SVT their recommendations are added to that pathway's.
    `derived`: the surveillance result of the comparison with an earlier exam, used by the
    distal DVT pathway when `history.serial_imaging_result` is not given.
    """
    params = params or DEFAULT_PARAMS
    result = _thrombus_pathway(side, thrombosis, exam, params, derived)
    graded = [e for e in ehit if e.ehit_class is not None or e.decision == "undetermined"]
    if not graded:
        return result
    if result.pathway in ("none", "chronic"):
        alone = ehit_pathway(side, ehit)
        chronic = result.recommendations if result.pathway == "chronic" else ()
        return alone.model_copy(update={"recommendations": alone.recommendations + chronic})
    extra = tuple(r for e in graded for r in e.recommendations)
    return result.model_copy(update={"recommendations": result.recommendations + extra})


def _thrombus_pathway(
    side: Side,
    thrombosis: ThrombosisResult,
    exam: ExamDocument,
    params: PathwayParams,
    derived: DerivedFollowup | None,
) -> PathwayResult:
    deep_active = thrombosis.classification != "none" and not thrombosis.chronic_only
    superficial = list(thrombosis.superficial)
    svt_active = any(s.age != "chronic" for s in superficial)
    if deep_active:
        deep = deep_pathway(side, thrombosis, exam, params, derived)
        if not svt_active:
            return deep
        return with_dvt(deep, superficial_pathway(side, thrombosis, exam, params), params)
    if svt_active:
        result = superficial_pathway(side, thrombosis, exam, params)
        if thrombosis.chronic_only:
            chronic = chronic_pathway(side, thrombosis, params)
            result = result.model_copy(
                update={"recommendations": result.recommendations + chronic.recommendations}
            )
        return result
    if thrombosis.chronic_only or superficial:
        return chronic_pathway(side, thrombosis, params)
    return no_pathway(side, thrombosis)
