"""Calcinosis cutis workup: the subtype path over the laboratory results (labs.py).

Subtypes and their distinguishing criteria: Reiter et al. 2011, part I (REI11a) and
Jimenez-Gallo et al. 2015 (JIM15), as summarised in clinical.md section 5.1; seed 001
(PAC22) for dystrophic calcinosis in chronic venous disease. The ordered decision logic
(calciphylaxis -> metastatic -> iatrogenic -> dystrophic -> idiopathic) is derived from those
definitions by clinical.md 5.1 and carries evidence level [D] (source VENALAB + REI11a/JIM15).
Every result says it requires clinicopathologic confirmation (REI11a).

The laboratory half (reference ranges, one analyte against its range, Ca x PO4, renal
status) is labs.py; this module reads its results along the subtype path.
"""

from __future__ import annotations

from typing import Literal, get_args

from venalab.evidence import (
    Comparison,
    Evidence,
    Finding,
    Frozen,
    Recommendation,
    evidence,
)
from venalab.exam import SIDES, ExamDocument, Labs, Side
from venalab.rules.imaging import IMAGING_PATTERNS, is_soft_tissue_calcification
from venalab.rules.labs import (
    DEFAULT_RANGES,
    CaXPResult,
    LabResult,
    ReferenceRanges,
    RenalStatus,
    assess_labs,
    ca_x_p_product,
    range_text,
    renal_status,
)
from venalab.units import LAB_UNITS

Subtype = Literal[
    "dystrophic", "metastatic", "iatrogenic", "idiopathic", "calciphylaxis", "undetermined"
]
SUBTYPES: tuple[Subtype, ...] = get_args(Subtype)
Answer = Literal["yes", "no", "unknown"]
StepId = Literal[
    "calcification", "calciphylaxis", "metastatic", "iatrogenic", "dystrophic", "idiopathic"
]

CONFIRMATION = "requires clinicopathologic confirmation"
# CEAP classes that mean skin/subcutaneous damage from venous disease: C4-C6 (clinical.md
# 5.1 "CVD with C4-C6 skin, ulcer"; C4c included as part of C4 in CEAP 2020).
DAMAGE_CLASSES: frozenset[str] = frozenset({"C4a", "C4b", "C4c", "C5", "C6", "C6r"})
TRIGGER_ANALYTES: tuple[str, ...] = ("calcium", "phosphate", "pth", "vitamin_d_25oh")
_LOGIC = ["VENALAB", "REI11a", "JIM15"]
_LOGIC_NOTE = (
    "Decision logic derived from the REI11a/JIM15 subtype definitions "
    "(clinical.md 5.1), evidence level [D]; needs clinical sign-off."
)


# ---------------------------------------------------------------------------------------
# Result models


class Fact(Frozen):
    """One input the decision used, named by its JSON path in the exam (or a derived name)."""

    path: str
    value: str | float | bool | None
    meaning: str | None = None


class ReasoningStep(Frozen):
    step: int
    id: StepId
    question: str
    answer: Answer
    conclusion: str
    facts: tuple[Fact, ...] = ()
    missing: tuple[str, ...] = ()
    evidence: Evidence


class Statement(Frozen):
    text: str
    evidence: Evidence


class WorkupItem(Frozen):
    id: str
    kind: Literal["lab", "biopsy"]
    analytes: tuple[str, ...] = ()
    text: str
    evidence: Evidence


class CalcinosisResult(Frozen):
    subtype: Subtype
    provisional_subtype: Subtype | None = None
    """When undetermined: the subtype the path reaches if the missing facts are negative."""
    missing: tuple[str, ...] = ()
    labs: dict[str, LabResult]
    ca_x_p: CaXPResult | None = None
    renal: RenalStatus
    calcification_sides: tuple[Side, ...] = ()
    reasoning: tuple[ReasoningStep, ...]
    confirmation: Statement
    workup: tuple[WorkupItem, ...] = ()
    reference_ranges: str
    evidence: Evidence

    def step(self, step_id: StepId) -> ReasoningStep | None:
        return next((s for s in self.reasoning if s.id == step_id), None)

    def findings(self) -> list[Finding]:
        """Findings for the result document (subtype, Ca x PO4, out-of-range labs)."""
        out = [
            Finding(
                id="calcinosis.subtype",
                importance=_SUBTYPE_IMPORTANCE[self.subtype],
                text=_subtype_text(self),
                evidence=self.evidence,
            )
        ]
        if self.ca_x_p is not None:
            c = self.ca_x_p
            label = {
                "below-target": "target met",
                "above-target": "above target",
                "high-risk": "high-risk range",
            }[c.status]
            edge = f"; exactly at the {c.value:g} cut-off" if c.boundary else ""
            out.append(
                Finding(
                    id="calcinosis.ca-x-p",
                    importance=2
                    if c.status == "high-risk"
                    else 3
                    if c.status == "above-target"
                    else 4,
                    text=f"Calcium x phosphate {c.value:g} mg²/dL²: {label} (target "
                    f"{c.target_comparison} {c.threshold:g}; high risk {c.high_risk_comparison} "
                    f"{c.high_risk_threshold:g}){edge}.",
                    evidence=c.evidence,
                )
            )
        for lab in self.labs.values():
            if lab.status in ("low", "high") or lab.boundary:
                r = lab.reference_range
                rng = range_text(r) if r is not None else ""
                where = {"low": "below", "high": "above"}.get(lab.status or "", "at the limit of")
                out.append(
                    Finding(
                        id=f"calcinosis.lab.{lab.analyte}",
                        importance=3 if lab.status != "normal" else 4,
                        text=f"{lab.label} {lab.conventional_value:g} {lab.conventional_unit}: "
                        f"{where} the reference range {rng}.",
                        evidence=lab.evidence,
                    )
                )
        step1 = self.step("calciphylaxis")
        if step1 is not None and step1.answer == "no" and "KAL09" in step1.evidence.sources:
            out.append(
                Finding(
                    id="calcinosis.non-uraemic-calciphylaxis",
                    importance=2,
                    text=step1.conclusion,
                    evidence=step1.evidence,
                )
            )
        return out

    def recommendations(self) -> list[Recommendation]:
        """The workup items as recommendations (missing labs; biopsy when calciphylaxis)."""
        return [
            Recommendation(id=f"calcinosis.workup.{w.id}", text=w.text, evidence=w.evidence)
            for w in self.workup
        ]


_SUBTYPE_IMPORTANCE: dict[Subtype, Literal[1, 2, 3, 4]] = {
    "calciphylaxis": 1,
    "metastatic": 2,
    "iatrogenic": 3,
    "dystrophic": 3,
    "idiopathic": 3,
    "undetermined": 3,
}


def calcification_caveat(res: CalcinosisResult) -> str:
    """What the subtype rests on when nothing calcified was seen ("" when calcification is
    documented): a subtype from labs and history alone must not read as a finding."""
    step = res.step("calcification")
    if step is None or step.answer == "yes":
        return ""
    seen = (
        "imaging records no soft-tissue calcification"
        if step.answer == "no"
        else "no imaging of calcification is recorded"
    )
    return (
        f"Nothing calcified was seen ({seen}): the subtype says what the workup points to "
        "only if calcinosis is confirmed clinically."
    )


def _subtype_text(res: CalcinosisResult) -> str:
    caveat = calcification_caveat(res)
    text = _subtype_sentence(res)
    return f"{text} {caveat}" if caveat else text


def _subtype_sentence(res: CalcinosisResult) -> str:
    if res.subtype == "undetermined":
        prov = (
            f"; if the missing facts are negative the path leads to {res.provisional_subtype}"
            if res.provisional_subtype
            else ""
        )
        return (
            f"Calcinosis cutis subtype undetermined: missing {', '.join(res.missing)}{prov}; "
            f"{CONFIRMATION}."
        )
    if res.subtype == "calciphylaxis":
        return f"Calciphylaxis suspected: skin biopsy needed; {CONFIRMATION}."
    return f"Calcinosis cutis workup suggests the {res.subtype} subtype; {CONFIRMATION}."


# ---------------------------------------------------------------------------------------
# The subtype path (clinical.md 5.1 decision logic, [D])


def _lab_fact(lab: LabResult | None, analyte: str) -> Fact:
    if lab is None:
        return Fact(path=f"labs.{analyte}", value=None, meaning="not measured")
    r = lab.reference_range
    rng = f" (range {range_text(r)})" if r is not None else ""
    return Fact(
        path=f"labs.{analyte}",
        value=f"{lab.conventional_value:g} {lab.conventional_unit}",
        meaning=f"{lab.status or 'no range'}{rng}",
    )


def _logic_evidence(
    step: str,
    extra: list[str] | None = None,
    note: str | None = None,
    threshold: float | None = None,
    measured: float | None = None,
    comparison: Comparison | None = None,
    unit: str | None = None,
) -> Evidence:
    return evidence(
        f"calcinosis.step.{step}",
        [*_LOGIC, *(extra or [])],
        level="D",
        threshold=threshold,
        measured=measured,
        comparison=comparison,
        unit=unit,
        note=f"{_LOGIC_NOTE}{' ' + note if note else ''}",
    )


def _step_calcification(exam: ExamDocument, sides: tuple[Side, ...]) -> ReasoningStep:
    facts = []
    if exam.imaging is not None:
        for s in SIDES:
            li = getattr(exam.imaging, s)
            if li is not None and li.calcification is not None:
                facts.append(Fact(path=f"imaging.{s}.calcification", value=li.calcification))
    if sides:
        answer: Answer = "yes"
        conclusion = f"Soft-tissue calcification on imaging: {', '.join(sides)} leg."
    elif facts:
        answer = "no"
        conclusion = (
            "No soft-tissue calcification on imaging; the path below says which "
            "subtype the workup would point to if calcinosis is confirmed clinically."
        )
    else:
        answer = "unknown"
        conclusion = (
            "No imaging of calcification recorded; the path below assumes calcinosis "
            "was found clinically."
        )
    return ReasoningStep(
        step=0,
        id="calcification",
        question="Is soft-tissue calcification documented?",
        answer=answer,
        conclusion=conclusion,
        facts=tuple(facts),
        evidence=_logic_evidence(
            "calcification", ["PAC22"], note="Context only: this step does not decide the subtype."
        ),
    )


def _step_calciphylaxis(exam: ExamDocument, renal: RenalStatus) -> ReasoningStep:
    purpura = exam.history.retiform_purpura_or_necrosis if exam.history else None
    facts = (
        Fact(path="history.retiform_purpura_or_necrosis", value=purpura),
        Fact(path="renal.end_stage", value=renal.end_stage, meaning=renal.basis),
    )
    q = (
        "Painful vascular-pattern necrosis (retiform purpura/necrosis) together with "
        "end-stage renal disease?"
    )
    extra: list[str] = []
    missing: tuple[str, ...] = ()
    if purpura and renal.end_stage:
        answer: Answer = "yes"
        conclusion = (
            "Retiform purpura/necrosis with end-stage renal disease: suspect calciphylaxis."
        )
    elif purpura and renal.end_stage is False:
        answer = "no"
        extra = ["KAL09"]
        conclusion = (
            "Retiform purpura/necrosis without end-stage renal disease: the rule does not "
            "fire, but non-uraemic calciphylaxis is described (KAL09); consider it and "
            "confirm histologically."
        )
    elif purpura is False or renal.end_stage is False:
        answer = "no"
        conclusion = (
            "No retiform purpura/necrosis recorded."
            if purpura is False
            else "No end-stage renal disease."
        )
    else:
        answer = "unknown"
        missing = (("history.retiform_purpura_or_necrosis",) if purpura is None else ()) + (
            renal.missing if renal.end_stage is None else ()
        )
        conclusion = "Cannot exclude calciphylaxis: " + ", ".join(missing) + " not recorded."
    return ReasoningStep(
        step=1,
        id="calciphylaxis",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=facts,
        missing=missing,
        evidence=_logic_evidence("calciphylaxis", extra),
    )


def _step_metastatic(
    exam: ExamDocument, labs: dict[str, LabResult], cxp: CaXPResult | None, renal: RenalStatus
) -> ReasoningStep:
    ca, po4, pth = labs.get("calcium"), labs.get("phosphate"), labs.get("pth")
    vitd, egfr, creat = labs.get("vitamin_d_25oh"), labs.get("egfr"), labs.get("creatinine")
    facts = [_lab_fact(ca, "calcium"), _lab_fact(po4, "phosphate")]
    facts.append(
        Fact(
            path="ca_x_p",
            value=None if cxp is None else cxp.value,
            meaning=None if cxp is None else cxp.status,
        )
    )
    facts += [_lab_fact(pth, "pth"), _lab_fact(vitd, "vitamin_d_25oh")]
    facts.append(Fact(path="renal.end_stage", value=renal.end_stage, meaning=renal.basis))
    reasons: list[str] = []
    decisive: Evidence | None = None
    for lab, word in ((ca, "calcium above range"), (po4, "phosphate above range")):
        if lab is not None and lab.status == "high":
            reasons.append(word)
            decisive = decisive or lab.evidence
    if cxp is not None and cxp.status != "below-target":
        reasons.append(f"Ca x PO4 {cxp.value:g} not below the {cxp.threshold:g} target")
        decisive = decisive or cxp.evidence
    if renal.end_stage:
        reasons.append("end-stage renal disease (CKD-related calcinosis)")
    renal_impaired = (egfr is not None and egfr.status == "low") or (
        creat is not None and creat.status == "high"
    )
    if renal_impaired and pth is not None and pth.status == "high" and not renal.end_stage:
        reasons.append("reduced renal function with raised PTH (secondary hyperparathyroidism)")
        decisive = decisive or pth.evidence
    if vitd is not None and vitd.status == "high":
        reasons.append("25-hydroxyvitamin D above range (vitamin D excess)")
        decisive = decisive or vitd.evidence
    notes: list[str] = []
    if pth is not None and pth.status == "high" and not reasons:
        notes.append(
            "PTH above range with normal calcium and phosphate is not by itself counted "
            "as a metastatic cause (venalab convention); evaluate the hyperparathyroidism."
        )
    if exam.history is not None and exam.history.malignancy:
        notes.append(
            "Malignancy is recorded: it counts here only through raised calcium or "
            "phosphate (bone destruction)."
        )
    supporting = [p for p, lab in (("labs.pth", pth), ("labs.vitamin_d_25oh", vitd)) if lab is None]
    if egfr is None and creat is None and not renal.end_stage:
        supporting.append("labs.creatinine or labs.egfr")
    missing: tuple[str, ...] = ()
    q = (
        "Calcium or phosphate above the reference range, Ca x PO4 not below target, or a "
        "metabolic cause (end-stage renal disease, reduced renal function with raised PTH, "
        "vitamin D excess)?"
    )
    if reasons:
        answer: Answer = "yes"
        conclusion = "Metastatic calcinosis: " + "; ".join(reasons) + "."
    elif ca is None or po4 is None:
        answer = "unknown"
        missing = tuple(
            p for p, lab in (("labs.calcium", ca), ("labs.phosphate", po4)) if lab is None
        )
        conclusion = (
            "Cannot assess calcium/phosphate metabolism: " + ", ".join(missing) + " missing."
        )
    else:
        answer = "no"
        conclusion = "Calcium and phosphate within range and no metabolic cause recorded."
        if supporting:
            notes.append(
                "Metabolic causes not fully assessed: "
                + ", ".join(supporting)
                + " not measured (see workup)."
            )
    if notes:
        conclusion += " " + " ".join(notes)
    ev = _logic_evidence(
        "metastatic",
        note=None,
        threshold=decisive.threshold if decisive else None,
        measured=decisive.measured if decisive else None,
        comparison=decisive.comparison if decisive else None,
        unit=decisive.unit if decisive else None,
    )
    return ReasoningStep(
        step=2,
        id="metastatic",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=tuple(facts),
        missing=missing,
        evidence=ev,
    )


def _step_iatrogenic(exam: ExamDocument) -> ReasoningStep:
    infusion = exam.history.calcium_or_phosphate_infusion_at_site if exam.history else None
    q = "Calcium or phosphate infusion (or extravasation) at the site?"
    missing: tuple[str, ...] = ()
    if infusion:
        answer: Answer = "yes"
        conclusion = (
            "Calcium/phosphate infusion or extravasation at the site: iatrogenic calcinosis."
        )
    elif infusion is False:
        answer = "no"
        conclusion = "No calcium/phosphate infusion at the site."
    else:
        answer = "unknown"
        missing = ("history.calcium_or_phosphate_infusion_at_site",)
        conclusion = "Infusion history at the site not recorded."
    return ReasoningStep(
        step=3,
        id="iatrogenic",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=(Fact(path="history.calcium_or_phosphate_infusion_at_site", value=infusion),),
        missing=missing,
        evidence=_logic_evidence("iatrogenic"),
    )


def _step_dystrophic(
    exam: ExamDocument, c_classes_by_side: dict[str, tuple[str, ...]], calcified: tuple[Side, ...]
) -> ReasoningStep:
    injury = exam.history.tissue_injury_at_site if exam.history else None
    ctd = exam.history.connective_tissue_disease if exam.history else None
    facts = [
        Fact(
            path=f"legs.{s}.ceap",
            value=" ".join(c) or None,
            meaning="C4-C6 skin changes or ulcer" if DAMAGE_CLASSES & set(c) else None,
        )
        for s, c in sorted(c_classes_by_side.items())
    ]
    facts += [
        Fact(path="history.tissue_injury_at_site", value=injury),
        Fact(path="history.connective_tissue_disease", value=ctd),
    ]
    damaged = [s for s, c in sorted(c_classes_by_side.items()) if DAMAGE_CLASSES & set(c)]
    # Local damage must be where the calcium is: when imaging names the calcified legs,
    # only C4-C6 changes on those legs count.
    at_site = [s for s in damaged if not calcified or s in calcified]
    reasons: list[str] = []
    if at_site:
        reasons.append(
            f"chronic venous disease with C4-C6 skin changes/ulcer ({', '.join(at_site)} leg)"
        )
    if injury:
        reasons.append("tissue injury at the site")
    if ctd:
        reasons.append("connective tissue disease")
    missing: tuple[str, ...] = ()
    q = (
        "Local tissue damage (C4-C6 skin changes or ulcer on the calcified leg, tissue injury "
        "at the site, connective tissue disease)?"
    )
    if reasons:
        answer: Answer = "yes"
        conclusion = "Dystrophic calcinosis: " + "; ".join(reasons) + "."
    elif injury is None or ctd is None:
        answer = "unknown"
        missing = tuple(
            p
            for p, v in (
                ("history.tissue_injury_at_site", injury),
                ("history.connective_tissue_disease", ctd),
            )
            if v is None
        )
        conclusion = "Local tissue damage not excluded: " + ", ".join(missing) + " not recorded."
    else:
        answer = "no"
        conclusion = "No local tissue damage recorded."
    if damaged and not at_site:
        conclusion += (
            f" C4-C6 changes are recorded only on the {', '.join(damaged)} leg, "
            "not on the calcified leg."
        )
    return ReasoningStep(
        step=4,
        id="dystrophic",
        question=q,
        answer=answer,
        conclusion=conclusion,
        facts=tuple(facts),
        missing=missing,
        evidence=_logic_evidence("dystrophic", ["PAC22"]),
    )


def _workup(labs: dict[str, LabResult], renal: RenalStatus, subtype: Subtype) -> list[WorkupItem]:
    ev = evidence(
        "calcinosis.workup",
        [*_LOGIC],
        level="D",
        note="Labs that separate dystrophic from metastatic calcinosis (clinical.md "
        "5.1: dystrophic = normal calcium and phosphate with normal PTH, renal "
        "function and vitamin D).",
    )
    items: list[WorkupItem] = []
    for analyte, wid in (("calcium", "calcium"), ("phosphate", "phosphate"), ("pth", "pth")):
        if analyte not in labs:
            items.append(
                WorkupItem(
                    id=wid,
                    kind="lab",
                    analytes=(analyte,),
                    text=f"Measure {LAB_UNITS[analyte].label.lower()}.",
                    evidence=ev,
                )
            )
    if "creatinine" not in labs and "egfr" not in labs and not renal.end_stage:
        items.append(
            WorkupItem(
                id="renal-function",
                kind="lab",
                analytes=("creatinine", "egfr"),
                text="Measure renal function (serum creatinine / eGFR).",
                evidence=ev,
            )
        )
    if "vitamin_d_25oh" not in labs:
        items.append(
            WorkupItem(
                id="vitamin-d",
                kind="lab",
                analytes=("vitamin_d_25oh",),
                text="Measure 25-hydroxyvitamin D.",
                evidence=ev,
            )
        )
    if subtype == "calciphylaxis":
        items.append(
            WorkupItem(
                id="biopsy",
                kind="biopsy",
                text="Skin biopsy to confirm calciphylaxis (medial calcification of small dermal and "
                "subcutaneous vessels).",
                evidence=evidence(
                    "calcinosis.workup.biopsy",
                    ["JIM15", "REI11a", "VENALAB"],
                    level="D",
                    note="clinical.md 5.1 step 1: biopsy needed.",
                ),
            )
        )
    return items


def _has_calcinosis_labs(labs: Labs | None) -> bool:
    # Creatinine/eGFR alone (e.g. measured before anticoagulation) do not open a calcinosis
    # workup; the calcium-phosphate analytes or dialysis do.
    return labs is not None and (
        any(getattr(labs, a) is not None for a in TRIGGER_ANALYTES) or labs.dialysis is True
    )


def _has_relevant_history(exam: ExamDocument) -> bool:
    h = exam.history
    return h is not None and any(getattr(h, name) is True for name in type(h).model_fields)


def calcified_sides(exam: ExamDocument) -> tuple[Side, ...]:
    """Legs whose imaging records soft-tissue calcification (phleboliths excluded)."""
    if exam.imaging is None:
        return ()
    return tuple(
        s
        for s in SIDES
        if (li := getattr(exam.imaging, s)) is not None
        and is_soft_tissue_calcification(li.calcification, IMAGING_PATTERNS)
    )


def assess_calcinosis(
    exam: ExamDocument,
    c_classes_by_side: dict[str, tuple[str, ...]],
    ranges: ReferenceRanges | None = None,
) -> CalcinosisResult | None:
    """Calcinosis cutis workup of one exam: labs, Ca x PO4, subtype path and missing workup.

    `c_classes_by_side` maps "left"/"right" to the leg's CEAP C classes
    (venalab.rules.ceap.clinical_classes). `ranges` defaults to the built-in adult ranges.
    Returns None when the exam has no calcium-phosphate labs (calcium, phosphate, PTH,
    25-OH vitamin D, or dialysis true; creatinine/eGFR alone do not count), no soft-tissue
    calcification on imaging (phleboliths do not count) and no history flag set to true.
    """
    rr = ranges or DEFAULT_RANGES
    sides = calcified_sides(exam)
    if not (_has_calcinosis_labs(exam.labs) or sides or _has_relevant_history(exam)):
        return None
    labs = assess_labs(exam.labs, rr, exam.patient.sex)
    cxp = None
    if exam.labs is not None and exam.labs.calcium is not None and exam.labs.phosphate is not None:
        cxp = ca_x_p_product(exam.labs.calcium, exam.labs.phosphate, rr)
    renal = renal_status(exam.labs, labs, rr)

    steps = [
        _step_calciphylaxis(exam, renal),
        _step_metastatic(exam, labs, cxp, renal),
        _step_iatrogenic(exam),
        _step_dystrophic(exam, c_classes_by_side, sides),
    ]
    path: list[ReasoningStep] = [_step_calcification(exam, sides)]
    first_yes: ReasoningStep | None = None
    for s in steps:
        path.append(s)
        if s.answer == "yes":
            first_yes = s
            break
    unknown = [s for s in path[1:] if s.answer == "unknown"]
    reached: Subtype = first_yes.id if first_yes is not None else "idiopathic"  # type: ignore[assignment]
    if first_yes is None:
        all_no = not unknown
        path.append(
            ReasoningStep(
                step=5,
                id="idiopathic",
                question="None of the above: no tissue damage and no metabolic disorder?",
                answer="yes" if all_no else "unknown",
                conclusion="Idiopathic calcinosis (no tissue damage, no metabolic disorder)."
                if all_no
                else "Idiopathic only if the missing facts above are negative.",
                evidence=_logic_evidence("idiopathic"),
            )
        )
    missing = tuple(m for s in unknown for m in s.missing)
    subtype: Subtype = "undetermined" if unknown else reached
    provisional: Subtype | None = reached if unknown else None
    seen = path[0].conclusion if path[0].answer != "yes" else ""
    result_ev = evidence(
        "calcinosis.subtype",
        [*_LOGIC, "PAC22"],
        level="D",
        note=f"{_LOGIC_NOTE} Path: "
        + " -> ".join(f"{s.id}={s.answer}" for s in path[1:])
        + (f". Missing: {', '.join(missing)}." if missing else ".")
        + (f" {seen}" if seen else ""),
    )
    return CalcinosisResult(
        subtype=subtype,
        provisional_subtype=provisional,
        missing=missing,
        labs=labs,
        ca_x_p=cxp,
        renal=renal,
        calcification_sides=sides,
        reasoning=tuple(path),
        confirmation=Statement(
            text=CONFIRMATION,
            evidence=evidence(
                "calcinosis.confirmation",
                ["VENALAB", "REI11a", "JIM15"],
                level="D",
                note="The subtype is a suggestion from history and laboratory "
                "data; histology and the clinical picture confirm it.",
            ),
        ),
        workup=tuple(_workup(labs, renal, subtype)),
        reference_ranges=rr.label,
        evidence=result_ev,
    )
