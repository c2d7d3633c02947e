"""The worksheet's form, described from the exam model's JSON schema (issues 15 and 16).

Nothing about the exam format is copied by hand into the page: every control (its kind,
choices, numeric range, length limit, help text) is read from `ExamDocument.model_json_schema()`
and the vein names from `anatomy.toml`; the template and `static/worksheet.js` only lay the
controls out. A field added to the model therefore appears in the worksheet; a value the
schema cannot describe as a control (e.g. `scores.vcss.<side>.at_least`, a map) is shown by
the page as "kept unchanged" and saved as it was.

Presets (protocol rows, site presets, vein picker order) are lab workflow data in
`data/worksheet.toml`, checked here against the model at start-up.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from venalab.anatomy import VEINS
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import Problem
from venalab.exam import ExamDocument, Site, VeinCode

Kind = Literal["enum", "bool", "int", "number", "text", "longtext", "date", "list", "quantity"]

#: Text fields longer than this are multi-line (a textarea keeps line breaks; an input would
#: drop them).
_LONG_TEXT = 200
#: An integer with at most this many values is offered as a choice (score items 0-3).
_SMALL_INT_RANGE = 6

# Presentation wording only: labels that read better than the field names, and the units the
# names carry. A field not listed is named from its key ("d_dimer_positive" -> "D dimer
# positive"; the unit from its suffix).
_LABELS: dict[str, str] = {
    "id": "Patient id",
    "sex": "Sex",
    "birth_date": "or birth date",
    "age_years": "Age",
    "bmi": "BMI",
    "date": "Exam date",
    "reflux_ms": "Reflux",
    "diameter_mm": "Diam.",
    "compressibility": "Compress.",
    "thrombus": "Thrombus",
    "occlusive": "Occlusive",
    "length_cm": "Thrombus length",
    "distance_to_junction_cm": "Thrombus to junction",
    "peak_reflux_velocity_cm_s": "Peak reflux velocity",
    "position_cm": "Distance from junction",
    "beneath_ulcer": "Beneath ulcer",
    "wells_dvt": "Wells DVT",
    "vcss": "Revised VCSS",
    "villalta": "Villalta",
    "vitamin_d_25oh": "25-OH vitamin D",
    "pth": "PTH",
    "egfr": "eGFR",
    "symptomatic": "Symptomatic",
}
_UNITS: tuple[tuple[str, str], ...] = (
    ("_cm_s", "cm/s"),
    ("_ms", "ms"),
    ("_mm", "mm"),
    ("_cm", "cm"),
    ("_years", "years"),
    ("_months", "months"),
)
_SECTION_TITLES: dict[str, str] = {
    "patient": "Patient",
    "exam": "Exam",
    "labs": "Labs (calcinosis workup)",
    "history": "History and bedside context",
    "imaging": "Imaging (calcinosis)",
    "scores": "Scores (Wells, rVCSS, Villalta)",
}
#: Segment fields shown as grid columns; the other segment fields sit on the row's detail line.
GRID_COLUMNS: tuple[str, ...] = (
    "vein",
    "site",
    "reflux_ms",
    "diameter_mm",
    "compressibility",
    "thrombus",
)
#: Fields laid out first (in this order) within their object; the rest follow in schema order.
_FIRST: dict[str, tuple[str, ...]] = {
    "patient": ("id", "sex", "age_years", "birth_date", "bmi"),
    "exam": ("date", "purpose", "position", "provocation", "operator", "indication"),
}
#: Plausibility questions asked when a typed value is implausibly small for its unit (a
#: duration typed in seconds, a diameter in cm): below `below`, the page asks whether the
#: value was meant in `unit` (x `factor`). Never applied to stored values, only to typing.
SMALL_UNIT_QUESTIONS: dict[str, dict[str, Any]] = {
    "ms": {"below": 10, "unit": "s", "factor": 1000},
    "mm": {"below": 1, "unit": "cm", "factor": 10},
}


@dataclass(frozen=True)
class FormField:
    """One control of the worksheet: a scalar (or a list of choices) at a JSON path."""

    path: str  # absolute ("patient.age_years"), "{side}" in leg fields, relative in segments
    key: str
    label: str
    kind: Kind
    options: tuple[tuple[str, str], ...] = ()
    nullable: bool = True  # an empty choice is offered
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    max_length: int | None = None
    required: bool = False
    unit: str | None = None
    help: str = ""
    units: tuple[str, ...] = ()  # kind "quantity": the unit choices

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def range_text(self) -> str:
        """Allowed values in words, for the help text: "0 to 20000 ms"."""
        parts = []
        if self.minimum is not None:
            parts.append(f"{'more than ' if self.exclusive_minimum else ''}{self.minimum:g}")
        if self.maximum is not None:
            parts.append(f"{'less than ' if self.exclusive_maximum else ''}{self.maximum:g}")
        if not parts:
            return ""
        return " to ".join(parts) + (f" {self.unit}" if self.unit else "")


@dataclass(frozen=True)
class FormGroup:
    """An object of the document: its scalar fields and its nested objects."""

    path: str
    key: str
    title: str
    fields: tuple[FormField, ...] = ()
    groups: tuple[FormGroup, ...] = ()
    help: str = ""


# ---------------------------------------------------------------------------------------
# Reading the schema


def _humanise(key: str) -> tuple[str, str | None]:
    if key in _LABELS:
        label = _LABELS[key]
        unit = next((u for suffix, u in _UNITS if key.endswith(suffix)), None)
        return label, unit
    for suffix, unit in _UNITS:
        if key.endswith(suffix):
            base = key.removesuffix(suffix).replace("_", " ")
            return base[:1].upper() + base[1:], unit
    text = key.replace("_", " ")
    return text[:1].upper() + text[1:], None


class _Schema:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema
        self.defs: dict[str, Any] = schema.get("$defs", {})

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return self.resolve(self.defs[ref.removeprefix("#/$defs/")])
        if "const" in node and "enum" not in node:  # a one-value Literal
            return {**node, "enum": [node["const"]]}
        return node

    def unwrap(self, node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """(the non-null alternative, whether null is allowed)."""
        node = self.resolve(node)
        alternatives = node.get("anyOf")
        if isinstance(alternatives, list):
            real = [a for a in alternatives if a.get("type") != "null"]
            if len(real) == 1:
                inner = dict(self.resolve(real[0]))
                for key in ("description", "title", "default"):
                    if key in node and key not in inner:
                        inner[key] = node[key]
                return inner, len(real) < len(alternatives)
        return node, False

    def is_object(self, node: dict[str, Any]) -> bool:
        inner, _ = self.unwrap(node)
        return inner.get("type") == "object" and "properties" in inner

    def scalar(self, path: str, key: str, node: dict[str, Any], required: bool) -> FormField | None:
        inner, nullable = self.unwrap(node)
        label, unit = _humanise(key)
        common: dict[str, Any] = {
            "path": path,
            "key": key,
            "label": label,
            "unit": unit,
            "required": required,
            "help": str(inner.get("description", "")),
        }
        # An empty choice means "absent": offered unless the field must be present.
        empty = nullable or (not required and "default" not in inner)
        kind = inner.get("type")
        if "enum" in inner and kind == "string":
            values = [str(v) for v in inner["enum"]]
            return FormField(
                kind="enum", options=tuple((v, v) for v in values), nullable=empty, **common
            )
        if kind == "boolean":
            return FormField(
                kind="bool", options=(("true", "yes"), ("false", "no")), nullable=empty, **common
            )
        if kind in ("integer", "number"):
            low, high = inner.get("minimum"), inner.get("maximum")
            xlow, xhigh = inner.get("exclusiveMinimum"), inner.get("exclusiveMaximum")
            if (
                kind == "integer"
                and low is not None
                and high is not None
                and high - low < _SMALL_INT_RANGE
            ):
                values = [str(v) for v in range(int(low), int(high) + 1)]
                return FormField(  # an int offered as a choice
                    kind="int",
                    options=tuple((v, v) for v in values),
                    nullable=empty,
                    minimum=low,
                    maximum=high,
                    **common,
                )
            return FormField(
                kind="int" if kind == "integer" else "number",
                minimum=xlow if xlow is not None else low,
                maximum=xhigh if xhigh is not None else high,
                exclusive_minimum=xlow is not None,
                exclusive_maximum=xhigh is not None,
                **common,
            )
        if kind == "string" and inner.get("format") == "date":
            return FormField(kind="date", **common)
        if kind == "string":
            length = inner.get("maxLength")
            return FormField(
                kind="longtext" if length is not None and length > _LONG_TEXT else "text",
                max_length=length,
                **common,
            )
        if kind == "array":
            items = self.resolve(inner.get("items", {}))
            if items.get("type") == "string" and "enum" in items:
                values = [str(v) for v in items["enum"]]
                return FormField(kind="list", options=tuple((v, v) for v in values), **common)
        return None  # not a control: the page keeps it as it is

    def quantity(self, path: str, key: str, node: dict[str, Any]) -> FormField | None:
        """An object of exactly a number `value` and an enum `unit` (a lab value)."""
        inner, _ = self.unwrap(node)
        props = inner.get("properties", {})
        if set(props) != {"value", "unit"}:
            return None
        unit = self.resolve(props["unit"])
        if "enum" not in unit or self.resolve(props["value"]).get("type") != "number":
            return None
        label, _ = _humanise(key)
        return FormField(
            path=path,
            key=key,
            label=label,
            kind="quantity",
            units=tuple(str(u) for u in unit["enum"]),
            help=str(inner.get("description", "")),
        )

    def group(
        self, path: str, key: str, node: dict[str, Any], *, skip: frozenset[str]
    ) -> FormGroup:
        inner, _ = self.unwrap(node)
        props: dict[str, Any] = inner.get("properties", {})
        required = set(inner.get("required", []))
        first = _FIRST.get(path, ())
        order = [k for k in first if k in props] + [k for k in props if k not in first]
        fields: list[FormField] = []
        groups: list[FormGroup] = []
        for name in order:
            if name in skip:
                continue
            sub = f"{path}.{name}" if path else name
            q = self.quantity(sub, name, props[name])
            if q is not None:
                fields.append(q)
            elif self.is_object(props[name]):
                groups.append(self.group(sub, name, props[name], skip=skip))
            else:
                f = self.scalar(sub, name, props[name], name in required)
                if f is not None:
                    fields.append(f)
        title = _SECTION_TITLES.get(path) or _humanise(key)[0]
        if key in ("left", "right"):
            title = key.capitalize()
        return FormGroup(
            path, key, title, tuple(fields), tuple(groups), str(inner.get("description", ""))
        )


# ---------------------------------------------------------------------------------------
# Presets (data/worksheet.toml)


class _Preset(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class ProtocolRow(_Preset):
    vein: VeinCode
    site: Site | None = None
    label: str | None = Field(default=None, max_length=200)


class Protocol(_Preset):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    shortcut: str
    rows: tuple[ProtocolRow, ...] = Field(min_length=1)


class SitePreset(_Preset):
    key: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    site: Site
    label: str = Field(max_length=200)
    veins: tuple[VeinCode, ...] = Field(min_length=1)


class WorksheetPresets(_Preset):
    schema_: Literal["venalab-worksheet/1"] = Field(alias="schema")
    vein_order: tuple[VeinCode, ...]
    site_presets: tuple[SitePreset, ...] = ()
    protocols: tuple[Protocol, ...]

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=True)


def _check_presets(p: WorksheetPresets) -> list[Problem]:
    problems: list[Problem] = []
    codes = list(get_args(VeinCode))
    missing = [c for c in codes if c not in p.vein_order]
    doubled = sorted({c for c in p.vein_order if p.vein_order.count(c) > 1})
    if missing:
        problems.append(Problem("vein_order", f"missing vein codes: {', '.join(missing)}"))
    if doubled:
        problems.append(Problem("vein_order", f"listed twice: {', '.join(doubled)}"))
    ids = [x.id for x in p.protocols]
    if len(set(ids)) != len(ids):
        problems.append(Problem("protocols", "protocol ids must be unique"))
    sites = set(get_args(Site))
    for i, s in enumerate(p.site_presets):
        if s.key in sites:
            problems.append(Problem(f"site_presets[{i}].key", "must differ from the sites"))
    return problems


@cache
def presets() -> WorksheetPresets:
    raw = read_toml(data_path("worksheet.toml"))
    return validate_document(raw, WorksheetPresets, "data file worksheet.toml", _check_presets)


# ---------------------------------------------------------------------------------------
# The description the page is built from


@dataclass(frozen=True)
class WorksheetForm:
    sections: tuple[FormGroup, ...]  # patient, exam, then the optional sections
    clinical: FormGroup  # legs.{side}.clinical
    segment_fields: tuple[FormField, ...]  # relative paths; "thrombus" is the presence/age
    thrombus_fields: tuple[FormField, ...]  # relative paths under the segment
    page: dict[str, Any] = field(default_factory=dict)  # what worksheet.js reads (JSON)

    def section(self, key: str) -> FormGroup:
        return next(g for g in self.sections if g.key == key)

    @property
    def optional_sections(self) -> tuple[FormGroup, ...]:
        """The sections after patient and exam (labs, history, imaging, scores...)."""
        return tuple(g for g in self.sections if g.key not in ("patient", "exam"))


def _vein_options() -> list[dict[str, str]]:
    return [
        {"value": code, "name": VEINS[code].name, "system": VEINS[code].system}
        for code in presets().vein_order
    ]


@cache
def worksheet_form() -> WorksheetForm:
    """The worksheet built from the schema of `ExamDocument` (cached: the model is fixed)."""
    schema = _Schema(ExamDocument.model_json_schema())
    props = schema.root["properties"]
    required = set(schema.root.get("required", []))
    sections = tuple(
        schema.group(name, name, props[name], skip=frozenset())
        for name in props
        if name not in ("format", "legs") and schema.is_object(props[name])
    )
    leg = schema.resolve(schema.defs["Leg"])
    clinical = schema.group(
        "legs.{side}.clinical", "clinical", leg["properties"]["clinical"], skip=frozenset()
    )
    seg_node = schema.resolve(schema.unwrap(leg["properties"]["segments"])[0]["items"])
    seg_required = set(seg_node.get("required", []))
    segment_fields: list[FormField] = []
    thrombus_fields: list[FormField] = []
    for name, node in seg_node["properties"].items():
        if name == "thrombus":
            t_inner, _ = schema.unwrap(node)
            t_required = set(t_inner.get("required", []))
            age = None
            for sub, sub_node in t_inner["properties"].items():
                f = schema.scalar(f"thrombus.{sub}", sub, sub_node, sub in t_required)
                if f is None:
                    continue
                if sub == "age":
                    age = f
                else:
                    thrombus_fields.append(f)
            # One column for presence and age: "present" is a thrombus whose age is not stated.
            ages = age.options if age else ()
            segment_fields.append(
                FormField(
                    path="thrombus",
                    key="thrombus",
                    label="Thrombus",
                    kind="enum",
                    options=(("present", "present, age not stated"), *ages),
                    help="A thrombus seen in this segment, with its age if known.",
                )
            )
            continue
        if schema.is_object(node):  # a nested record (treatment): one detail field per value
            inner, _ = schema.unwrap(node)
            sub_required = set(inner.get("required", []))
            for sub, sub_node in inner["properties"].items():
                f = schema.scalar(f"{name}.{sub}", sub, sub_node, sub in sub_required)
                if f is not None:
                    segment_fields.append(
                        replace(f, label=f"{name.capitalize()} {f.label.lower()}")
                    )
            continue
        f = schema.scalar(name, name, node, name in seg_required)
        if f is not None:
            segment_fields.append(f)
    del required
    p = presets()
    page = {
        "segment_fields": [f.as_json() for f in segment_fields],
        "thrombus_fields": [f.as_json() for f in thrombus_fields],
        "grid_columns": list(GRID_COLUMNS),
        "veins": _vein_options(),
        "perforators": sorted(c for c, v in VEINS.items() if v.is_perforator),
        "site_presets": [s.model_dump() for s in p.site_presets],
        "protocols": [x.model_dump(exclude_none=True) for x in p.protocols],
        "small_unit_questions": SMALL_UNIT_QUESTIONS,
    }
    return WorksheetForm(sections, clinical, tuple(segment_fields), tuple(thrombus_fields), page)


_SIDE_RE = re.compile(r"\{side\}")


def leg_path(path: str, side: str) -> str:
    """`legs.{side}.clinical.signs` for one side."""
    return _SIDE_RE.sub(side, path)
