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
from venalab.rules.pathways.dvt import chronic_pathway, deep_pathway, no_pathway
from venalab.rules.pathways.model import (
    DEFAULT_PARAMS,
    PATHWAYS,
    PathwayData,
    PathwayParams,
    PathwayResult,
    RiskFactor,
    SvtResult,
    parse_pathway_data,
    pathway_params,
)
from venalab.rules.pathways.svt import superficial_pathway, with_dvt
from venalab.rules.thrombosis import ThrombosisResult

__all__ = [
    "DEFAULT_PARAMS",
    "PATHWAYS",
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
) -> PathwayResult:
    """The management pathway of one leg's thrombosis, with its recommendations.

    `thrombosis` is `classify_thrombosis(leg)` of the same leg (with the engine's
    tibioperoneal-trunk option); `exam` supplies the bedside context (`history`, Wells items)
    and the segment paths named in `missing`. Deep thrombosis decides the pathway; a
    superficial thrombosis in the same leg is reported in `svt` and its regimen is folded in.
    """
    params = params or DEFAULT_PARAMS
    deep_active = thrombosis.classification != "none" and not thrombosis.chronic_only
    superficial = list(thrombosis.superficial)
    svt_active = any(s.age != "chronic" for s in superficial)
    if deep_active:
        deep = deep_pathway(side, thrombosis, exam, params)
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
