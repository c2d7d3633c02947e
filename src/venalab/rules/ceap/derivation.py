"""CEAP classification per leg (CEAP 2020 update, Lurie et al.; CEAP20), derived by part.

Sources (shared/reference/clinical.md sections 2.1-2.7): CEAP20 for the classes and the E/A/P
tables [V2]; CEAP04 for basic vs advanced CEAP and the level of investigation; SVS11 for the
worked example (TV01). Vocabulary in vocabulary.py, strings in notation.py.

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
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal, Protocol

from venalab.anatomy import VEINS
from venalab.errors import InvalidInput, Problem
from venalab.evidence import Evidence, Finding, Frozen, evidence, make_finding
from venalab.exam import Clinical
from venalab.rules.ceap.notation import CeapParts, render_ceap
from venalab.rules.ceap.vocabulary import (
    C_ORDER,
    CEAP,
    EXAM_ETIOLOGY,
    GROUP_ORDER,
    LEVELS,
    P_ORDER,
    RECURRENCE,
    SEGMENTS,
    SIGN_CLASS,
    AGroup,
    GroupLetter,
    PCode,
    PType,
    Style,
    Symptoms,
    highest_class,
    legacy_numbers_of,
    order_segments,
)
from venalab.rules.patterns import Judged
from venalab.rules.reflux import PerforatorResult, SegmentResult, boundary_phrase
from venalab.rules.thrombosis import ThrombosisDecision, ThrombosisResult
from venalab.trusted import trusted


def clinical_classes(clinical: Clinical) -> tuple[str, ...]:
    """All C classes of a limb in CEAP order, with the 2020 `r` modifier for recurrences.

    No recorded sign gives C0 (no visible or palpable sign of venous disease).
    """
    return _classes_of(clinical.signs, clinical.recurrent)


@lru_cache(maxsize=4096)  # few distinct sign sets; every leg of every exam asks
def _classes_of(signs: tuple[str, ...], recurrent: tuple[str, ...]) -> tuple[str, ...]:
    classes = {SIGN_CLASS[s] for s in signs}
    for value in recurrent:
        plain, marked = RECURRENCE[value]
        if plain in classes:
            classes = (classes - {plain}) | {marked}
    if not classes:
        classes = {"C0"}
    return tuple(c for c in C_ORDER if c in classes)


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


_ceap_segment = trusted(CeapSegment)
_ceap_segment_list = trusted(CeapSegmentList)
_ceap_result = trusted(CeapResult)


class _Hit:
    """One pathological CEAP segment of a walk: its P types and the entries behind it."""

    __slots__ = ("types", "veins")

    def __init__(self) -> None:  # a plain class: one is built per hit on the hot path
        self.types: set[str] = set()
        self.veins: list[tuple[str, str | None]] = []


def _where(vein: str, site: str | None) -> str:
    return f"{vein} {site}" if site else vein


def _class_note(clinical: Clinical, classes: tuple[str, ...]) -> str:
    if not clinical.signs:
        return "No sign recorded: C0 (no visible or palpable sign of venous disease)."
    given = "; ".join(f"{s} -> {SIGN_CLASS[s]}" for s in dict.fromkeys(clinical.signs))
    note = f"Signs: {given}."
    if "C2r" in classes or "C6r" in classes:
        note += " Recurrence recorded: 2020 'r' modifier (C2r/C6r)."
    if "ulcer" in clinical.recurrent and "C5" in classes and "C6r" not in classes:
        note += (
            " The healed ulcer is recorded as a recurrence: CEAP 2020 has an 'r' modifier "
            "only for C2 and C6 (no C5r), so it is classified C5."
        )
    return note + f" Basic class: {highest_class(classes)}."


# Each part builder returns (value, evidence, ambiguities); `derive_ceap` keeps their order.


def _c_part(clinical: Clinical) -> tuple[tuple[str, ...], Evidence, list[str]]:
    classes = clinical_classes(clinical)
    ev = evidence(
        "ceap.c-class", ["CEAP20", "CEAP04"], level="V2", note=_class_note(clinical, classes)
    )
    ambiguities: list[str] = []
    if "ulcer" in clinical.recurrent and "C5" in classes and "C6r" not in classes:
        ambiguities.append(
            "Recurrent ulcer recorded on a healed ulcer: CEAP 2020 has no C5r, so the leg is C5."
        )
    if "C4b" in classes and "C4c" in classes:
        ambiguities.append(
            "C4b and C4c both present: the basic class is C4c, the later one in "
            "the CEAP 2020 table; the reference does not rank the C4 subclasses."
        )
    return classes, ev, ambiguities


def symptoms_of(clinical: Clinical) -> Symptoms | None:
    """The S/A part: "S", "A", or None when `symptomatic` is not recorded."""
    if clinical.symptomatic is None:
        return None
    return "S" if clinical.symptomatic else "A"


def etiology_of(clinical: Clinical) -> str | None:
    """The E part from `clinical.etiology` only (never guessed); None when not stated."""
    return EXAM_ETIOLOGY[clinical.etiology] if clinical.etiology is not None else None


def _s_part(clinical: Clinical) -> tuple[Symptoms | None, Evidence, list[str]]:
    symptoms = symptoms_of(clinical)
    ev = evidence(
        "ceap.symptoms",
        ["CEAP20", "CEAP04", "ESVS22"],
        level="V2",
        note="clinical.symptomatic not recorded."
        if symptoms is None
        else f"clinical.symptomatic = {str(clinical.symptomatic).lower()} -> {symptoms}.",
    )
    if symptoms is None:
        return None, ev, ["Symptoms not recorded: S/A not determinable (no S/A modifier written)."]
    return symptoms, ev, []


def _e_part(clinical: Clinical) -> tuple[str | None, Evidence, list[str]]:
    e = etiology_of(clinical)
    ev = evidence(
        "ceap.etiology",
        ["CEAP20"],
        level="V2",
        note="clinical.etiology not stated: undetermined."
        if e is None
        else f"clinical.etiology = {clinical.etiology} -> {e} ({CEAP.etiology[e].meaning}).",
    )
    if e is None:
        return None, ev, ["Etiology not stated: E undetermined (not guessed; E part omitted)."]
    return e, ev, []


@lru_cache(maxsize=1024)  # few distinct clinical sections (frozen, hashable); every leg asks
def _clinical_parts(
    clinical: Clinical,
) -> tuple[
    tuple[tuple[str, ...], Evidence, tuple[str, ...]],
    tuple[Symptoms | None, Evidence, tuple[str, ...]],
    tuple[str | None, Evidence, tuple[str, ...]],
]:
    """The C, S/A and E parts of a leg with their evidence and ambiguities."""
    c, c_ev, c_amb = _c_part(clinical)
    sa, s_ev, s_amb = _s_part(clinical)
    e, e_ev, e_amb = _e_part(clinical)
    return (c, c_ev, tuple(c_amb)), (sa, s_ev, tuple(s_amb)), (e, e_ev, tuple(e_amb))


Entry = tuple[str, str | None]
"""(vein, site) of an exam entry, named in texts as `_where` does."""


@dataclass(slots=True)
class ApWalk:
    """What the A/P walk over the leg's segment entries found (`walk_segments`; entries as
    (vein, site): the full result names them, the decisions tier only counts)."""

    hits: dict[str, _Hit] = field(default_factory=dict)
    not_measured: list[Entry] = field(default_factory=list)
    examined: bool = False
    mapped: list[str] = field(default_factory=list)
    """Vein codes whose CEAP segment has another name."""
    incompetent_only: list[Entry] = field(default_factory=list)

    def hit(self, abbr: str, where: Entry, refluxing: bool, obstructed: bool) -> None:
        hit = self.hits.get(abbr)
        if hit is None:
            hit = self.hits[abbr] = _Hit()
        hit.veins.append(where)
        if refluxing:
            hit.types.add("r")
        if obstructed:
            hit.types.add("o")


class WalkedSegment(Judged, Protocol):
    """What the A/P walk reads of a segment verdict (SegmentResult, or the lean
    venalab.decisions.SegmentDecision)."""

    @property
    def obstruction(self) -> bool | None: ...
    @property
    def thrombus(self) -> object | None: ...
    @property
    def compressibility(self) -> str | None: ...


class WalkedPerforator(Protocol):
    """What the A/P walk reads of a perforator decision."""

    @property
    def vein(self) -> str: ...
    @property
    def incompetent(self) -> bool | None: ...
    @property
    def pathologic(self) -> bool: ...


def thrombosed_veins(thrombosis: ThrombosisResult | ThrombosisDecision) -> frozenset[str]:
    """Veins with a deep or superficial thrombus: obstruction (Po) for CEAP."""
    return frozenset(t.vein for t in (*thrombosis.deep, *thrombosis.superficial))


def _perforator_reflux(
    seg: WalkedSegment, perf: WalkedPerforator | None, found: ApWalk
) -> tuple[bool, bool]:
    """(refluxing, known) of a perforator entry from its paired perforator result."""
    if perf is None or perf.vein != seg.vein:
        raise ValueError(
            "derive_ceap: `perforators` must hold the perforator results of "
            "`segments`, in the same order"
        )
    # CEAP records where reflux is (CEAP04's example: "incompetent calf perforators"
    # -> Ap, segment 18), so an incompetent perforator counts, with exactly the verdicts
    # the perforator result shows: `incompetent` (outward flow is reflux under the set's
    # perforator rule, the verdict of its `segments[]` entry too) or `pathologic`. An entry
    # exactly at the cut-off that is neither does not count (its boundary note says so).
    refluxing = perf.incompetent is True or perf.pathologic
    if refluxing and not perf.pathologic:
        found.incompetent_only.append((seg.vein, seg.site))
    return refluxing, perf.incompetent is not None


def _segment_notes(seg: SegmentResult, where: str) -> list[str]:
    notes = []
    if seg.reflux == "boundary":
        notes.append(f"{where}: {boundary_phrase(seg)}.")
    if seg.criteria_disagreement:
        verdicts = "; ".join(f"{v.criteria}: {v.verdict}" for v in seg.criteria_disagreement)
        notes.append(
            f"{where}: criteria sets disagree on reflux ({verdicts}); CEAP "
            f"uses {seg.evidence.criteria or 'the selected set'}."
        )
    return notes


_IS_PERFORATOR: frozenset[str] = frozenset(c for c, v in VEINS.items() if v.is_perforator)
_CEAP_OF: dict[str, str] = {c: v.ceap for c, v in VEINS.items()}


def walk_segments(
    segments: Sequence[WalkedSegment],
    perforators: Sequence[WalkedPerforator],
    thrombosed: frozenset[str],
) -> ApWalk:
    """The A/P walk of one leg (both tiers; `derive_ceap` renders it): per CEAP segment the
    entries that make it pathological (reflux: an abnormal verdict, or an incompetent or
    pathologic perforator; obstruction: obstruction, a thrombus, or a vein in `thrombosed`),
    whether anything was examined, and what reflux was not measured in. (One pass with its
    tables in locals: every leg of every exam takes it, issue 21.)"""
    found = ApWalk()
    hits = found.hits
    not_measured = found.not_measured
    mapped = found.mapped
    examined = False
    perf_iter = iter(perforators)
    is_perforator = _IS_PERFORATOR
    ceap_of = _CEAP_OF
    for seg in segments:
        code = seg.vein
        if code in is_perforator:
            refluxing, known = _perforator_reflux(seg, next(perf_iter, None), found)
        else:
            abnormal = seg.abnormal
            refluxing, known = abnormal is True, abnormal is not None
        thrombus = seg.thrombus
        obstruction = seg.obstruction
        if known:
            examined = True
        else:
            not_measured.append((code, seg.site))
            if obstruction is not None or thrombus is not None or seg.compressibility is not None:
                examined = True
        obstructed = obstruction is True or thrombus is not None or code in thrombosed
        if refluxing or obstructed:
            abbr = ceap_of[code]
            if abbr != code:
                mapped.append(code)
            hit = hits.get(abbr)
            if hit is None:
                hit = hits[abbr] = _Hit()
            hit.veins.append((code, seg.site))
            if refluxing:
                hit.types.add("r")
            if obstructed:
                hit.types.add("o")
    found.examined = examined
    if thrombosed:
        for v in sorted(thrombosed - {s.vein for s in segments}):
            found.hit(_CEAP_OF[v], (v, None), refluxing=False, obstructed=True)
            found.examined = True
    if next(perf_iter, None) is not None:
        raise ValueError("derive_ceap: more perforator results than perforator segments")
    return found


def _walk_notes(
    segments: tuple[SegmentResult, ...], found: ApWalk, non_compressible: tuple[str, ...]
) -> list[str]:
    """The walk's notes for the full result: boundary and disagreement notes per entry, what
    was not counted as obstruction, and what was not measured."""
    notes = [
        n
        for s in segments
        if s.reflux == "boundary" or s.criteria_disagreement  # the entries with notes
        for n in _segment_notes(s, _where(s.vein, s.site))
    ]
    if non_compressible:
        notes.append(
            f"Non-compressible {', '.join(non_compressible)} without "
            "a thrombus description: not counted as obstruction (Po)."
        )
    if found.not_measured and found.examined:
        notes.append(
            f"Reflux not measured in {', '.join(_where(*e) for e in found.not_measured)}: "
            "their reflux status does not enter A/P."
        )
    return notes


@lru_cache(maxsize=4096)  # few distinct segment lists
def _legacy_numbers(abbrs: tuple[str, ...]) -> tuple[int, ...]:
    return legacy_numbers_of(abbrs)


@dataclass(frozen=True)
class _APPart:
    a_groups: tuple[AGroup, ...]
    p_types: tuple[PCode, ...]
    details: tuple[CeapSegment, ...]
    lists: tuple[CeapSegmentList, ...]
    p_segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]]
    a_evidence: Evidence
    p_evidence: Evidence
    ambiguities: list[str]


def _ap_note(found: ApWalk, details: tuple[CeapSegment, ...]) -> str:
    listing = (
        "; ".join(
            f"{d.abbreviation} ({'/'.join('P' + t for t in d.pathophysiology)}: "
            f"{', '.join(d.veins)})"
            for d in details
        )
        or "none"
    )
    note = f"Pathological segments: {listing}."
    if found.mapped:
        mapped = dict.fromkeys(f"{v} -> {_CEAP_OF[v]}" for v in found.mapped)
        note += f" Mapped to CEAP 2020 segments: {', '.join(mapped)}."
    if found.incompetent_only:
        note += (
            f" Incompetent perforator(s) counted although not pathologic: "
            f"{', '.join(_where(*e) for e in found.incompetent_only)}."
        )
    return note


def _ap_codes(found: ApWalk) -> tuple[tuple[AGroup, ...], tuple[PCode, ...]]:
    """A groups and P types of the walk: () when nothing was examined, An/Pn when nothing
    examined was pathological."""
    if not found.examined:
        return (), ()
    if not found.hits:
        return ("n",), ("n",)
    groups = {SEGMENTS[a].group for a in found.hits}
    types = {t for hit in found.hits.values() for t in hit.types}
    return (
        tuple(g for g in GROUP_ORDER if g in groups),
        tuple(t for t in P_ORDER if t in types),
    )


def ap_decision(walk: ApWalk) -> tuple[tuple[AGroup, ...], tuple[PCode, ...]]:
    """The A and P codes of one leg's walk (`walk_segments`) without their evidence."""
    return _ap_codes(walk)


def _ap_part(
    segments: tuple[SegmentResult, ...],
    perforators: tuple[PerforatorResult, ...],
    thrombosis: ThrombosisResult,
    walk: ApWalk | None,
) -> _APPart:
    found = walk or walk_segments(segments, perforators, thrombosed_veins(thrombosis))
    hits = found.hits
    ambiguities = _walk_notes(segments, found, thrombosis.non_compressible_without_thrombus)
    details = tuple(
        _ceap_segment(
            abbreviation=a,
            name=SEGMENTS[a].name,
            group=SEGMENTS[a].group,
            pathophysiology=tuple(t for t in P_ORDER if t in hits[a].types),
            legacy=SEGMENTS[a].legacy_export,
            legacy_flagged=SEGMENTS[a].legacy_flagged,
            veins=tuple(_where(*e) for e in hits[a].veins),
        )
        for a in order_segments(hits)
    )
    ambiguities += [
        f"{d.abbreviation} has no CEAP 2004 segment number: legacy strings "
        f"write {d.legacy} ({SEGMENTS[d.abbreviation].note or 'flagged'})."
        for d in details
        if d.legacy_flagged
    ]
    a_groups, p_types = _ap_codes(found)
    if not found.examined:
        ambiguities.append("No segment findings recorded: A and P not determinable.")
    by_pair: dict[tuple[str, str], list[str]] = {}  # (P type, A group) -> abbreviations
    by_type: dict[str, list[str]] = {}
    for d in details:  # in segment order
        for t in d.pathophysiology:
            by_pair.setdefault((t, d.group), []).append(d.abbreviation)
            by_type.setdefault(t, []).append(d.abbreviation)
    lists = tuple(
        _ceap_segment_list(
            group=g, pathophysiology=t, segments=abbrs, legacy=_legacy_numbers(abbrs)
        )
        for t in P_ORDER
        for g in GROUP_ORDER
        if (abbrs := tuple(by_pair.get((t, g), ())))
    )
    p_segments: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
    for code in p_types:
        abbrs = order_segments(by_type.get(code, ()))
        p_segments[code] = (abbrs, _legacy_numbers(abbrs))

    a_text = "A" + ",".join(a_groups) if a_groups else None
    p_text = "P" + ",".join(p_types) if p_types else None
    ap_note = _ap_note(found, details)
    a_ev = evidence(
        "ceap.anatomy",
        ["VENALAB", "CEAP20"],
        level="D",
        note=f"{a_text or 'A not determinable'}. {ap_note}"
        + " Pathological = abnormal reflux verdict, obstruction or thrombus; perforators count "
        "when incompetent or pathologic, as their own results show.",
    )
    p_note = f"{p_text or 'P not determinable'}. {ap_note}"
    acute = [t.vein for t in thrombosis.deep if t.age in ("acute", "subacute")]
    if acute:
        p_note += (
            f" Acute/subacute thrombus in {', '.join(acute)} counted as Po (CEAP20: "
            "obstruction including thrombosis)."
        )
    p_ev = evidence("ceap.pathophysiology", ["VENALAB", "CEAP20"], level="D", note=p_note)
    return _APPart(a_groups, p_types, details, lists, p_segments, a_ev, p_ev, ambiguities)


def derive_ceap(
    clinical: Clinical,
    segments: tuple[SegmentResult, ...],
    perforators: tuple[PerforatorResult, ...],
    thrombosis: ThrombosisResult,
    *,
    exam_date: dt.date | None = None,
    level_of_investigation: str | None = "LII",
    legacy_numbers: bool = False,
    walk: ApWalk | None = None,
) -> CeapResult:
    """CEAP 2020 of one leg from its clinical facts and the engine's segment verdicts.

    `perforators` must be the engine's results for the perforator entries of `segments`, in
    the same order (as `engine.assess_leg` builds them). `level_of_investigation` is one of
    LI, LII, LIII (CEAP04) or None; date and level are appended to the advanced string.
    `walk`: the A/P walk the decisions took over the same entries (`walk_segments` with
    `thrombosed_veins(thrombosis)`), rendered instead of walking again.
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
    (classes, c_ev, c_amb), (symptoms, s_ev, s_amb), (e, e_ev, e_amb) = _clinical_parts(clinical)
    ap = _ap_part(segments, perforators, thrombosis, walk)
    part_ev = {"C": c_ev, "S": s_ev, "E": e_ev, "A": ap.a_evidence, "P": ap.p_evidence}
    if level_of_investigation is not None:
        part_ev["L"] = evidence(
            "ceap.level-of-investigation",
            ["CEAP04"],
            level="U",
            note=f"{level_of_investigation}: {CEAP.levels[level_of_investigation].meaning} "
            "(CEAP04; exact level definitions unverified).",
        )

    parts = CeapParts(
        classes=classes,
        symptoms=symptoms,
        e=e,
        a_groups=ap.a_groups,
        p_types=ap.p_types,
        p_segments=ap.p_segments,
        date=exam_date,
        level=level_of_investigation,
    )
    seg_style: Style = "2004" if legacy_numbers else "2020"
    basic = render_ceap(parts, advanced=False)
    advanced = render_ceap(parts, advanced=True, segments=seg_style)
    return _ceap_result(
        basic=basic,
        advanced=advanced,
        legacy_basic=render_ceap(parts, advanced=False, classes="2004", segments="2004"),
        legacy_advanced=render_ceap(parts, advanced=True, classes="2004", segments="2004"),
        c_classes=classes,
        c_basic=highest_class(classes),
        symptoms=symptoms,
        e=e,
        a="A" + ",".join(ap.a_groups) if ap.a_groups else None,
        a_groups=ap.a_groups,
        p="P" + ",".join(ap.p_types) if ap.p_types else None,
        p_types=ap.p_types,
        segments=ap.lists,
        segment_details=ap.details,
        exam_date=exam_date,
        level_of_investigation=level_of_investigation,
        legacy_numbers=legacy_numbers,
        ambiguities=(*c_amb, *s_amb, *e_amb, *ap.ambiguities),
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
        make_finding(
            id=f"ceap.{side}",
            leg=side,
            importance=4,
            evidence=ceap.evidence,
            text=f"{name} leg CEAP: {ceap.basic} (advanced {ceap.advanced}).",
        )
    ]
    if ceap.ambiguities:
        out.append(
            make_finding(
                id=f"ceap.ambiguity.{side}",
                leg=side,
                importance=4,
                evidence=ceap.evidence.model_copy(update={"rule": "ceap.ambiguity"}),
                text=f"{name} leg CEAP, not derivable or by convention: "
                + " ".join(ceap.ambiguities),
            )
        )
    return out
