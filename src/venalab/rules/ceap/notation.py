"""CEAP notation: rendering a classification as a string, and reading a string back.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import cast

from venalab.errors import InvalidInput, Problem
from venalab.evidence import Frozen
from venalab.rules.ceap.vocabulary import (
    CEAP,
    CLASS_ORDER,
    ETIOLOGY_CODES,
    LEGACY_RANGE,
    LEVELS,
    SEGMENT_ORDER,
    SEGMENTS,
    AGroup,
    PCode,
    PType,
    Style,
    Symptoms,
    abbreviations_of,
    highest_class,
    legacy_classes,
    legacy_numbers_of,
    order_numbers,
    order_segments,
)

# ---------------------------------------------------------------------------------------
# Rendering, shared by derived results and parsed strings.


@dataclass(frozen=True)
class CeapParts:
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


def render_ceap(
    parts: CeapParts, *, advanced: bool, classes: Style = "2020", segments: Style = "2020"
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

    def _parts(self) -> CeapParts:
        return CeapParts(
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
        return render_ceap(self._parts(), advanced=True, classes=style, segments=style)

    def basic(self, style: Style = "2020") -> str:
        """Basic CEAP (highest class, groups only) of the parsed string."""
        return render_ceap(self._parts(), advanced=False, classes=style, segments=style)

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
        seg_abbrs = order_segments(abbrs) if written == "2020" else abbreviations_of(numbers)
        seg_numbers = legacy_numbers_of(abbrs) if written == "2020" else order_numbers(numbers)
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
