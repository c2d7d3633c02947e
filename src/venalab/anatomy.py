"""Vein registry: every vein code of the exam format with its system, group and codes.

Hand-written facts (names, groups, CEAP 2020 abbreviations and legacy numbers; source
CEAP20 via clinical.md section 2.4) come from `data/anatomy.toml`; SNOMED CT codes come from
the generated `_vein_codes.py` (DICOM CID 12110 in pydicom). Loaded and checked at import.
"""

from __future__ import annotations

from functools import cache
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, ValidationError

from venalab._vein_codes import VEIN_SNOMED
from venalab.datafiles import data_path, read_toml
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.exam import VeinCode

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


def vein(code: str) -> Vein:
    return VEINS[code]
