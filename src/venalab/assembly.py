"""The last step of `engine.assess`: the result says only what was examined, and every
recommendation names its side.

- Recommendations: each leg's recommendation text is prefixed with its side ("Right leg: ");
  one that both legs give with the same text, strength and evidence is kept once, for "Both
  legs" (`Recommendation.sides`). Patient-level items (the calcinosis laboratory work-up)
  keep their text and `sides == ()`.
- CEAP classifies chronic venous disease (CEAP20). In a thrombosis study, a leg with no
  chronic venous sign recorded was not examined for it: its CEAP is `None` and
  `LegResult.ceap_not_assessed` says why, instead of a "C0 Ad Po" (or a "C3" from the edema
  an acute thrombosis causes) that would read as a classification. Edema counts as a chronic
  sign only outside such a study: the same venalab convention as the rVCSS sign bounds
  (engine.assess_leg). A thrombosis study is an exam whose purpose is `thrombosis`, or one
  without a stated purpose in which the leg has an acute thrombus.
- Each segment lists what its entry recorded (`SegmentResult.examined`), so "compressible,
  reflux not measured" is told apart from "not examined" (`segment_reading`).

No rule is decided here: the verdicts, classes and texts are the rules' own; this step only
labels and merges them.
"""

from __future__ import annotations

from venalab.evidence import Finding, Recommendation, evidence, make_recommendation
from venalab.exam import SIDES, ExamDocument, Side
from venalab.result import LegResult, Legs, NotAssessed, Result
from venalab.rules.reflux import Examined, SegmentResult, recorded

SIDE_LABEL: dict[tuple[Side, ...], str] = {
    ("left",): "Left leg",
    ("right",): "Right leg",
    ("left", "right"): "Both legs",
}

# Signs an acute thrombosis explains by itself (venalab convention, as for the rVCSS bounds).
ACUTE_THROMBOSIS_SIGNS: frozenset[str] = frozenset({"edema"})


# ---------------------------------------------------------------------------------------
# Recommendations


def _base_id(rec: Recommendation) -> str:
    suffix = f".{rec.leg}"
    return rec.id[: -len(suffix)] if rec.leg and rec.id.endswith(suffix) else rec.id


def side_label(sides: tuple[Side, ...]) -> str | None:
    """ "Left leg", "Right leg", "Both legs", or None for a patient-level item."""
    return SIDE_LABEL.get(tuple(s for s in SIDES if s in sides))


def sided_recommendations(recs: tuple[Recommendation, ...]) -> tuple[Recommendation, ...]:
    """Every leg's recommendation with its side in `sides` and in its text; the same
    recommendation for both legs once, as "Both legs", where the first of the two stood.
    Idempotent: recommendations that already carry `sides` are kept as they are."""
    # Same recommendation: same base id, text, strength and (equal) evidence.
    groups: dict[tuple[str, str, str | None], list[list[Recommendation]]] = {}
    order: list[Recommendation | list[Recommendation]] = []
    for rec in recs:
        if rec.leg is None or rec.sides:
            order.append(rec)
            continue
        candidates = groups.setdefault((_base_id(rec), rec.text, rec.strength), [])
        for members in candidates:
            if members[0].evidence == rec.evidence:
                members.append(rec)
                break
        else:
            candidates.append([rec])
            order.append(candidates[-1])
    out: list[Recommendation] = []
    for item in order:
        if isinstance(item, Recommendation):
            out.append(item)
            continue
        sides = tuple(s for s in SIDES if any(m.leg == s for m in item))
        first = item[0]
        out.append(
            make_recommendation(
                id=f"{_base_id(first)}.{'both' if len(sides) == 2 else sides[0]}",
                text=f"{side_label(sides)}: {first.text}",
                evidence=first.evidence,
                leg=sides[0] if len(sides) == 1 else None,
                strength=first.strength,
                sides=sides,
            )
        )
    return tuple(out)


def unsided_text(rec: Recommendation) -> str:
    """The recommendation's text without its side prefix (for views that show the side
    apart, e.g. grouped under a leg heading)."""
    label = side_label(rec.sides)
    prefix = f"{label}: " if label else ""
    return rec.text[len(prefix) :] if prefix and rec.text.startswith(prefix) else rec.text


# ---------------------------------------------------------------------------------------
# CEAP: only where chronic venous disease was examined


def ceap_not_assessed(exam: ExamDocument, side: Side, acute_thrombus: bool) -> NotAssessed | None:
    """Why CEAP does not apply to this leg of this exam, or None when it does."""
    leg = exam.leg(side)
    if leg is None:
        return None
    purpose = exam.exam.purpose
    study = purpose == "thrombosis" or (purpose in (None, "other") and acute_thrombus)
    if not study:
        return None  # (asked for every leg of every exam: settled before looking at signs)
    chronic = [s for s in leg.clinical.signs if s not in ACUTE_THROMBOSIS_SIGNS]
    if chronic or leg.clinical.recurrent or leg.clinical.etiology is not None:
        return None
    edema = " (edema is attributed to the thrombosis)" if leg.clinical.signs else ""
    reason = (
        f"a thrombosis study with no chronic venous sign recorded{edema}; CEAP classifies "
        "chronic venous disease"
    )
    return NotAssessed(
        reason=reason,
        evidence=evidence(
            "ceap.not-assessed",
            ["VENALAB", "CEAP20"],
            level="D",
            note="CEAP describes chronic venous disease; it is given only where the exam "
            "recorded the leg's chronic venous signs (venalab convention).",
        ),
    )


def _ceap_findings(findings: tuple[Finding, ...], side: Side, na: NotAssessed) -> list[Finding]:
    """The leg's CEAP findings replaced by one saying it was not assessed."""
    out: list[Finding] = []
    for f in findings:
        if f.id == f"ceap.{side}":
            out.append(
                f.model_copy(
                    update={
                        "text": f"{SIDE_LABEL[(side,)]} CEAP not assessed: {na.reason}.",
                        "evidence": na.evidence,
                    }
                )
            )
        elif f.id != f"ceap.ambiguity.{side}":
            out.append(f)
    return out


# ---------------------------------------------------------------------------------------
# Segments: what each entry recorded


def examined(s: SegmentResult) -> tuple[Examined, ...]:
    return recorded(s.measured_ms, s.compressibility, s.thrombus, s.obstruction, s.diameter_mm)


def _with_examined(s: SegmentResult) -> SegmentResult:
    found = examined(s)
    return s if s.examined == found else s.model_copy(update={"examined": found})


_COMPRESSION = {
    "full": "compressible",
    "partial": "partially compressible",
    "none": "non-compressible",
}


def segment_reading(s: SegmentResult) -> str:
    """The entry's reflux state in words: "reflux", "no reflux", "at cut-off, ...",
    "no cut-off for this vein", or what was recorded instead ("compressible, reflux not
    measured", "reflux not measured", "recorded, not assessed")."""
    if s.reflux == "present":
        return "reflux"
    if s.reflux == "absent":
        return "no reflux"
    if s.reflux == "boundary":
        counted = "counted" if s.abnormal else "not counted"
        return f"at cut-off, {counted} as reflux"
    if s.measured_ms is not None:
        return "no cut-off for this vein"
    if s.compressibility is not None:
        return f"{_COMPRESSION[s.compressibility]}, reflux not measured"
    if s.thrombus is not None or s.obstruction is not None or s.diameter_mm is not None:
        return "reflux not measured"
    return "recorded, not assessed"


# ---------------------------------------------------------------------------------------


def finish(exam: ExamDocument, result: Result) -> Result:
    """The assembled result, labelled: sides on recommendations, CEAP only where assessed,
    what each segment examined."""
    findings = result.findings
    legs: dict[str, LegResult] = {}
    for side in SIDES:
        lr = result.leg(side)
        if lr is None:
            continue
        t = lr.thrombosis
        acute = (t.classification != "none" and not t.chronic_only) or bool(t.superficial)
        na = ceap_not_assessed(exam, side, acute)
        segments = tuple([_with_examined(s) for s in lr.segments])
        update: dict[str, object] = {}
        if any(new is not old for new, old in zip(segments, lr.segments, strict=True)):
            update["segments"] = segments
        if na is not None:
            update |= {"ceap": None, "ceap_not_assessed": na}
            findings = tuple(_ceap_findings(findings, side, na))
        legs[side] = lr.model_copy(update=update) if update else lr
    return result.model_copy(
        update={
            "legs": Legs(**legs),
            "findings": findings,
            "recommendations": sided_recommendations(result.recommendations),
        }
    )
