"""The exam document, `venous-exam/1` (shared/spec/exam-format.md), as frozen pydantic models.

Strict types throughout: `false` is not a number and `"12"` is not a duration. Unknown
fields are errors that name their path. Fields this module adds to the contract are
optional and marked "venalab extension" in their descriptions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, ClassVar, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from venalab.bounded import (
    NotJson,
    decode_json,
    decode_yaml,
    locate_breach,
    read_limited,
    read_stream,
    utf8,
)
from venalab.crossfield import cross_field_problems, merge_problems
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.limits import LIMITS
from venalab.text_rules import check_identifier, multi_line, single_line
from venalab.units import LAB_UNITS
from venalab.vcss_scale import item_conflicts

EXAM_FORMAT = "venous-exam/1"

VeinCode = Literal[
    "GSVa",
    "GSVb",
    "SSV",
    "AASV",
    "NSV",
    "CFV",
    "DFV",
    "FV",
    "POPV",
    "PTV",
    "ATV",
    "PRV",
    "GAV",
    "SOV",
    "TPV",
    "CPV",
    "IVC",
    "CIV",
    "IIV",
    "EIV",
    "PELV",
    "SFJ",
    "SPJ",
    "PAGSV",
    "TPT",
]
Side = Literal["left", "right"]
SIDES: tuple[Side, Side] = ("left", "right")
Sign = Literal[
    "telangiectasia",
    "reticular",
    "varicose",
    "corona-phlebectatica",
    "edema",
    "pigmentation",
    "eczema",
    "lipodermatosclerosis",
    "atrophie-blanche",
    "ulcer-healed",
    "ulcer-active",
]
Recurrence = Literal["varicose", "ulcer"]
Etiology = Literal[
    "primary",
    "secondary-intravenous",
    "secondary-extravenous",
    "congenital",
    "none",
]
ThrombusAge = Literal["acute", "subacute", "chronic", "indeterminate"]
Compressibility = Literal["full", "partial", "none"]
Site = Literal["proximal", "mid", "distal"]
Calcification = Literal[
    "none",
    "punctate",
    "trabecular",
    "reticular",
    "sheet",
    "cloud",
    "rim",
    "phlebolith",
    "amorphous",
]
PeriostealReaction = Literal["none", "undulating", "other"]

Score03 = Annotated[int, Field(ge=0, le=3)]

PERFORATOR_VEINS: frozenset[str] = frozenset({"TPV", "CPV"})


class _Model(BaseModel):
    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, populate_by_name=False
    )


PatientId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="Local patient identifier. Stored in Unicode NFC; no control, invisible or "
        "bidirectional characters, no whitespace but single inner spaces (venalab.text_rules).",
    ),
    AfterValidator(check_identifier),
]
OneLine = AfterValidator(single_line)
FreeText = AfterValidator(multi_line)


class Patient(_Model):
    id: PatientId
    sex: Literal["male", "female", "other", "unknown"] = "unknown"
    birth_date: dt.date | None = None
    age_years: Annotated[int, Field(ge=0, le=130)] | None = None
    bmi: Annotated[float, Field(ge=8, le=100)] | None = None

    @model_validator(mode="after")
    def _one_age(self) -> Self:
        if (self.birth_date is None) == (self.age_years is None):
            raise ValueError("give exactly one of `birth_date` (ISO date) or `age_years`")
        return self


class ExamInfo(_Model):
    date: dt.date
    purpose: Literal["insufficiency", "thrombosis", "follow-up", "other"] | None = None
    position: Literal["standing", "sitting", "reverse-trendelenburg", "supine"] | None = None
    provocation: Annotated[
        tuple[Literal["distal-compression", "valsalva", "cuff"], ...], Field(max_length=8)
    ] = ()
    indication: Annotated[str, Field(max_length=2000), FreeText] | None = None
    operator: Annotated[str, Field(max_length=200), OneLine] | None = None


# Which signs a `recurrent` entry may qualify (read by the model and the cohort validator). A
# healed ulcer can itself be a recurrence: CEAP 2020 has no C5r, so it stays C5.
RECURRENCE_SIGNS: dict[str, tuple[Sign, ...]] = {
    "varicose": ("varicose",),
    "ulcer": ("ulcer-active", "ulcer-healed"),
}


def recurrence_problem(recurrence: str) -> str:
    signs = " or ".join(f"'{s}'" for s in RECURRENCE_SIGNS[recurrence])
    return f"`recurrent` lists '{recurrence}' but `signs` has no {signs}"


class Clinical(_Model):
    signs: Annotated[tuple[Sign, ...], Field(max_length=32)] = ()
    symptomatic: bool | None = None
    recurrent: Annotated[tuple[Recurrence, ...], Field(max_length=4)] = ()
    etiology: Etiology | None = None

    @model_validator(mode="after")
    def _recurrence_needs_sign(self) -> Self:
        for recurrence, signs in RECURRENCE_SIGNS.items():
            if recurrence in self.recurrent and not set(signs) & set(self.signs):
                raise ValueError(recurrence_problem(recurrence))
        return self


class Thrombus(_Model):
    age: ThrombusAge | None = None
    occlusive: bool | None = None
    length_cm: Annotated[float, Field(gt=0, le=120)] | None = None
    distance_to_junction_cm: Annotated[float, Field(ge=0, le=120)] | None = Field(
        default=None,
        description="venalab extension: distance from the thrombus head to the saphenous "
        "junction (SFJ/SPJ), cm; used by the superficial vein thrombosis pathway.",
    )
    lumen_percent: Annotated[float, Field(ge=0, le=100)] | None = Field(
        default=None,
        description="venalab extension: share of the vein's lumen the thrombus occupies, %; "
        "grades thrombus extending into a deep vein after ablation (EHIT classes II/III).",
    )

    @model_validator(mode="after")
    def _occlusion_fits_lumen(self) -> Self:
        if self.occlusive is True and self.lumen_percent is not None and self.lumen_percent < 100:
            raise ValueError("`occlusive` true but `lumen_percent` is below 100")
        if self.occlusive is False and self.lumen_percent == 100:
            raise ValueError("`occlusive` false but `lumen_percent` is 100")
        return self


TreatmentMethod = Literal["thermal-ablation", "non-thermal-ablation", "stripping", "sclerotherapy"]
TreatmentStatus = Literal["occluded", "partially-recanalised", "fully-recanalised", "absent"]
ABLATION_METHODS: frozenset[str] = frozenset({"thermal-ablation", "non-thermal-ablation"})


class Treatment(_Model):
    """venalab extension: a treated segment as seen at this exam (issue 18)."""

    method: TreatmentMethod = Field(
        description="thermal-ablation (laser, radiofrequency), non-thermal-ablation "
        "(cyanoacrylate, mechanochemical), stripping, sclerotherapy (liquid or foam)."
    )
    date: dt.date | None = Field(default=None, description="Date of the treatment.")
    status: TreatmentStatus | None = Field(
        default=None,
        description="What this exam shows: occluded, partially-recanalised, "
        "fully-recanalised; 'absent' only after stripping (vein removed).",
    )

    @model_validator(mode="after")
    def _status_fits_method(self) -> Self:
        if self.status == "absent" and self.method != "stripping":
            raise ValueError("`status` 'absent' (vein removed) is only for `method` 'stripping'")
        return self


class Segment(_Model):
    vein: VeinCode
    site: Site | None = None
    reflux_ms: Annotated[float, Field(ge=0, le=20000)] | None = None
    diameter_mm: Annotated[float, Field(gt=0, le=60)] | None = None
    compressibility: Compressibility | None = None
    obstruction: bool | None = None
    thrombus: Thrombus | None = None
    beneath_ulcer: bool | None = None
    label: Annotated[str, Field(max_length=200), OneLine] | None = None
    peak_reflux_velocity_cm_s: Annotated[float, Field(ge=0, le=500)] | None = None
    position_cm: Annotated[float, Field(ge=0, le=120)] | None = Field(
        default=None,
        description="venalab extension: distance of this measuring point from the vein's "
        "junction, cm; lets accessory saphenous reflux be called axial (>= 5 cm, SVS23 1.3.2).",
    )
    treatment: Treatment | None = Field(
        default=None,
        description="venalab extension: this segment was treated (method, date, status now).",
    )

    @model_validator(mode="after")
    def _perforator_fields(self) -> Self:
        if self.beneath_ulcer is not None and self.vein not in PERFORATOR_VEINS:
            raise ValueError("`beneath_ulcer` is only for perforator veins (TPV, CPV)")
        return self


class Leg(_Model):
    clinical: Clinical = Clinical()
    segments: Annotated[
        tuple[Segment, ...],
        Field(
            max_length=LIMITS.segments_per_leg,
            description=f"Measurement rows; at most {LIMITS.segments_per_leg} per leg.",
        ),
    ] = ()


class Legs(_Model):
    left: Leg | None = None
    right: Leg | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Self:
        if self.left is None and self.right is None:
            raise ValueError("at least one of 'left' or 'right' is required")
        return self

    def items(self) -> list[tuple[Side, Leg]]:
        pairs: tuple[tuple[Side, Leg | None], ...] = (("left", self.left), ("right", self.right))
        return [(s, leg) for s, leg in pairs if leg is not None]


class _LabValue(_Model):
    analyte: ClassVar[str]
    value: float

    @model_validator(mode="after")
    def _plausible(self) -> Self:
        spec = LAB_UNITS[self.analyte]
        unit: str = getattr(self, "unit")  # noqa: B009 - declared by each subclass
        conventional = spec.to_conventional(self.value, unit)
        low, high = spec.plausible
        if not low <= conventional <= high:
            raise ValueError(
                f"{self.value} {unit} is not a plausible {spec.label.lower()} "
                f"(allowed {low:g}-{high:g} {spec.conventional}); check the value and its unit"
            )
        return self


class Calcium(_LabValue):
    analyte: ClassVar[str] = "calcium"
    unit: Literal["mg/dL", "mmol/L"]


class Phosphate(_LabValue):
    analyte: ClassVar[str] = "phosphate"
    unit: Literal["mg/dL", "mmol/L"]


class Pth(_LabValue):
    analyte: ClassVar[str] = "pth"
    unit: Literal["pg/mL", "pmol/L"]


class Creatinine(_LabValue):
    analyte: ClassVar[str] = "creatinine"
    unit: Literal["mg/dL", "umol/L"]


class VitaminD(_LabValue):
    analyte: ClassVar[str] = "vitamin_d_25oh"
    unit: Literal["ng/mL", "nmol/L"]


class Egfr(_LabValue):
    analyte: ClassVar[str] = "egfr"
    unit: Literal["mL/min/1.73m2"]


class Labs(_Model):
    calcium: Calcium | None = None
    phosphate: Phosphate | None = None
    pth: Pth | None = None
    creatinine: Creatinine | None = None
    vitamin_d_25oh: VitaminD | None = None
    egfr: Egfr | None = None
    dialysis: bool | None = None


class History(_Model):
    tissue_injury_at_site: bool | None = None
    calcium_or_phosphate_infusion_at_site: bool | None = None
    connective_tissue_disease: bool | None = None
    malignancy: bool | None = None
    retiform_purpura_or_necrosis: bool | None = None
    # Bedside context for the thrombosis pathways (rules/pathways/). All optional; absent
    # means unknown, and the pathway then names the missing fact instead of guessing.
    d_dimer_positive: bool | None = Field(
        default=None,
        description="venalab extension: D-dimer above the lab's cut-off "
        "(risk factor for extension of distal DVT, AT9 list [V2]).",
    )
    inpatient: bool | None = Field(
        default=None,
        description="venalab extension: patient is in hospital (AT9 risk factor "
        "for extension of distal DVT [V2]).",
    )
    reversible_provoking_factor: bool | None = Field(
        default=None,
        description="venalab extension: the thrombosis has a transient, "
        "reversible provoking factor (surgery, trauma, immobilisation, cast...); false = "
        "'no reversible provoking factor', an AT9 risk factor for extension [V2].",
    )
    active_cancer: bool | None = Field(
        default=None,
        description="venalab extension: cancer under treatment, treated within "
        "6 months, or palliative (as the Wells item). Distinct from `malignancy` (any history, "
        "used by the calcinosis rules); `malignancy: false` implies no active cancer.",
    )
    prior_vte: bool | None = Field(
        default=None, description="venalab extension: history of DVT or pulmonary embolism."
    )
    prior_svt: bool | None = Field(
        default=None, description="venalab extension: history of superficial vein thrombosis."
    )
    known_thrombophilia: bool | None = Field(
        default=None, description="venalab extension: known inherited or acquired thrombophilia."
    )
    recent_surgery: bool | None = Field(
        default=None,
        description="venalab extension: surgery in the weeks before the thrombosis "
        "(favours treatment of superficial vein thrombosis, STE21).",
    )
    severe_symptoms: bool | None = Field(
        default=None,
        description="venalab extension: clinician's judgement that symptoms are "
        "severe; no source defines 'severe symptoms', so it is never derived.",
    )
    high_bleeding_risk: bool | None = Field(
        default=None,
        description="venalab extension: clinician's judgement of high bleeding "
        "risk (favours serial imaging for distal DVT, STE21 remarks).",
    )
    thrombus_near_proximal_veins: bool | None = Field(
        default=None,
        description="venalab extension: clinician's judgement that a distal DVT "
        "lies close to the proximal (popliteal) veins; AT9 risk factor for extension [V2]. "
        "Patient-level: with distal DVT in both legs it is not attributed to either.",
    )
    serial_imaging_result: (
        Literal["no-extension", "distal-extension", "proximal-extension"] | None
    ) = Field(
        default=None,
        description="venalab extension: this exam is a surveillance rescan of a "
        "distal DVT managed without anticoagulation; what it showed against the first scan "
        "(STE21 statement 2). Patient-level: applies to the leg with distal DVT.",
    )


class LegImaging(_Model):
    calcification: Calcification | None = None
    periosteal_reaction: PeriostealReaction | None = None


class Imaging(_Model):
    left: LegImaging | None = None
    right: LegImaging | None = None


class WellsItems(_Model):
    """Wells DVT items (true/false); an absent item is unknown. Item wording, points and the
    1997/2003 item sets: venalab.rules.wells (data/scores/wells.toml)."""

    active_cancer: bool | None = None
    paralysis_or_cast: bool | None = None
    bedridden_or_major_surgery: bool | None = None
    localized_tenderness: bool | None = None
    entire_leg_swollen: bool | None = None
    calf_swelling_3cm: bool | None = None
    pitting_edema: bool | None = None
    collateral_superficial_veins: bool | None = None
    previous_dvt: bool | None = None
    alternative_diagnosis_as_likely: bool | None = None


class VcssItems(_Model):
    """Revised VCSS items of one leg (0-3 each); an absent item is unknown, not 0.

    venalab extensions: raw ulcer measurements converted with the boundary convention of
    clinical.md section 3.1 (data/scores/vcss.toml), `corona_phlebectatica_only` (scores
    varicose_veins 1) and `at_least` (item minimums when only "at least" is known). A raw
    value or minimum that disagrees with an explicit item score is rejected.
    """

    pain: Score03 | None = None
    varicose_veins: Score03 | None = None
    edema: Score03 | None = None
    pigmentation: Score03 | None = None
    inflammation: Score03 | None = None
    induration: Score03 | None = None
    active_ulcers: Score03 | None = None
    ulcer_duration: Score03 | None = None
    ulcer_size: Score03 | None = None
    compression: Score03 | None = None
    ulcer_duration_months: Annotated[float, Field(ge=0, le=1200)] | None = Field(
        default=None,
        description="venalab extension: duration of the longest active ulcer, months; "
        "converted to `ulcer_duration` (< 3 -> 1, >= 3 and < 12 -> 2, >= 12 -> 3).",
    )
    ulcer_size_cm: Annotated[float, Field(gt=0, le=100)] | None = Field(
        default=None,
        description="venalab extension: diameter of the largest active ulcer, cm; converted "
        "to `ulcer_size` (< 2 -> 1, 2.0-6.0 -> 2, > 6 -> 3).",
    )
    corona_phlebectatica_only: bool | None = Field(
        default=None,
        description="venalab extension: true = corona phlebectatica (ankle flare) without "
        "other varicosities, which scores `varicose_veins` 1; false says nothing.",
    )
    at_least: (
        dict[
            Literal[
                "pain",
                "varicose_veins",
                "edema",
                "pigmentation",
                "inflammation",
                "induration",
                "active_ulcers",
                "ulcer_duration",
                "ulcer_size",
                "compression",
            ],
            Annotated[int, Field(ge=1, le=3)],
        ]
        | None
    ) = Field(
        default=None,
        description="venalab extension: minimum score of items known only as 'at least', "
        "e.g. {\"active_ulcers\": 2} for 'multiple ulcers'; the item counts as missing, with "
        "this lower bound.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        conflicts = item_conflicts(self)
        if conflicts:
            raise ValueError("; ".join(conflicts))
        return self


class VillaltaItems(_Model):
    """Villalta items of one leg (0-3 each) and the venous-ulcer flag, which adds no points;
    an absent item is unknown, not 0 (venalab.rules.villalta)."""

    pain: Score03 | None = None
    cramps: Score03 | None = None
    heaviness: Score03 | None = None
    paresthesia: Score03 | None = None
    pruritus: Score03 | None = None
    pretibial_edema: Score03 | None = None
    skin_induration: Score03 | None = None
    hyperpigmentation: Score03 | None = None
    redness: Score03 | None = None
    venous_ectasia: Score03 | None = None
    calf_compression_pain: Score03 | None = None
    ulcer: bool | None = None


class VcssSides(_Model):
    left: VcssItems | None = None
    right: VcssItems | None = None


class VillaltaSides(_Model):
    left: VillaltaItems | None = None
    right: VillaltaItems | None = None


class Scores(_Model):
    wells_dvt: WellsItems | None = None
    vcss: VcssSides | None = None
    villalta: VillaltaSides | None = None


CONCLUSION_MAX_CHARS = 8000


class Conclusion(_Model):
    """venalab extension: the interpreting physician's conclusion, stored in the exam
    document so that the version's hash, its signature, the audit chain and the history diff
    cover it. `text` replaces the engine's proposed impression in the report, the FHIR
    DiagnosticReport.conclusion, the DICOM SR and the HL7 v2 result
    (interop.findings.report_conclusion); `proposal` is the engine's impression it was
    written from, kept to show what the physician changed and to flag a conclusion the
    measurements have since moved away from."""

    text: Annotated[
        str,
        Field(
            min_length=1,
            max_length=CONCLUSION_MAX_CHARS,
            description="venalab extension: the physician's conclusion (impression), plain "
            "text; line breaks allowed.",
        ),
        FreeText,
    ]
    comment: (
        Annotated[
            str,
            Field(
                max_length=CONCLUSION_MAX_CHARS,
                description="venalab extension: free text the physician adds (clinical "
                "correlation, comparison, advice).",
            ),
            FreeText,
        ]
        | None
    ) = None
    proposal: (
        Annotated[
            str,
            Field(
                max_length=4 * CONCLUSION_MAX_CHARS,
                description="venalab extension: the engine's proposed impression the text "
                "was written from (impression.proposal_text).",
            ),
            FreeText,
        ]
        | None
    ) = None


class ExamDocument(_Model):
    """One patient's lower-limb venous examination (format `venous-exam/1`)."""

    format: Literal["venous-exam/1"]
    patient: Patient
    exam: ExamInfo
    legs: Legs
    labs: Labs | None = None
    history: History | None = None
    imaging: Imaging | None = None
    scores: Scores | None = None
    conclusion: Conclusion | None = Field(
        default=None,
        description="venalab extension: the interpreting physician's conclusion (Conclusion).",
    )

    @model_validator(mode="after")
    def _consistency(self) -> Self:
        if self.patient.birth_date is not None and self.patient.birth_date > self.exam.date:
            raise ValueError("`patient.birth_date` is after `exam.date`")
        return self

    @model_validator(mode="after")
    def _treatment_dates(self) -> Self:
        late = [
            f"legs.{side}.segments[{i}].treatment.date"
            for side, leg in self.legs.items()
            for i, seg in enumerate(leg.segments)
            if seg.treatment is not None
            and seg.treatment.date is not None
            and seg.treatment.date > self.exam.date
        ]
        if late:
            raise ValueError(f"`{'`, `'.join(late)}` after `exam.date` (treatment in the future)")
        return self

    def leg(self, side: Side) -> Leg | None:
        return self.legs.left if side == "left" else self.legs.right

    def to_json(self, indent: int | None = None) -> str:
        """Canonical JSON: absent fields stay absent, so a file round-trips unchanged."""
        return self.model_dump_json(exclude_none=True, exclude_defaults=False, indent=indent)


# ---------------------------------------------------------------------------------------
# Parsing: every input (JSON text, YAML text, a dict from a web form) goes through JSON, so
# one strict validator with one set of messages serves them all. Text is read within the
# input limits (venalab.limits, venalab.bounded): size, nesting, number length, YAML tags
# and aliases.


_WHAT = "exam document"


def _json_default(obj: object) -> str:
    if isinstance(obj, dt.date):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def parse_exam_obj(obj: object) -> ExamDocument:
    """Validate an already-decoded document (dict). Raises InvalidInput listing every problem."""
    if not isinstance(obj, dict):
        raise InvalidInput([Problem("", f"expected a JSON object, got {type(obj).__name__}")])
    fmt = obj.get("format")
    if fmt is not None and fmt != EXAM_FORMAT:
        raise InvalidInput(
            [Problem("format", f"unsupported format {fmt!r}; this version reads {EXAM_FORMAT!r}")]
        )
    try:
        text = json.dumps(obj, default=_json_default)
    except (RecursionError, ValueError, TypeError) as err:  # Python callers only: the
        raise InvalidInput(
            [Problem("", f"not a JSON document: {err}")]
        ) from None  # decoders bound theirs
    return parse_exam_json(text)


def parse_exam_json(text: str | bytes) -> ExamDocument:
    """Validate JSON text (the fast path: pydantic's own parser). A document that parser
    refuses as such (too deep, a number out of range) is decoded again within the limits so
    that the problem names its path. InvalidInput lists every problem, cross-field checks
    (such as a birth date after the exam date) included whatever else is wrong."""
    if len(text) > LIMITS.body_bytes:
        decode_json(text, _WHAT)  # raises TooLarge
    try:
        return ExamDocument.model_validate_json(text)
    except ValidationError as err:
        if any(e["type"] == "json_invalid" for e in err.errors()):
            with contextlib.suppress(NotJson):  # (a syntax error: pydantic says where)
                decode_json(text, _WHAT)  # names the path of a limit it breaks
            raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            breach = locate_breach(raw)  # (what duplicate keys hid from json.loads)
            if breach is not None:
                raise InvalidInput([breach]) from None
            raise InvalidInput([Problem("", f"not valid JSON: {err.errors()[0]['msg']}")]) from None
        problems = problems_from_validation(err)
    more = cross_field_problems(ExamDocument, json.loads(text))
    raise InvalidInput(merge_problems(problems, more))


def parse_exam_text(text: str, *, name: str = "<input>") -> ExamDocument:
    """Parse JSON or YAML text (YAML is tried when the text is not a JSON object). YAML is
    read with a bounded safe loader: plain values, lists and mappings only, a few aliases."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return parse_exam_json(text)
    return parse_exam_obj(decode_yaml(text, _WHAT, name=name))


def load_exam_stdin() -> ExamDocument:
    """Read an exam document (JSON or YAML) from standard input, within LIMITS.body_bytes."""
    data = read_stream(sys.stdin.buffer, LIMITS.body_bytes, _WHAT)
    return parse_exam_text(utf8(data, _WHAT, name="<stdin>"), name="<stdin>")


def load_exam(path: Path) -> ExamDocument:
    """Read an exam document from a .json, .yaml or .yml file (at most LIMITS.body_bytes)."""
    text = utf8(read_limited(path, LIMITS.body_bytes, _WHAT), _WHAT, name=path.name)
    return parse_exam_text(text, name=path.name)
