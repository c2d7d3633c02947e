"""Rows of the report's "Classification and scores" table, read from the result document."""

from __future__ import annotations

from venalab.evidence import Frozen
from venalab.impression import DECISION_TEXT, PATHWAY_TEXT
from venalab.result import Result
from venalab.rules.calcinosis import calcification_caveat


class ScoreRow(Frozen):
    measure: str
    leg: str
    value: str
    note: str = ""


def score_rows(result: Result) -> list[ScoreRow]:
    """CEAP, rVCSS, Villalta, Wells and the calcinosis workup as the result states them."""
    rows: list[ScoreRow] = []
    for side in ("left", "right"):
        leg = result.leg(side)
        if leg is None:
            continue
        ceap = leg.ceap
        if ceap is None:
            why = leg.ceap_not_assessed.reason if leg.ceap_not_assessed else ""
            rows.append(ScoreRow(measure="CEAP 2020", leg=side, value="not assessed", note=why))
        else:
            rows.append(
                ScoreRow(
                    measure="CEAP 2020",
                    leg=side,
                    value=ceap.basic,
                    note="; ".join([f"advanced: {ceap.advanced}", *ceap.ambiguities]),
                )
            )
        if leg.vcss is not None:
            v = leg.vcss
            value = f"{v.total}" if v.complete else f"{v.total}-{v.upper_bound} (incomplete)"
            # the engine's statement without its "rVCSS (Vasquez 2010): " lead (the row says it)
            note = v.statement.removeprefix(f"{v.scale}: ")
            rows.append(ScoreRow(measure=v.scale, leg=side, value=value, note=note))
        if leg.villalta is not None:
            vi = leg.villalta
            value = f"{vi.total}" + ("" if vi.complete else f"-{vi.upper_bound}")
            value += f" ({vi.category or 'category undecided'})"
            rows.append(
                ScoreRow(measure="Villalta (PTS)", leg=side, value=value, note=vi.statement)
            )
        if leg.pathway.pathway != "none":
            rows.append(
                ScoreRow(
                    measure="Thrombosis pathway",
                    leg=side,
                    value=(
                        f"{PATHWAY_TEXT.get(leg.pathway.pathway, leg.pathway.pathway)}: "
                        f"{DECISION_TEXT.get(leg.pathway.decision, leg.pathway.decision)}"
                    ),
                    note="; ".join(leg.pathway.missing),
                )
            )
    w = result.wells_dvt
    if w is not None:
        score = f"{w.score}" if w.score is not None else f"{w.score_min} to {w.score_max}"
        rows.append(
            ScoreRow(
                measure=f"Wells DVT ({w.version})",
                leg="-",
                value=f"{score}: {w.two_level or '?'} / {w.three_level or '?'}",
                note=w.version_note or "",
            )
        )
    c = result.calcinosis
    if c is not None:
        if c.ca_x_p is not None:
            rows.append(
                ScoreRow(
                    measure="Calcium x phosphate",
                    leg="-",
                    value=f"{c.ca_x_p.value:g} mg²/dL²",
                    note=c.ca_x_p.status,
                )
            )
        caveat = calcification_caveat(c)
        rows.append(
            ScoreRow(
                measure="Calcinosis subtype",
                leg="-",
                value=c.subtype,
                note=f"{c.confirmation.text}. {caveat}" if caveat else c.confirmation.text,
            )
        )
    return rows
