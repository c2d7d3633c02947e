"""The CEAP vocabulary (`data/ceap.toml`, `venalab-ceap/1`) and its tables, validated at import.

Sources (shared/reference/clinical.md sections 2.1-2.7): CEAP20 for the classes, the 2020
changes (C4c, the r modifier of C2r/C6r, Esi/Ese, segment abbreviations) and the E/A/P
tables [V2]; CEAP04 for basic vs advanced CEAP, the date and the level of investigation.
Vocabulary, meanings, legacy (2004) equivalents and segment entries are data: `data/ceap.toml`
plus the vein registry (`anatomy.toml`: CEAP abbreviation and legacy number of every exam
vein code). This module holds no derivation and no notation: derivation.py and notation.py
build on it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from venalab.anatomy import VEINS
from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen
from venalab.exam import Etiology, Recurrence, Sign

GroupLetter = Literal["s", "p", "d"]
AGroup = Literal["s", "p", "d", "n"]
PType = Literal["r", "o"]
PCode = Literal["r", "o", "n"]
Symptoms = Literal["S", "A"]
Style = Literal["2020", "2004"]

GROUP_ORDER: tuple[GroupLetter, ...] = ("s", "p", "d")
P_ORDER: tuple[PType, ...] = ("r", "o")
_SYSTEM_GROUP: dict[str, GroupLetter] = {"superficial": "s", "perforator": "p", "deep": "d"}
LEGACY_RANGE = (1, 18)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class _Entry(_Strict):
    meaning: str
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel
    note: str | None = None


class ClassEntry(_Entry):
    signs: tuple[Sign, ...] = ()
    legacy: str
    aggregate: bool = False
    recurrence: Recurrence | None = None


class EtiologyEntry(_Entry):
    exam: Etiology | None = None
    legacy: str


class GroupEntry(_Entry):
    system: Literal["superficial", "perforator", "deep"] | None = None


class SegmentEntry(_Strict):
    name: str
    group: GroupLetter
    legacy: Annotated[int, Field(ge=1, le=18)]
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel


class FallbackEntry(_Strict):
    legacy: Annotated[int, Field(ge=1, le=18)]
    sources: Annotated[tuple[str, ...], Field(min_length=1)]
    level: EvidenceLevel
    note: str


class CeapData(_Strict):
    schema_: Literal["venalab-ceap/1"] = Field(alias="schema")
    sources: tuple[str, ...]
    clinical: dict[str, ClassEntry]
    modifiers: dict[Symptoms, _Entry]
    etiology: dict[str, EtiologyEntry]
    anatomy: dict[AGroup, GroupEntry]
    pathophysiology: dict[PCode, _Entry]
    segments: dict[str, SegmentEntry]
    segment_order: tuple[str, ...]
    legacy_to_2020: dict[str, tuple[str, ...]]
    legacy_fallback: dict[str, FallbackEntry]
    levels: dict[str, _Entry]


class CeapSegmentInfo(Frozen):
    """One CEAP 2020 segment abbreviation with its group and legacy (2004) number."""

    abbreviation: str
    name: str
    group: GroupLetter
    legacy: int | None
    legacy_export: int
    legacy_flagged: bool
    note: str | None = None


@dataclass(frozen=True)
class _Vocabulary:
    data: CeapData
    segments: dict[str, CeapSegmentInfo]
    legacy_to_2020: dict[int, tuple[str, ...]]
    legacy_group: dict[int, GroupLetter]


def _source_problems(data: CeapData) -> list[Problem]:
    problems = check_ids(data.sources, "sources")
    entries: list[tuple[str, _Entry]] = [
        *((f"clinical.{k}", v) for k, v in data.clinical.items()),
        *((f"etiology.{k}", v) for k, v in data.etiology.items()),
        *((f"modifiers.{k}", v) for k, v in data.modifiers.items()),
        *((f"anatomy.{k}", v) for k, v in data.anatomy.items()),
        *((f"pathophysiology.{k}", v) for k, v in data.pathophysiology.items()),
        *((f"levels.{k}", v) for k, v in data.levels.items()),
    ]
    for where, entry in entries:
        problems += check_ids(entry.sources, f"{where}.sources")
    for key, seg in data.segments.items():
        problems += check_ids(seg.sources, f"segments.{key}.sources")
    for key, fallback in data.legacy_fallback.items():
        problems += check_ids(fallback.sources, f"legacy_fallback.{key}.sources")
    return problems


def _class_problems(data: CeapData) -> list[Problem]:
    """Every exam sign gives exactly one class, every exam etiology a code."""
    problems: list[Problem] = []
    sign_owner: dict[str, str] = {}
    for cls, entry in data.clinical.items():
        if not re.fullmatch(r"C[0-6][a-z]?", cls):
            problems.append(Problem(f"clinical.{cls}", "a class is C0-C6 with an optional letter"))
        for sign in entry.signs:
            if sign in sign_owner:
                problems.append(
                    Problem(
                        f"clinical.{cls}.signs", f"sign {sign!r} already gives {sign_owner[sign]}"
                    )
                )
            sign_owner[sign] = cls
    for sign in get_args(Sign):
        if sign not in sign_owner:
            problems.append(Problem("clinical", f"exam sign {sign!r} gives no class"))
    recurrences = {e.recurrence: c for c, e in data.clinical.items() if e.recurrence}
    for value in get_args(Recurrence):
        if value not in recurrences:
            problems.append(Problem("clinical", f"exam recurrence {value!r} gives no class"))
    for c, e in data.clinical.items():
        if e.recurrence and (e.legacy not in data.clinical or e.legacy == c):
            problems.append(
                Problem(f"clinical.{c}.legacy", "a recurrence class needs its plain class")
            )
    exam_values = {e.exam for e in data.etiology.values() if e.exam is not None}
    for value in get_args(Etiology):
        if value not in exam_values:
            problems.append(Problem("etiology", f"exam etiology {value!r} gives no code"))
    return problems


def _segment_table(data: CeapData) -> tuple[dict[str, CeapSegmentInfo], list[Problem]]:
    """The CEAP 2020 segments: those of the vein registry, then the file's own."""
    problems: list[Problem] = []
    segments: dict[str, CeapSegmentInfo] = {}
    for v in VEINS.values():
        if v.code != v.ceap:
            continue
        fb = data.legacy_fallback.get(v.code)
        if v.legacy is None and fb is None:
            problems.append(
                Problem(f"legacy_fallback.{v.code}", "segment has no legacy number and no fallback")
            )
        segments[v.code] = CeapSegmentInfo(
            abbreviation=v.code,
            name=v.name,
            group=_SYSTEM_GROUP[v.system],
            legacy=v.legacy,
            legacy_export=v.legacy if v.legacy is not None else (fb.legacy if fb else 0),
            legacy_flagged=v.legacy is None,
            note=fb.note if fb and v.legacy is None else None,
        )
    for key, seg in data.segments.items():
        if key in segments:
            problems.append(Problem(f"segments.{key}", "already defined by anatomy.toml"))
        segments[key] = CeapSegmentInfo(
            abbreviation=key,
            name=seg.name,
            group=seg.group,
            legacy=seg.legacy,
            legacy_export=seg.legacy,
            legacy_flagged=False,
        )
    for v in VEINS.values():
        if v.ceap not in segments:
            problems.append(
                Problem("segments", f"vein {v.code} maps to unknown segment {v.ceap!r}")
            )
    if sorted(data.segment_order) != sorted(segments):
        problems.append(
            Problem(
                "segment_order",
                "must list every segment abbreviation once: " + ", ".join(sorted(segments)),
            )
        )
    return segments, problems


def _legacy_tables(
    data: CeapData, segments: dict[str, CeapSegmentInfo]
) -> tuple[dict[int, tuple[str, ...]], dict[int, GroupLetter], list[Problem]]:
    """CEAP04 number -> the 2020 abbreviations written for it, and its A group."""
    problems: list[Problem] = []
    by_number: dict[int, list[str]] = {}
    for info in segments.values():
        if info.legacy is not None:
            by_number.setdefault(info.legacy, []).append(info.abbreviation)
    legacy_to_2020: dict[int, tuple[str, ...]] = {}
    legacy_group: dict[int, GroupLetter] = {}
    for number in range(LEGACY_RANGE[0], LEGACY_RANGE[1] + 1):
        abbrs = by_number.get(number, [])
        if not abbrs:
            problems.append(Problem("segments", f"legacy number {number} has no segment"))
            continue
        legacy_group[number] = segments[abbrs[0]].group
        chosen = data.legacy_to_2020.get(str(number))
        if chosen is None and len(abbrs) > 1:
            problems.append(
                Problem(
                    "legacy_to_2020",
                    f"legacy {number} covers {', '.join(abbrs)}: "
                    "say which abbreviation(s) a 2020 string writes",
                )
            )
            continue
        for a in chosen or ():
            if a not in abbrs:
                problems.append(
                    Problem(f"legacy_to_2020.{number}", f"{a!r} is not legacy {number}")
                )
        legacy_to_2020[number] = tuple(chosen or abbrs)
    return legacy_to_2020, legacy_group, problems


def _check(data: CeapData) -> tuple[_Vocabulary, list[Problem]]:
    problems = _source_problems(data) + _class_problems(data)
    segments, segment_problems = _segment_table(data)
    legacy_to_2020, legacy_group, legacy_problems = _legacy_tables(data, segments)
    vocab = _Vocabulary(
        data=data, segments=segments, legacy_to_2020=legacy_to_2020, legacy_group=legacy_group
    )
    return vocab, problems + segment_problems + legacy_problems


@cache
def _load() -> _Vocabulary:
    raw = read_toml(data_path("ceap.toml"))
    data = validate_document(raw, CeapData, "data file ceap.toml")
    vocab, problems = _check(data)
    if problems:
        raise InvalidInput(problems, what="data file ceap.toml")
    return vocab


_VOCABULARY = _load()
CEAP = _VOCABULARY.data

CLASS_ORDER: tuple[str, ...] = tuple(CEAP.clinical)
"""Every clinical class a CEAP string may hold (C4 included), in CEAP20 table order."""
C_ORDER: tuple[str, ...] = tuple(c for c, e in CEAP.clinical.items() if not e.aggregate)
"""The classes derivable from exam signs, in CEAP20 table order."""
SIGN_CLASS: dict[str, str] = {s: c for c, e in CEAP.clinical.items() for s in e.signs}
"""Exam sign -> C class (CEAP20 table via clinical.md 2.2; C4c corona phlebectatica is 2020)."""
RECURRENCE: dict[str, tuple[str, str]] = {
    e.recurrence: (e.legacy, c) for c, e in CEAP.clinical.items() if e.recurrence
}
"""Exam `clinical.recurrent` value -> (plain class, recurrent class): varicose -> C2 -> C2r."""
SEGMENTS: dict[str, CeapSegmentInfo] = _VOCABULARY.segments
SEGMENT_ORDER: tuple[str, ...] = CEAP.segment_order
ETIOLOGY_CODES: tuple[str, ...] = tuple(CEAP.etiology)
LEVELS: tuple[str, ...] = tuple(CEAP.levels)
EXAM_ETIOLOGY: dict[str, str] = {e.exam: k for k, e in CEAP.etiology.items() if e.exam}


def has_ulcer_class(classes: tuple[str, ...]) -> bool:
    """True for a C5-C6 limb (healed or active ulcer, recurrent included)."""
    return any(c.startswith(("C5", "C6")) for c in classes)


def highest_class(classes: Iterable[str]) -> str:
    """The basic-CEAP class: the last of `classes` in CEAP20 table order."""
    return max(classes, key=CLASS_ORDER.index)


def _segment_key(abbr: str) -> tuple[int, int]:
    return GROUP_ORDER.index(SEGMENTS[abbr].group), SEGMENT_ORDER.index(abbr)


def order_segments(abbrs: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(abbrs), key=_segment_key))


def _legacy_key(number: int) -> tuple[int, int]:
    return GROUP_ORDER.index(_VOCABULARY.legacy_group[number]), number


def order_numbers(numbers: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(numbers), key=_legacy_key))


def legacy_numbers_of(abbrs: Iterable[str]) -> tuple[int, ...]:
    """CEAP04 segment numbers of 2020 abbreviations, A-group order s, p, d (AASV -> 2)."""
    return order_numbers(SEGMENTS[a].legacy_export for a in abbrs)


def abbreviations_of(numbers: Iterable[int]) -> tuple[str, ...]:
    """CEAP 2020 abbreviations written for CEAP04 segment numbers (1 -> Tel, Ret; 15 -> TIBV)."""
    return order_segments(a for n in numbers for a in _VOCABULARY.legacy_to_2020[n])


def legacy_classes(classes: Iterable[str]) -> tuple[str, ...]:
    """Pre-2020 classes: C2r -> C2, C6r -> C6, C4c -> C4 unless C4a/C4b is listed [D]."""
    given = list(classes)
    out = [CEAP.clinical[c].legacy for c in given]
    if any(c in ("C4a", "C4b") for c in given) and "C4c" in given:
        out = [o for c, o in zip(given, out, strict=True) if c != "C4c"]
    return tuple(sorted(set(out), key=CLASS_ORDER.index))
