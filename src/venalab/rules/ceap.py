"""CEAP classification per leg (CEAP 2020 update, Lurie et al.; CEAP20) and a CEAP string parser.

Sources (shared/reference/clinical.md sections 2.1-2.7): CEAP20 for the classes, the 2020
changes (C4c, the r modifier of C2r/C6r, Esi/Ese, segment abbreviations) and the E/A/P
tables [V2]; CEAP04 for basic vs advanced CEAP, the date and the level of investigation;
SVS11 for the worked example (TV01) and the rendering of the parts. Vocabulary, meanings,
legacy (2004) equivalents and segment entries are data: `data/ceap.toml` plus the vein
registry (`anatomy.toml`: CEAP abbreviation and legacy number of every exam vein code).

Derivation (`derive_ceap`), one leg:
- C: every class given by `clinical.signs` (`clinical_classes`); basic = the highest class in
  the CEAP20 table order.
- S/A: `clinical.symptomatic`; not recorded -> not determinable, no modifier written.
- E: `clinical.etiology` only (primary Ep, secondary-intravenous Esi, secondary-extravenous
  Ese, congenital Ec, none En); not stated -> undetermined and the E part is omitted. Never
  guessed from other facts (TV03: obesity makes Ese *possible*, not stated).
- A/P [D]: a segment is pathological when its reflux verdict is abnormal (Pr), or it has
  obstruction or a thrombus (Po; CEAP20: obstruction includes thrombosis). Its CEAP 2020
  abbreviation and group come from the vein registry (SFJ -> GSVa, SPJ -> SSV, TPT -> TIBV,
  PAGSV -> NSV). Segments examined but none pathological -> An Pn; no segment finding at all
  -> A and P not determinable.

Rendering conventions (venalab [D], sources for the shape: SVS11 and CEAP04 examples):
- Parts in C E A P order, separated by one space: basic `C5,S Ep As,p Pr`; advanced
  `C2,4a,5,S Ep As,p Pr(GSVa,GSVb,CPV) (2004-05-17, LII)`. The C part writes its first class
  with the letter and the others without (`C2,4a,5`), then `,S` / `,A`. An undetermined part
  (S/A, E, A/P) is left out rather than written as a placeholder.
- Advanced P: each P type carries its segments. 2020 style: abbreviations in parentheses,
  no spaces (`Pr(GSVa,GSVb,CPV)`); legacy style: CEAP04 numbers (`Pr2,3,18`). With both types
  `Pr(GSVa),o(FV)` / `Pr2,o13`; dropping the segment lists gives the basic P (`Pr,o`).
  Segments are ordered by A group s, p, d (CEAP04: `Pr2,3,18,13,14`), then CEAP20 table order.
- Date and level of investigation `(YYYY-MM-DD, LII)` follow the advanced string when given.
- `advanced` uses 2020 classes; `legacy_numbers=True` writes its segments as numbers.
  `legacy_basic` / `legacy_advanced` are always filled with the full pre-2020 rendering:
  C2r -> C2, C6r -> C6, C4c -> C4 (dropped when C4a/C4b is listed), Esi/Ese -> Es, numeric
  segments (AASV -> 2, flagged). The shared spec's example `C6r,Ep,As,Pr` (commas between
  parts) is accepted by `parse_ceap`; venalab writes spaces, as the published examples do.

Parser (`parse_ceap`): reads 2004 and 2020 strings with either separators, the subscript
symptom form (`C0s`, ESVS22), an optional `(date, level)` suffix and a trailing VCSS total
(`C4 – V9`, `C4 - VCSS 16`; TV23, notation of a thoracickey chapter [V2]).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from itertools import pairwise
from typing import Annotated, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict, Field

from venalab.anatomy import VEINS
from venalab.citations import EvidenceLevel, check_ids
from venalab.datafiles import data_path, read_toml, validate_document
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Evidence, Finding, Frozen, evidence
from venalab.exam import Clinical, Etiology, Sign
from venalab.rules.reflux import PerforatorResult, SegmentResult
from venalab.rules.thrombosis import ThrombosisResult

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


# ---------------------------------------------------------------------------------------
# Vocabulary (data/ceap.toml), validated at import.


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


def _check(data: CeapData) -> tuple[_Vocabulary, list[Problem]]:
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
    exam_values = {e.exam for e in data.etiology.values() if e.exam is not None}
    for value in get_args(Etiology):
        if value not in exam_values:
            problems.append(Problem("etiology", f"exam etiology {value!r} gives no code"))

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
    vocab = _Vocabulary(
        data=data, segments=segments, legacy_to_2020=legacy_to_2020, legacy_group=legacy_group
    )
    return vocab, problems


@cache
def _load() -> _Vocabulary:
    raw = read_toml(data_path("ceap.toml"))
    data = validate_document(raw, CeapData, "data file ceap.toml")
    vocab, problems = _check(data)
    if problems:
        raise InvalidInput(problems, what="data file ceap.toml")
    return vocab


_V = _load()
CEAP = _V.data

CLASS_ORDER: tuple[str, ...] = tuple(CEAP.clinical)
"""Every clinical class a CEAP string may hold (C4 included), in CEAP20 table order."""
C_ORDER: tuple[str, ...] = tuple(c for c, e in CEAP.clinical.items() if not e.aggregate)
"""The classes derivable from exam signs, in CEAP20 table order."""
SIGN_CLASS: dict[str, str] = {s: c for c, e in CEAP.clinical.items() for s in e.signs}
"""Exam sign -> C class (CEAP20 table via clinical.md 2.2; C4c corona phlebectatica is 2020)."""
SEGMENTS: dict[str, CeapSegmentInfo] = _V.segments
SEGMENT_ORDER: tuple[str, ...] = CEAP.segment_order
ETIOLOGY_CODES: tuple[str, ...] = tuple(CEAP.etiology)
LEVELS: tuple[str, ...] = tuple(CEAP.levels)
_EXAM_ETIOLOGY: dict[str, str] = {e.exam: k for k, e in CEAP.etiology.items() if e.exam}


def clinical_classes(clinical: Clinical) -> tuple[str, ...]:
    """All C classes of a limb in CEAP order, with the 2020 `r` modifier for recurrences.

    No recorded sign gives C0 (no visible or palpable sign of venous disease).
    """
    classes = {SIGN_CLASS[s] for s in clinical.signs}
    if "C2" in classes and "varicose" in clinical.recurrent:
        classes = (classes - {"C2"}) | {"C2r"}
    if "C6" in classes and "ulcer" in clinical.recurrent:
        classes = (classes - {"C6"}) | {"C6r"}
    if not classes:
        classes = {"C0"}
    return tuple(c for c in C_ORDER if c in classes)


def has_ulcer_class(classes: tuple[str, ...]) -> bool:
    """True for a C5-C6 limb (healed or active ulcer, recurrent included)."""
    return any(c.startswith(("C5", "C6")) for c in classes)


def highest_class(classes: Iterable[str]) -> str:
    """The basic-CEAP class: the last of `classes` in CEAP20 table order."""
    return max(classes, key=CLASS_ORDER.index)


# ---------------------------------------------------------------------------------------
# Rendering, shared by derived results and parsed strings.


def _segment_key(abbr: str) -> tuple[int, int]:
    return GROUP_ORDER.index(SEGMENTS[abbr].group), SEGMENT_ORDER.index(abbr)


def _order_segments(abbrs: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(set(abbrs), key=_segment_key))


def _legacy_key(number: int) -> tuple[int, int]:
    return GROUP_ORDER.index(_V.legacy_group[number]), number


def _order_numbers(numbers: Iterable[int]) -> tuple[int, ...]:
    return tuple(sorted(set(numbers), key=_legacy_key))


def legacy_numbers_of(abbrs: Iterable[str]) -> tuple[int, ...]:
    """CEAP04 segment numbers of 2020 abbreviations, A-group order s, p, d (AASV -> 2)."""
    return _order_numbers(SEGMENTS[a].legacy_export for a in abbrs)


def abbreviations_of(numbers: Iterable[int]) -> tuple[str, ...]:
    """CEAP 2020 abbreviations written for CEAP04 segment numbers (1 -> Tel, Ret; 15 -> TIBV)."""
    return _order_segments(a for n in numbers for a in _V.legacy_to_2020[n])


def legacy_classes(classes: Iterable[str]) -> tuple[str, ...]:
    """Pre-2020 classes: C2r -> C2, C6r -> C6, C4c -> C4 unless C4a/C4b is listed [D]."""
    given = list(classes)
    out = [CEAP.clinical[c].legacy for c in given]
    if any(c in ("C4a", "C4b") for c in given) and "C4c" in given:
        out = [o for c, o in zip(given, out, strict=True) if c != "C4c"]
    return tuple(sorted(set(out), key=CLASS_ORDER.index))


@dataclass(frozen=True)
class _Parts:
    classes: tuple[str, ...]
    symptoms: str | None = None
    e: str | None = None
    a_groups: tuple[str, ...] = ()
    p_types: tuple[str, ...] = ()
    # p type -> (2020 abbreviations, legacy numbers), both in rendering order
    p_segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = field(default_factory=dict)
    date: dt.date | None = None
    level: str | None = None
    vcss: int | None = None


def _render(
    parts: _Parts, *, advanced: bool, classes: Style = "2020", segments: Style = "2020"
) -> str:
    cls = legacy_classes(parts.classes) if classes == "2004" else parts.classes
    if not advanced:
        cls = (highest_class(cls),)
    c = "C" + ",".join(x[1:] for x in cls) + (f",{parts.symptoms}" if parts.symptoms else "")
    out = [c]
    if parts.e:
        out.append(CEAP.etiology[parts.e].legacy if classes == "2004" else parts.e)
    if parts.a_groups:
        out.append("A" + ",".join(parts.a_groups))
    if parts.p_types:
        items = []
        for t in parts.p_types:
            abbrs, numbers = parts.p_segments.get(t, ((), ()))
            if advanced and segments == "2020" and abbrs:
                items.append(f"{t}({','.join(abbrs)})")
            elif advanced and segments == "2004" and numbers:
                items.append(t + ",".join(str(n) for n in numbers))
            else:
                items.append(t)
        out.append("P" + ",".join(items))
    text = " ".join(out)
    suffix = [parts.date.isoformat()] if parts.date else []
    suffix += [parts.level] if parts.level else []
    if advanced and suffix:
        text += f" ({', '.join(suffix)})"
    if parts.vcss is not None:
        text += f" – VCSS {parts.vcss}"
    return text


# ---------------------------------------------------------------------------------------
# Derivation from the exam.


class CeapSegmentList(Frozen):
    """The segments of one (A group, P type) pair, in 2020 abbreviations and legacy numbers."""

    group: GroupLetter
    pathophysiology: PType
    segments: tuple[str, ...]
    legacy: tuple[int, ...]


class CeapSegment(Frozen):
    """One pathological CEAP segment and the exam entries that made it so."""

    abbreviation: str
    name: str
    group: GroupLetter
    pathophysiology: tuple[PType, ...]
    legacy: int
    legacy_flagged: bool
    veins: tuple[str, ...]


class CeapResult(Frozen):
    """CEAP of one leg. Undetermined parts are None (or empty) and listed in `ambiguities`.

    basic / advanced: the 2020 strings (module docstring: rendering); advanced writes its
    segments as CEAP04 numbers when derived with `legacy_numbers=True`.
    legacy_basic / legacy_advanced: always filled, full pre-2020 rendering (C2r -> C2,
    C6r -> C6, C4c -> C4, Esi/Ese -> Es, numeric segments).
    c_classes: every class, CEAP20 order; c_basic: the highest. symptoms: "S", "A" or None.
    e: "Ep", "Esi", "Ese", "Ec", "En" or None. a / a_groups: "As,p" / ("s", "p"), "An" /
    ("n",), or None / () when not determinable; p / p_types likewise ("Pr,o" / ("r", "o")).
    segments: per (A group, P type) the 2020 abbreviations and legacy numbers;
    segment_details: per abbreviation, the exam entries behind it.
    part_evidence: keys "C", "S", "E", "A", "P" and, when a level is given, "L".
    """

    basic: str
    advanced: str
    legacy_basic: str
    legacy_advanced: str
    c_classes: tuple[str, ...]
    c_basic: str
    symptoms: Symptoms | None
    e: str | None
    a: str | None
    a_groups: tuple[AGroup, ...]
    p: str | None
    p_types: tuple[PCode, ...]
    segments: tuple[CeapSegmentList, ...]
    segment_details: tuple[CeapSegment, ...]
    exam_date: dt.date | None
    level_of_investigation: str | None
    legacy_numbers: bool
    ambiguities: tuple[str, ...]
    evidence: Evidence
    part_evidence: dict[str, Evidence]


@dataclass
class _Hit:
    types: set[str] = field(default_factory=set)
    veins: list[str] = field(default_factory=list)


def _where(vein: str, site: str | None) -> str:
    return f"{vein} {site}" if site else vein


def _class_note(clinical: Clinical, classes: tuple[str, ...]) -> str:
    if not clinical.signs:
        return "No sign recorded: C0 (no visible or palpable sign of venous disease)."
    given = "; ".join(f"{s} -> {SIGN_CLASS[s]}" for s in dict.fromkeys(clinical.signs))
    note = f"Signs: {given}."
    if "C2r" in classes or "C6r" in classes:
        note += " Recurrence recorded: 2020 'r' modifier (C2r/C6r)."
    return note + f" Basic class: {highest_class(classes)}."


def derive_ceap(
    clinical: Clinical,
    segments: tuple[SegmentResult, ...],
    perforators: tuple[PerforatorResult, ...],
    thrombosis: ThrombosisResult,
    *,
    exam_date: dt.date | None = None,
    level_of_investigation: str | None = "LII",
    legacy_numbers: bool = False,
) -> CeapResult:
    """CEAP 2020 of one leg from its clinical facts and the engine's segment verdicts.

    `perforators` must be the engine's results for the perforator entries of `segments`, in
    the same order (as `engine.assess_leg` builds them). `level_of_investigation` is one of
    LI, LII, LIII (CEAP04) or None; date and level are appended to the advanced string.
    """
    if level_of_investigation is not None and level_of_investigation not in CEAP.levels:
        raise InvalidInput(
            [
                Problem(
                    "level_of_investigation",
                    f"unknown level {level_of_investigation!r}; allowed {', '.join(LEVELS)}",
                )
            ],
            what="option",
        )
    ambiguities: list[str] = []
    part_ev: dict[str, Evidence] = {}

    # C
    classes = clinical_classes(clinical)
    c_basic = highest_class(classes)
    part_ev["C"] = evidence(
        "ceap.c-class", ["CEAP20", "CEAP04"], level="V2", note=_class_note(clinical, classes)
    )
    if "C4b" in classes and "C4c" in classes:
        ambiguities.append(
            "C4b and C4c both present: the basic class is C4c, the later one in "
            "the CEAP 2020 table; the reference does not rank the C4 subclasses."
        )

    # S/A
    symptoms: Symptoms | None
    if clinical.symptomatic is None:
        symptoms = None
        ambiguities.append("Symptoms not recorded: S/A not determinable (no S/A modifier written).")
    else:
        symptoms = "S" if clinical.symptomatic else "A"
    part_ev["S"] = evidence(
        "ceap.symptoms",
        ["CEAP20", "CEAP04", "ESVS22"],
        level="V2",
        note="clinical.symptomatic not recorded."
        if symptoms is None
        else f"clinical.symptomatic = {str(clinical.symptomatic).lower()} -> {symptoms}.",
    )

    # E
    e = _EXAM_ETIOLOGY[clinical.etiology] if clinical.etiology is not None else None
    if e is None:
        ambiguities.append("Etiology not stated: E undetermined (not guessed; E part omitted).")
    part_ev["E"] = evidence(
        "ceap.etiology",
        ["CEAP20"],
        level="V2",
        note="clinical.etiology not stated: undetermined."
        if e is None
        else f"clinical.etiology = {clinical.etiology} -> {e} ({CEAP.etiology[e].meaning}).",
    )

    # A/P
    hits: dict[str, _Hit] = {}
    not_measured: list[str] = []
    examined = False
    mapped: list[str] = []
    incompetent_only: list[str] = []
    perf_iter = iter(perforators)
    thrombosed = {t.vein for t in (*thrombosis.deep, *thrombosis.superficial)}
    acute = [t.vein for t in thrombosis.deep if t.age in ("acute", "subacute")]
    for seg in segments:
        vein = VEINS[seg.vein]
        where = _where(seg.vein, seg.site)
        if vein.is_perforator:
            perf = next(perf_iter, None)
            if perf is None or perf.vein != seg.vein:
                raise ValueError(
                    "derive_ceap: `perforators` must hold the perforator results of "
                    "`segments`, in the same order"
                )
            # CEAP records where reflux is (CEAP04's example: "incompetent calf perforators"
            # -> Ap, segment 18), so an incompetent perforator (outward flow beyond the
            # set's duration cut-off) counts; "pathologic" adds diameter and ulcer-location
            # criteria that decide treatment (SVS11 2.5), not the presence of reflux.
            refluxing = perf.incompetent is True or perf.pathologic
            known = perf.incompetent is not None
            if refluxing and not perf.pathologic:
                incompetent_only.append(where)
        else:
            refluxing = seg.abnormal is True
            known = seg.abnormal is not None
        obstructed = seg.obstruction is True or seg.thrombus is not None or seg.vein in thrombosed
        if (
            known
            or seg.obstruction is not None
            or seg.thrombus is not None
            or seg.compressibility is not None
        ):
            examined = True
        if not known:
            not_measured.append(where)
        if seg.reflux == "boundary":
            decided = "counted as reflux" if seg.abnormal else "not counted as reflux"
            ambiguities.append(
                f"{where}: reflux {seg.measured_ms:g} ms exactly at the "
                f"{seg.threshold_ms:g} ms cut-off; {decided} under "
                f"'{seg.comparison}'."
            )
        if seg.criteria_disagreement:
            verdicts = "; ".join(f"{v.criteria}: {v.verdict}" for v in seg.criteria_disagreement)
            ambiguities.append(
                f"{where}: criteria sets disagree on reflux ({verdicts}); CEAP "
                f"uses {seg.evidence.criteria or 'the selected set'}."
            )
        if not (refluxing or obstructed):
            continue
        abbr = vein.ceap
        if abbr != seg.vein:
            mapped.append(f"{seg.vein} -> {abbr}")
        hit = hits.setdefault(abbr, _Hit())
        hit.veins.append(where)
        if refluxing:
            hit.types.add("r")
        if obstructed:
            hit.types.add("o")
    for v in sorted(thrombosed - {s.vein for s in segments}):
        hit = hits.setdefault(VEINS[v].ceap, _Hit())
        hit.veins.append(v)
        hit.types.add("o")
        examined = True
    if next(perf_iter, None) is not None:
        raise ValueError("derive_ceap: more perforator results than perforator segments")
    if thrombosis.non_compressible_without_thrombus:
        ambiguities.append(
            f"Non-compressible {', '.join(thrombosis.non_compressible_without_thrombus)} without "
            "a thrombus description: not counted as obstruction (Po)."
        )
    if not_measured and examined:
        ambiguities.append(
            f"Reflux not measured in {', '.join(not_measured)}: their reflux "
            "status does not enter A/P."
        )

    details = tuple(
        CeapSegment(
            abbreviation=a,
            name=SEGMENTS[a].name,
            group=SEGMENTS[a].group,
            pathophysiology=tuple(t for t in P_ORDER if t in hits[a].types),
            legacy=SEGMENTS[a].legacy_export,
            legacy_flagged=SEGMENTS[a].legacy_flagged,
            veins=tuple(hits[a].veins),
        )
        for a in _order_segments(hits)
    )
    for d in details:
        if d.legacy_flagged:
            ambiguities.append(
                f"{d.abbreviation} has no CEAP 2004 segment number: legacy strings "
                f"write {d.legacy} ({SEGMENTS[d.abbreviation].note or 'flagged'})."
            )
    a_groups: tuple[AGroup, ...]
    p_types: tuple[PCode, ...]
    if not examined:
        a_groups, p_types = (), ()
        ambiguities.append("No segment findings recorded: A and P not determinable.")
    elif not details:
        a_groups, p_types = ("n",), ("n",)
    else:
        a_groups = tuple(g for g in GROUP_ORDER if any(d.group == g for d in details))
        p_types = tuple(t for t in P_ORDER if any(t in d.pathophysiology for d in details))
    lists = tuple(
        CeapSegmentList(group=g, pathophysiology=t, segments=abbrs, legacy=legacy_numbers_of(abbrs))
        for t in P_ORDER
        for g in GROUP_ORDER
        if (
            abbrs := tuple(
                d.abbreviation for d in details if d.group == g and t in d.pathophysiology
            )
        )
    )
    p_segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
    for t in p_types:
        abbrs = _order_segments(d.abbreviation for d in details if t in d.pathophysiology)
        p_segments[t] = (abbrs, legacy_numbers_of(abbrs))

    a_text = "A" + ",".join(a_groups) if a_groups else None
    p_text = "P" + ",".join(p_types) if p_types else None
    listing = (
        "; ".join(
            f"{d.abbreviation} ({'/'.join('P' + t for t in d.pathophysiology)}: "
            f"{', '.join(d.veins)})"
            for d in details
        )
        or "none"
    )
    ap_note = f"Pathological segments: {listing}."
    if mapped:
        ap_note += f" Mapped to CEAP 2020 segments: {', '.join(dict.fromkeys(mapped))}."
    if incompetent_only:
        ap_note += (
            f" Incompetent perforator(s) counted although not pathologic: "
            f"{', '.join(incompetent_only)}."
        )
    part_ev["A"] = evidence(
        "ceap.anatomy",
        ["VENALAB", "CEAP20"],
        level="D",
        note=f"{a_text or 'A not determinable'}. {ap_note}"
        + " Pathological = abnormal reflux verdict, obstruction or thrombus; perforators count "
        "when incompetent.",
    )
    p_note = f"{p_text or 'P not determinable'}. {ap_note}"
    if acute:
        p_note += (
            f" Acute/subacute thrombus in {', '.join(acute)} counted as Po (CEAP20: "
            "obstruction including thrombosis)."
        )
    part_ev["P"] = evidence("ceap.pathophysiology", ["VENALAB", "CEAP20"], level="D", note=p_note)
    if level_of_investigation is not None:
        part_ev["L"] = evidence(
            "ceap.level-of-investigation",
            ["CEAP04"],
            level="U",
            note=f"{level_of_investigation}: {CEAP.levels[level_of_investigation].meaning} "
            "(CEAP04; exact level definitions unverified).",
        )

    parts = _Parts(
        classes=classes,
        symptoms=symptoms,
        e=e,
        a_groups=a_groups,
        p_types=p_types,
        p_segments=p_segments,
        date=exam_date,
        level=level_of_investigation,
    )
    seg_style: Style = "2004" if legacy_numbers else "2020"
    basic = _render(parts, advanced=False)
    advanced = _render(parts, advanced=True, segments=seg_style)
    return CeapResult(
        basic=basic,
        advanced=advanced,
        legacy_basic=_render(parts, advanced=False, classes="2004", segments="2004"),
        legacy_advanced=_render(parts, advanced=True, classes="2004", segments="2004"),
        c_classes=classes,
        c_basic=c_basic,
        symptoms=symptoms,
        e=e,
        a=a_text,
        a_groups=a_groups,
        p=p_text,
        p_types=p_types,
        segments=lists,
        segment_details=details,
        exam_date=exam_date,
        level_of_investigation=level_of_investigation,
        legacy_numbers=legacy_numbers,
        ambiguities=tuple(ambiguities),
        evidence=evidence(
            "ceap.classification",
            ["CEAP20", "CEAP04", "SVS11"],
            level="V2",
            note=f"Basic {basic}; advanced {advanced}. Parts separated by spaces as in the "
            "published examples (SVS11); 2020 segments in parentheses after the P type "
            "(venalab rendering); undetermined parts omitted.",
        ),
        part_evidence=part_ev,
    )


def ceap_findings(side: Literal["left", "right"], ceap: CeapResult) -> list[Finding]:
    """Informative findings for a leg's CEAP: the strings, and what could not be derived."""
    name = "Left" if side == "left" else "Right"
    out = [
        Finding(
            id=f"ceap.{side}",
            leg=side,
            importance=4,
            evidence=ceap.evidence,
            text=f"{name} leg CEAP: {ceap.basic} (advanced {ceap.advanced}).",
        )
    ]
    if ceap.ambiguities:
        out.append(
            Finding(
                id=f"ceap.ambiguity.{side}",
                leg=side,
                importance=4,
                evidence=ceap.evidence.model_copy(update={"rule": "ceap.ambiguity"}),
                text=f"{name} leg CEAP, not derivable or by convention: "
                + " ".join(ceap.ambiguities),
            )
        )
    return out


# ---------------------------------------------------------------------------------------
# Parser.


class ParsedSegments(Frozen):
    """The segments written after one P type, in both notations."""

    pathophysiology: PType
    segments: tuple[str, ...]
    legacy: tuple[int, ...]
    written: Style


class ParsedCeap(Frozen):
    """A CEAP string read by `parse_ceap`; empty/None parts were not written."""

    text: str
    c_classes: tuple[str, ...]
    symptoms: Symptoms | None = None
    e: str | None = None
    a_groups: tuple[AGroup, ...] = ()
    p_types: tuple[PCode, ...] = ()
    segments: tuple[ParsedSegments, ...] = ()
    exam_date: dt.date | None = None
    level_of_investigation: str | None = None
    vcss_total: int | None = None

    @property
    def c_basic(self) -> str:
        return highest_class(self.c_classes)

    @property
    def a(self) -> str | None:
        return "A" + ",".join(self.a_groups) if self.a_groups else None

    @property
    def p(self) -> str | None:
        return "P" + ",".join(self.p_types) if self.p_types else None

    def _parts(self) -> _Parts:
        return _Parts(
            classes=self.c_classes,
            symptoms=self.symptoms,
            e=self.e,
            a_groups=self.a_groups,
            p_types=self.p_types,
            p_segments={s.pathophysiology: (s.segments, s.legacy) for s in self.segments},
            date=self.exam_date,
            level=self.level_of_investigation,
            vcss=self.vcss_total,
        )

    def normalised(self, style: Style = "2020") -> str:
        """Canonical advanced rendering; style "2004" also writes pre-2020 classes and codes."""
        return _render(self._parts(), advanced=True, classes=style, segments=style)

    def basic(self, style: Style = "2020") -> str:
        """Basic CEAP (highest class, groups only) of the parsed string."""
        return _render(self._parts(), advanced=False, classes=style, segments=style)

    def explain(self) -> list[tuple[str, str]]:
        """(token, meaning) for every item, in reading order."""
        out: list[tuple[str, str]] = []
        for c in self.c_classes:
            entry = CEAP.clinical[c]
            out.append((c, entry.meaning + (f" ({entry.note})" if entry.note else "")))
        if self.symptoms:
            out.append((self.symptoms, CEAP.modifiers[self.symptoms].meaning))
        if self.e:
            out.append((self.e, f"etiology: {CEAP.etiology[self.e].meaning}"))
        for g in self.a_groups:
            out.append(("A" + g, f"anatomy: {CEAP.anatomy[g].meaning}"))
        by_type = {s.pathophysiology: s for s in self.segments}
        for t in self.p_types:
            out.append(("P" + t, f"pathophysiology: {CEAP.pathophysiology[t].meaning}"))
            seg = by_type.get(cast(PType, t))
            if seg is None:
                continue
            if seg.written == "2020":
                for a in seg.segments:
                    info = SEGMENTS[a]
                    legacy = (
                        f"no CEAP 2004 number, legacy strings write {info.legacy_export}"
                        if info.legacy_flagged
                        else f"legacy segment {info.legacy_export}"
                    )
                    out.append((a, f"{info.name} ({CEAP.anatomy[info.group].meaning}; {legacy})"))
            else:
                for n in seg.legacy:
                    names = [a for a in SEGMENTS.values() if a.legacy == n]
                    label = "; ".join(f"{a.abbreviation} {a.name}" for a in names)
                    out.append((str(n), f"legacy segment {n}: {label}"))
        if self.exam_date:
            out.append((self.exam_date.isoformat(), "date of classification"))
        if self.level_of_investigation:
            out.append(
                (self.level_of_investigation, CEAP.levels[self.level_of_investigation].meaning)
            )
        if self.vcss_total is not None:
            out.append(
                (
                    f"V{self.vcss_total}",
                    f"revised Venous Clinical Severity Score total {self.vcss_total} (0-30)",
                )
            )
        return out


# What may follow a part letter for it to start a part: "C5,A En" keeps the modifier A in the
# C part (A followed by a separator), while "Ex" still starts an E part (and is reported).
_PART_NEXT = {
    "C": "0123456789",
    "E": "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "A": "abcdefghijklmnopqrstuvwxyz",
    "P": "abcdefghijklmnopqrstuvwxyz",
}
_PART_NAMES = {
    "C": "C (clinical)",
    "E": "E (etiology)",
    "A": "A (anatomy)",
    "P": "P (pathophysiology)",
}
_SEPARATORS = " ,\t"
_VCSS_RE = re.compile(r"\s*[-–—]\s*(?:VCSS\s*|V)(\d+)\s*$")
_SUFFIX_RE = re.compile(r"\s+\(([^()]*)\)\s*$")
_SUFFIX_ITEM = re.compile(r"\d{4}-\d{2}-\d{2}|L[IV]+")
_TOKEN_RE = re.compile(r"[^,\s]+")
_CLASS_RE = re.compile(r"C?(\d+)([A-Za-z]*)")
_VCSS_MAX = 30
_A_CODES: tuple[AGroup, ...] = ("s", "p", "d", "n")
_P_CODES: tuple[PCode, ...] = ("r", "o", "n")
_CLASSES_ALLOWED = ", ".join(CLASS_ORDER)


class _Problems:
    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, start: int, end: int, message: str) -> None:
        self.items.append(Problem(f"ceap[{start}:{end}]", message))


def _parse_suffixes(
    text: str, problems: _Problems
) -> tuple[int, dt.date | None, str | None, int | None]:
    """Strip the VCSS total and the (date, level) suffix; return the end of the CEAP body."""
    end = len(text)
    vcss: int | None = None
    m = _VCSS_RE.search(text, 0, end)
    if m:
        vcss = int(m.group(1))
        if vcss > _VCSS_MAX:
            problems.add(
                m.start(1),
                m.end(1),
                f"VCSS total {vcss} is out of range; the revised VCSS runs 0-{_VCSS_MAX}",
            )
        end = m.start()
    date: dt.date | None = None
    level: str | None = None
    m = _SUFFIX_RE.search(text[:end])
    if m and all(_SUFFIX_ITEM.fullmatch(x.strip()) for x in m.group(1).split(",")):
        pos = m.start(1)
        for raw in m.group(1).split(","):
            item = raw.strip()
            start = pos + len(raw) - len(raw.lstrip())
            stop = start + len(item)
            pos += len(raw) + 1
            if item.startswith("L"):
                if level is not None:
                    problems.add(start, stop, "level of investigation given twice")
                elif item not in CEAP.levels:
                    problems.add(
                        start,
                        stop,
                        f"unknown level of investigation {item!r}; allowed {', '.join(LEVELS)}",
                    )
                else:
                    level = item
            else:
                try:
                    if date is not None:
                        problems.add(start, stop, "date given twice")
                    date = dt.date.fromisoformat(item)
                except ValueError:
                    problems.add(start, stop, f"{item!r} is not a valid date (YYYY-MM-DD)")
        end = m.start()
    return end, date, level, vcss


def _split_parts(body: str, problems: _Problems) -> list[tuple[str, int, int]]:
    """(kind, start, end) of each CEAP part; parts start with C<digit>, E<code>, A<g>, P<t>."""
    starts: list[tuple[str, int]] = []
    depth = 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                problems.add(i, i + 1, "')' without a matching '('")
                depth = 0
        elif (
            depth == 0
            and ch in _PART_NEXT
            and (i == 0 or body[i - 1] in _SEPARATORS)
            and i + 1 < len(body)
            and body[i + 1] in _PART_NEXT[ch]
            and not (ch == "C" and starts and starts[-1][0] == "C")
        ):
            # "C2,C4a": a repeated class letter continues the C part
            starts.append((ch, i))
    if depth > 0:
        problems.add(body.rfind("("), len(body), "'(' without a matching ')'")
    if not starts:
        problems.add(
            0,
            len(body),
            f"no CEAP part found in {body.strip()!r}; expected e.g. "
            "'C2,S Ep As Pr' (a C part is required)",
        )
        return []
    lead = body[: starts[0][1]]
    if lead.strip(_SEPARATORS):
        problems.add(
            0, len(lead.rstrip()), f"unexpected {lead.strip()!r} before the first CEAP part"
        )
    out: list[tuple[str, int, int]] = []
    for n, (kind, start) in enumerate(starts):
        end = starts[n + 1][1] if n + 1 < len(starts) else len(body)
        while end > start and body[end - 1] in _SEPARATORS:
            end -= 1
        out.append((kind, start, end))
    return out


def _parse_c(raw: str, off: int, problems: _Problems) -> tuple[list[str], str | None]:
    classes: list[str] = []
    symptoms: str | None = None
    tokens = [(m.group(), m.start(), m.end()) for m in _TOKEN_RE.finditer(raw)]
    for n, (tok, s, e) in enumerate(tokens):
        s, e = s + off, e + off
        cls: str | None = None
        mod: str | None = None
        if tok in ("S", "A", "s", "a"):
            mod = tok
        else:
            m = _CLASS_RE.fullmatch(tok)
            if m is None:
                problems.add(
                    s,
                    e,
                    f"unexpected {tok!r} in the C part; allowed classes "
                    f"{_CLASSES_ALLOWED}, then ,S or ,A",
                )
                continue
            num, letters = m.groups()
            if not letters or "C" + num + letters in CEAP.clinical:
                cls = "C" + num + letters
            elif letters[-1] in "SAsa" and "C" + num + letters[:-1] in CEAP.clinical:
                cls, mod = "C" + num + letters[:-1], letters[-1]
            if cls == "C4" and mod == "A":
                problems.add(
                    s,
                    e,
                    f"ambiguous {tok!r}: write C4a for pigmentation or eczema, "
                    "or C4,A for asymptomatic C4",
                )
                continue
            if cls is None or cls not in CEAP.clinical:
                hint = (
                    " (the r recurrence modifier exists only as C2r and C6r)"
                    if "r" in letters
                    else ""
                )
                problems.add(
                    s,
                    e,
                    f"unknown clinical class {'C' + num + letters!r}{hint}; "
                    f"allowed {_CLASSES_ALLOWED}",
                )
                continue
        if cls is not None:
            if cls in classes:
                problems.add(s, e, f"class {cls} listed twice")
            elif symptoms is not None:
                problems.add(s, e, f"class {cls} after the symptom modifier; S/A comes last")
            else:
                classes.append(cls)
        if mod is not None:
            if symptoms is not None:
                problems.add(s, e, "symptom modifier given twice; write one of S or A")
            else:
                symptoms = mod.upper()
            if n != len(tokens) - 1:
                problems.add(s, e, f"symptom modifier {mod!r} must be the last item of the C part")
    return classes, symptoms


def _parse_e(raw: str, off: int, problems: _Problems) -> str | None:
    tokens = [(m.group(), m.start() + off, m.end() + off) for m in _TOKEN_RE.finditer(raw)]
    allowed = ", ".join(ETIOLOGY_CODES)
    tok, s, e = tokens[0]
    if len(tokens) > 1:
        problems.add(
            tokens[1][1],
            tokens[-1][2],
            f"unexpected {raw[tokens[1][1] - off :]!r} "
            f"after {tok!r}; the E part is one code: {allowed}",
        )
    if tok not in CEAP.etiology:
        problems.add(s, e, f"unknown etiology {tok!r}; allowed {allowed}")
        return None
    return tok


def _parse_a(raw: str, off: int, problems: _Problems) -> list[str]:
    groups: list[str] = []
    body = raw[1:]
    for m in _TOKEN_RE.finditer(body):
        tok, s, e = m.group(), m.start() + off + 1, m.end() + off + 1
        if tok not in CEAP.anatomy:
            problems.add(
                s,
                e,
                f"unknown anatomy group {tok!r}; allowed s, p, d (comma-"
                "separated, e.g. As,p,d) or n alone (An)",
            )
        elif tok in groups:
            problems.add(s, e, f"anatomy group {tok!r} listed twice")
        else:
            groups.append(tok)
    if "n" in groups and len(groups) > 1:
        problems.add(
            off,
            off + len(raw),
            "An (no venous anatomic location) cannot be combined with s, p or d",
        )
    return groups


def _parse_p(
    raw: str, off: int, problems: _Problems
) -> list[tuple[str, list[str], list[int], Style | None]]:
    items: list[tuple[str, list[str], list[int], Style | None]] = []
    expected = (
        "expected r, o or n, each optionally followed by its segments as CEAP04 numbers "
        "(Pr2,3,18) or 2020 abbreviations (Pr(GSVa,GSVb))"
    )
    i = 1
    while i <= len(raw):
        if i == len(raw) or raw[i] not in "ron":
            problems.add(
                off + i,
                off + len(raw),
                f"unexpected {raw[i:]!r} in the P part; {expected}"
                if i < len(raw)
                else f"the P part ends after a comma; {expected}",
            )
            break
        t = raw[i]
        i += 1
        abbrs: list[str] = []
        numbers: list[int] = []
        written: Style | None = None
        if i < len(raw) and raw[i] == "(":
            close = raw.find(")", i)
            if close < 0:
                break  # reported by the part splitter
            written = "2020"
            inner_off = i + 1
            for m in _TOKEN_RE.finditer(raw[inner_off:close]):
                tok, s, e = m.group(), off + inner_off + m.start(), off + inner_off + m.end()
                if tok in SEGMENTS:
                    abbrs.append(tok)
                else:
                    hint = (
                        " (GSV needs its segment: GSVa above knee, GSVb below knee)"
                        if tok == "GSV"
                        else ""
                    )
                    problems.add(
                        s,
                        e,
                        f"unknown CEAP 2020 segment {tok!r}{hint}; allowed "
                        f"{', '.join(SEGMENT_ORDER)}",
                    )
            if not abbrs and not raw[inner_off:close].strip():
                problems.add(off + i, off + close + 1, "empty segment list '()'")
            i = close + 1
        elif i < len(raw) and raw[i].isdigit():
            written = "2004"
            while True:
                m2 = re.match(r"\d+", raw[i:])
                assert m2 is not None
                number = int(m2.group())
                if not LEGACY_RANGE[0] <= number <= LEGACY_RANGE[1]:
                    problems.add(
                        off + i,
                        off + i + len(m2.group()),
                        f"legacy segment {number} does not exist; allowed "
                        f"{LEGACY_RANGE[0]}-{LEGACY_RANGE[1]} (CEAP04 numbering)",
                    )
                else:
                    numbers.append(number)
                i += len(m2.group())
                if i + 1 < len(raw) and raw[i] == "," and raw[i + 1].isdigit():
                    i += 1
                    continue
                break
        items.append((t, abbrs, numbers, written))
        if i == len(raw):
            break
        if raw[i] == ",":
            i += 1
            continue
        skip = len(raw[i:]) - len(raw[i:].lstrip())
        problems.add(
            off + i + skip,
            off + len(raw),
            f"unexpected {raw[i + skip :]!r} in the P part; {expected}",
        )
        break
    types = [t for t, *_ in items]
    for t in set(types):
        if types.count(t) > 1:
            problems.add(off, off + len(raw), f"P type {t!r} listed twice")
    if "n" in types and len(set(types)) > 1:
        problems.add(
            off, off + len(raw), "Pn (no venous pathophysiology) cannot be combined with r or o"
        )
    for t, abbrs, numbers, _ in items:
        if t == "n" and (abbrs or numbers):
            problems.add(off, off + len(raw), "Pn takes no segments")
    return items


def parse_ceap(text: str) -> ParsedCeap:
    """Read a CEAP string (2004 or 2020 style). Raises InvalidInput naming each bad token.

    Accepted: `C2,4a,5,S Ep As,p Pr2,3,18`, `C6r,S Ep As Pr(GSVa,GSVb)`, `C6r,Ep,As,Pr`,
    `C0s`, with an optional `(2004-05-17, LII)` suffix and a trailing `– V9` / `- VCSS 16`.
    Problem paths are `ceap[start:end]`, character offsets of the offending token.
    """
    problems = _Problems()
    if not text.strip():
        raise InvalidInput(
            [Problem("ceap", "empty CEAP string; expected e.g. 'C2,S Ep As Pr'")],
            what="CEAP string",
        )
    end, date, level, vcss = _parse_suffixes(text, problems)
    body = text[:end]
    parts = _split_parts(body, problems)

    seen: dict[str, tuple[int, int]] = {}
    order = "CEAP"
    last = -1
    classes: list[str] = []
    symptoms: str | None = None
    e: str | None = None
    a_groups: list[str] = []
    p_items: list[tuple[str, list[str], list[int], Style | None]] = []
    for kind, start, stop in parts:
        raw = body[start:stop]
        if kind in seen:
            s0, e0 = seen[kind]
            if kind == "A" and "n" in (*body[s0 + 1 : e0].split(","), *raw[1:].split(",")):
                problems.add(
                    start,
                    stop,
                    f"An (no venous anatomic location) cannot be combined "
                    f"with another A part ({body[s0:e0]!r} and {raw!r})",
                )
                continue
            problems.add(
                start,
                stop,
                f"the {_PART_NAMES[kind]} part appears twice "
                f"({body[s0:e0]!r} and {raw!r}); write it once"
                + (", e.g. As,p" if kind == "A" else ""),
            )
            continue
        if order.index(kind) < last:
            problems.add(
                start,
                stop,
                f"the {_PART_NAMES[kind]} part {raw!r} is out of order; "
                "CEAP parts come in the order C, E, A, P",
            )
        last = max(last, order.index(kind))
        seen[kind] = (start, stop)
        if kind == "C":
            classes, symptoms = _parse_c(raw, start, problems)
        elif kind == "E":
            e = _parse_e(raw, start, problems)
        elif kind == "A":
            a_groups = _parse_a(raw, start, problems)
        else:
            p_items = _parse_p(raw, start, problems)
    if parts and "C" not in seen:
        problems.add(
            parts[0][1],
            parts[0][2],
            "missing the C (clinical) part; a CEAP string starts with it, e.g. C2",
        )

    segments: list[ParsedSegments] = []
    for t, abbrs, numbers, written in p_items:
        if written is None or t == "n" or not (abbrs or numbers):
            continue
        seg_abbrs = _order_segments(abbrs) if written == "2020" else abbreviations_of(numbers)
        seg_numbers = legacy_numbers_of(abbrs) if written == "2020" else _order_numbers(numbers)
        segments.append(
            ParsedSegments(
                pathophysiology=cast(PType, t),
                segments=seg_abbrs,
                legacy=seg_numbers,
                written=written,
            )
        )
        if "A" in seen and a_groups:
            s0, e0 = seen["P"]
            for a in seg_abbrs:
                group = SEGMENTS[a].group
                if group not in a_groups:
                    problems.add(
                        s0,
                        e0,
                        f"segment {a} ({CEAP.anatomy[group].meaning}) is listed "
                        f"under P but the A part has no {group!r} "
                        f"(A{','.join(a_groups)})",
                    )
                    break
    if problems.items:
        raise InvalidInput(problems.items, what="CEAP string")
    return ParsedCeap(
        text=text,
        c_classes=tuple(sorted(classes, key=CLASS_ORDER.index)),
        symptoms=cast(Symptoms | None, symptoms),
        e=e,
        a_groups=tuple(g for g in _A_CODES if g in a_groups),
        p_types=tuple(t for t in _P_CODES if t in {i[0] for i in p_items}),
        segments=tuple(sorted(segments, key=lambda s: "ro".index(s.pathophysiology))),
        exam_date=date,
        level_of_investigation=level,
        vcss_total=vcss,
    )


def _vcss_of(item: str | ParsedCeap, path: str) -> int:
    parsed = parse_ceap(item) if isinstance(item, str) else item
    if parsed.vcss_total is None:
        raise InvalidInput(
            [
                Problem(
                    path,
                    f"{parsed.text!r} carries no VCSS total; expected a "
                    "trailing '– V<n>' or '- VCSS <n>'",
                )
            ],
            what="CEAP string",
        )
    return parsed.vcss_total


def vcss_delta(before: str | ParsedCeap, after: str | ParsedCeap) -> int:
    """Change of the VCSS total between two notations (negative = improvement), TV23."""
    return _vcss_of(after, "after") - _vcss_of(before, "before")


def vcss_deltas(notations: Sequence[str | ParsedCeap]) -> tuple[int, ...]:
    """Step-by-step VCSS changes along a series of notations, e.g. C6 – V25 → V21 → V7."""
    totals = [_vcss_of(n, f"notations[{i}]") for i, n in enumerate(notations)]
    return tuple(b - a for a, b in pairwise(totals))
