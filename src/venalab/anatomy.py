"""Vein registry: every vein code of the exam format with its system, group and codes.

Hand-written facts (names, groups, CEAP 2020 abbreviations and legacy numbers; source
CEAP20 via clinical.md section 2.4), the vein group names and the reflux-pattern trunk
layout (TRUNKS) come from `data/anatomy.toml`; SNOMED CT codes come from
the generated `_vein_codes.py` (DICOM CID 12110 in pydicom). Loaded and checked at import.
"""

from __future__ import annotations

from functools import cache
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from venalab._vein_codes import VEIN_SNOMED
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.exam import Site, VeinCode

System = Literal["superficial", "deep", "perforator"]
Group = Literal[
    "saphenous-trunk",
    "junction",
    "accessory-saphenous",
    "non-saphenous",
    "iliocaval",
    "pelvic",
    "femoropopliteal",
    "deep-femoral",
    "calf-axial",
    "calf-muscular",
    "perforator",
]
Trunk = Literal["GSV", "SSV", "AASV", "PAGSV", "deep"]
DvtLevel = Literal["proximal", "distal-axial", "distal-muscular"]


class SnomedCode(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str
    meaning: str
    legacy_srt: str | None = None
    source: str = "DICOM CID 12110 (pydicom)"


class Vein(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    system: System
    group: Group
    trunk: Trunk | None = None
    ceap: str
    legacy: int | None = None
    dvt_level: DvtLevel | None = None
    note: str | None = None
    snomed: SnomedCode | None = None

    @property
    def is_perforator(self) -> bool:
        return self.system == "perforator"


@cache
def _load() -> dict[str, Vein]:
    raw = read_toml(data_path("anatomy.toml"))
    body = raw.get("veins", {})
    expected = set(get_args(VeinCode))
    problems = [
        Problem(f"veins.{c}", "missing from anatomy.toml") for c in sorted(expected - set(body))
    ]
    problems += [
        Problem(f"veins.{c}", "not a vein code of the format") for c in sorted(set(body) - expected)
    ]
    registry: dict[str, Vein] = {}
    for code, facts in body.items():
        snomed = VEIN_SNOMED.get(code)
        try:
            registry[code] = Vein.model_validate(
                {
                    "code": code,
                    **facts,
                    "snomed": None
                    if snomed is None
                    else {"code": snomed[0], "meaning": snomed[1], "legacy_srt": snomed[2]},
                }
            )
        except ValidationError as err:
            problems += [
                Problem(f"veins.{code}.{p.path}", p.message) for p in problems_from_validation(err)
            ]
    if problems:
        raise InvalidInput(problems, what="anatomy.toml")
    return registry


VEINS: dict[str, Vein] = _load()


@cache
def _group_labels() -> dict[str, str]:
    raw = read_toml(data_path("anatomy.toml")).get("groups", {})
    problems = [
        Problem(f"groups.{g}", "missing: every vein group needs a label")
        for g in get_args(Group)
        if not isinstance(raw.get(g), str) or not raw[g].strip()
    ]
    problems += [
        Problem(f"groups.{g}", "not a vein group") for g in raw if g not in get_args(Group)
    ]
    if problems:
        raise InvalidInput(problems, what="anatomy.toml")
    return {g: raw[g] for g in get_args(Group)}


GROUP_LABEL: dict[str, str] = _group_labels()
"""Vein group -> how a text names its veins ("axial calf veins")."""


class Span(BaseModel):
    """What axial reflux must cover on a linear trunk (points as in `Trunk.points`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    start: tuple[int, ...]
    through: tuple[int, ...]
    end: int
    label: str


class TrunkLayout(BaseModel):
    """One reflux-pattern trunk (anatomy.toml [trunks]): linear axis or accessory."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: Trunk
    kind: Literal["linear", "accessory"]
    axis: tuple[VeinCode, ...] = ()
    junction: VeinCode | None = None
    span: Span | None = None

    @property
    def n_points(self) -> int:
        """Points on the axis: 0 for the first vein, three for each further vein."""
        return 1 + 3 * (len(self.axis) - 1) if self.axis else 0

    def points(self, vein: str, site: str | None) -> frozenset[int]:
        """Positions an entry covers on the axis; empty when the vein is not on it.

        The first axis vein is point 0 whatever its site; a further vein covers three points
        in `exam.Site` order, or the one its `site` names.
        """
        if vein not in self.axis:
            return frozenset()
        idx = self.axis.index(vein)
        if idx == 0:
            return frozenset({0})
        base = 1 + 3 * (idx - 1)
        if site is None:
            return frozenset({base, base + 1, base + 2})
        return frozenset({base + SITE_ORDER.index(site)})


SITE_ORDER: tuple[str, ...] = get_args(Site)
"""Measuring sites along a segment, proximal to distal (the three points of a segment)."""


def _trunk_problems(trunks: dict[str, TrunkLayout]) -> list[Problem]:
    problems = [
        Problem(f"trunks.{t}", "missing: every trunk needs a layout")
        for t in get_args(Trunk)
        if t not in trunks
    ]
    for name, t in trunks.items():
        where = f"trunks.{name}"
        if t.kind == "linear" and (len(t.axis) < 2 or t.span is None):
            problems.append(Problem(where, "a linear trunk needs an axis of 2+ veins and a span"))
        if t.kind == "accessory" and (t.axis or t.span or t.junction):
            problems.append(Problem(where, "an accessory trunk has no axis, span or junction"))
        if t.junction is not None and t.axis[:1] != (t.junction,):
            problems.append(Problem(f"{where}.junction", "must be the first vein of the axis"))
        problems += [
            Problem(f"{where}.axis", f"{v} counts in trunk {VEINS[v].trunk!r}, not {name!r}")
            for v in t.axis
            if VEINS[v].trunk != name
        ]
        if t.span is not None:
            bad = [p for p in (*t.span.start, *t.span.through, t.span.end) if p >= t.n_points]
            if bad:
                problems.append(
                    Problem(f"{where}.span", f"points {bad} beyond the axis (0-{t.n_points - 1})")
                )
    return problems


@cache
def _trunks() -> dict[str, TrunkLayout]:
    raw = read_toml(data_path("anatomy.toml")).get("trunks", {})
    out: dict[str, TrunkLayout] = {}
    problems: list[Problem] = []
    for name, facts in raw.items():
        try:
            out[name] = TrunkLayout.model_validate({"name": name, **facts})
        except ValidationError as err:
            problems += [
                Problem(f"trunks.{name}.{p.path}", p.message) for p in problems_from_validation(err)
            ]
    problems += _trunk_problems(out)
    if problems:
        raise InvalidInput(problems, what="anatomy.toml")
    return {t: out[t] for t in get_args(Trunk)}


TRUNKS: dict[str, TrunkLayout] = _trunks()
"""Reflux-pattern trunks in report order (anatomy.toml [trunks]); both engines read them."""


def vein(code: str) -> Vein:
    return VEINS[code]
