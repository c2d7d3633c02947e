"""The impression a referring physician reads first: per leg, in clinical priority order.

Built from the result document only (a view of what the engine concluded, never a second
implementation of a rule): the thrombosis class and its label, the management pathway's
decision, the superficial thrombosis branch, the reflux patterns, the perforator verdicts,
CEAP and the scores, each with the evidence of the findings it restates. Order within a leg:

1. deep vein thrombosis and its pathway (then a non-compressible vein without a thrombus,
   perforator thrombus, chronic post-thrombotic change),
2. superficial vein thrombosis, the one nearest a junction first,
3. reflux: axial patterns first, then junctional, segmental, and reflux outside a trunk,
4. pathologic, then incompetent perforators,
5. other findings of the leg (imaging),
6. what was examined and found normal ("no deep vein thrombosis in the veins examined"),
7. CEAP (or "not assessed") with the rVCSS and Villalta scores.

Within a group, the engine's finding importance (evidence.Importance) orders the lines.
`Impression.text()` is the engine's proposal for the physician's conclusion
(exam.Conclusion); `interop.findings.report_conclusion` prints the physician's text when
there is one, else this proposal.
"""

from __future__ import annotations

from typing import Literal

from venalab.assembly import SIDE_LABEL
from venalab.evidence import Evidence, Finding, Frozen
from venalab.exam import Side
from venalab.result import LegResult, Result
from venalab.rules.reflux import SegmentResult
from venalab.rules.thrombosis import ThrombosedSegment, sentence

Group = Literal["thrombosis", "svt", "reflux", "perforator", "other", "normal", "ceap"]
GROUP_ORDER: tuple[Group, ...] = (
    "thrombosis",
    "svt",
    "reflux",
    "perforator",
    "other",
    "normal",
    "ceap",
)

# Words for the pathway's decision and name (presentation of rules.pathways' enums).
DECISION_TEXT: dict[str, str] = {
    "serial-imaging": "serial ultrasound rather than anticoagulation",
    "anticoagulation": "anticoagulation",
    "no-anticoagulation": "no anticoagulation",
    "undetermined": "not decidable yet (facts missing, see recommendations)",
    "therapeutic-anticoagulation": "therapeutic anticoagulation (DVT equivalent)",
    "fondaparinux": "fondaparinux",
    "anticoagulation-to-consider": "anticoagulation to be considered",
}
PATHWAY_TEXT: dict[str, str] = {
    "iddvt": "isolated distal DVT pathway",
    "icmvt": "calf muscle vein thrombosis pathway",
    "proximal-dvt": "proximal DVT pathway",
    "svt": "superficial vein thrombosis pathway",
}
_PATTERN_RANK = {"axial": 0, "junctional": 1, "segmental": 2}
_TRUNK_NAME = {
    "GSV": "Great saphenous vein",
    "SSV": "Small saphenous vein",
    "AASV": "Anterior accessory saphenous vein",
    "PAGSV": "Posterior accessory great saphenous vein",
    "deep": "Deep veins",
}


class ImpressionLine(Frozen):
    group: Group
    text: str
    importance: int = 3
    evidence: tuple[Evidence, ...] = ()
    finding_ids: tuple[str, ...] = ()


class LegImpression(Frozen):
    side: Side
    examined: bool
    lines: tuple[ImpressionLine, ...] = ()

    @property
    def label(self) -> str:
        return SIDE_LABEL[(self.side,)]


class Impression(Frozen):
    legs: tuple[LegImpression, ...]
    general: tuple[ImpressionLine, ...] = ()

    def text(self) -> str:
        """The impression as plain text: one block per leg, then the exam-level lines."""
        blocks: list[str] = []
        for leg in self.legs:
            if not leg.examined:
                blocks.append(f"{leg.label}: not examined.")
                continue
            blocks.append(f"{leg.label}:\n" + "\n".join(f"- {x.text}" for x in leg.lines))
        if self.general:
            blocks.append("\n".join(x.text for x in self.general))
        return "\n".join(blocks)


# ---------------------------------------------------------------------------------------


def _findings(result: Result, side: Side, prefix: str) -> list[Finding]:
    return [f for f in result.findings if f.leg == side and f.id.startswith(prefix)]


def _importance(found: list[Finding], default: int = 3) -> int:
    return min((f.importance for f in found), default=default)


def _line(group: Group, text: str, found: list[Finding], default: int = 3) -> ImpressionLine:
    return ImpressionLine(
        group=group,
        text=text,
        importance=_importance(found, default),
        evidence=tuple(f.evidence for f in found),
        finding_ids=tuple(f.id for f in found),
    )


def _num(value: float | None, unit: str) -> str | None:
    return None if value is None else f"{value:g} {unit}"


def _thrombus(s: ThrombosedSegment) -> str:
    occl = {True: "occlusive", False: "non-occlusive", None: None}[s.occlusive]
    parts = [p for p in (s.age, occl, _num(s.length_cm, "cm")) if p]
    where = s.vein + (f" {s.site}" if s.site else "")
    return where + (f" ({', '.join(parts)})" if parts else "")


def _management(lr: LegResult) -> str:
    p = lr.pathway
    if p.decision not in DECISION_TEXT or p.pathway not in PATHWAY_TEXT:
        return ""
    return f" Management: {DECISION_TEXT[p.decision]} ({PATHWAY_TEXT[p.pathway]})."


def _thrombosis_lines(result: Result, side: Side, lr: LegResult) -> list[ImpressionLine]:
    t = lr.thrombosis
    out: list[ImpressionLine] = []
    if t.classification != "none":
        found = _findings(result, side, f"thrombosis.{t.classification}.")
        veins = ", ".join(_thrombus(s) for s in t.deep)
        if t.chronic_only:
            text = f"Chronic post-thrombotic change ({sentence(t.label)} pattern): {veins}."
            out.append(_line("thrombosis", text, found, 3))
        else:
            text = f"{sentence(t.label)}: {veins}."
            if lr.pathway.pathway != "svt":
                text += _management(lr)
            out.append(_line("thrombosis", text, found, 2))
    if t.non_compressible_without_thrombus:
        found = _findings(result, side, "thrombosis.unexplained-noncompressible.")
        veins = ", ".join(t.non_compressible_without_thrombus)
        text = f"Non-compressible {veins} without a thrombus described: review the images."
        out.append(_line("thrombosis", text, found, 2))
    if t.perforator:
        found = _findings(result, side, "thrombosis.perforator.")
        text = "Perforator vein thrombus: " + ", ".join(_thrombus(s) for s in t.perforator) + "."
        out.append(_line("thrombosis", text, found, 2))
    return out


def _svt_lines(result: Result, side: Side, lr: LegResult) -> list[ImpressionLine]:
    t = lr.thrombosis
    if not t.superficial:
        return []
    found = _findings(result, side, "thrombosis.superficial.")
    svt = lr.pathway.svt
    ordered = sorted(
        t.superficial,
        key=lambda s: (s.distance_to_junction_cm is None, s.distance_to_junction_cm or 0.0),
    )
    parts = []
    for s in ordered:
        text = _thrombus(s)
        if s.distance_to_junction_cm is not None:
            text += f", {s.distance_to_junction_cm:g} cm from the junction"
        parts.append(text)
    line = "Superficial vein thrombosis: " + "; ".join(parts) + "."
    if svt is not None and svt.decision in DECISION_TEXT:
        line += f" Management: {DECISION_TEXT[svt.decision]} ({PATHWAY_TEXT['svt']})."
    return [_line("svt", line, found, 2)]


def _segment_key(s: SegmentResult) -> str:
    return s.vein + (f" ({s.site})" if s.site else "")


def _with_ms(names: tuple[str, ...], lr: LegResult) -> str:
    measured = {_segment_key(s): s.measured_ms for s in lr.segments if s.abnormal}
    return ", ".join(f"{n} {measured[n]:g} ms" if measured.get(n) is not None else n for n in names)


def _reflux_lines(result: Result, side: Side, lr: LegResult) -> list[ImpressionLine]:
    out: list[ImpressionLine] = []
    details = sorted(
        lr.reflux_pattern_details, key=lambda p: (_PATTERN_RANK.get(p.pattern, 3), p.trunk)
    )
    covered: set[str] = set()
    for p in details:
        found = _findings(result, side, f"reflux.pattern.{side}.{p.trunk}")
        name = _TRUNK_NAME.get(p.trunk, p.trunk)
        text = f"{name}: {p.pattern} reflux ({_with_ms(p.segments, lr)})."
        out.append(_line("reflux", text, found, 3 if p.pattern == "axial" else 4))
        covered.update(p.segments)
    outside = [
        s
        for s in lr.segments
        if s.abnormal and s.system != "perforator" and _segment_key(s) not in covered
    ]
    if outside:
        found = [
            f
            for f in _findings(result, side, "reflux.")
            if any(f.id.startswith(f"reflux.present.{side}.{s.vein}.") for s in outside)
        ]
        names = tuple(dict.fromkeys(_segment_key(s) for s in outside))
        out.append(_line("reflux", f"Reflux also in {_with_ms(names, lr)}.", found, 3))
    boundary = [s for s in lr.segments if s.reflux == "boundary" and not s.abnormal]
    if boundary:
        found = _findings(result, side, f"reflux.boundary.{side}.")
        text = "At the cut-off, not counted as reflux: " + ", ".join(
            f"{_segment_key(s)} {s.measured_ms:g} ms" for s in boundary
        )
        out.append(_line("reflux", text + ".", found, 3))
    return out


def _perforator_lines(result: Result, side: Side, lr: LegResult) -> list[ImpressionLine]:
    out: list[ImpressionLine] = []
    for pathologic in (True, False):
        perfs = [
            p
            for p in lr.perforators
            if p.pathologic == pathologic and (pathologic or p.incompetent)
        ]
        if not perfs:
            continue
        kind = "pathologic" if pathologic else "incompetent"
        found = _findings(result, side, f"perforator.{kind}.{side}.")
        names = []
        for p in perfs:
            values = [v for v in (_num(p.measured_ms, "ms"), _num(p.diameter_mm, "mm")) if v]
            where = p.vein + (f" ({p.label})" if p.label else "")
            names.append(where + (f" {', '.join(values)}" if values else ""))
        head = "Pathologic perforator" if pathologic else "Incompetent perforator, not pathologic"
        plural = "s" if len(perfs) > 1 else ""
        head = head.replace("perforator", f"perforator{plural}", 1)
        out.append(
            _line("perforator", f"{head}: {'; '.join(names)}.", found, 2 if pathologic else 3)
        )
    return out


def _strip_side(text: str, side: Side) -> str:
    for prefix in (f"{SIDE_LABEL[(side,)]}: ", f"{SIDE_LABEL[(side,)]} ", f"{side.capitalize()} "):
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            return rest[:1].upper() + rest[1:]
    return text


def _other_lines(result: Result, side: Side) -> list[ImpressionLine]:
    return [
        _line("other", _strip_side(f.text, side), [f], f.importance)
        for f in _findings(result, side, "imaging.")
        if f.importance <= 3
    ]


def _normal_lines(result: Result, side: Side, lr: LegResult) -> list[ImpressionLine]:
    """What was examined and found normal, saying only what was examined."""
    out: list[ImpressionLine] = []
    t = lr.thrombosis
    compressible = [s for s in lr.segments if s.compressibility == "full" and s.thrombus is None]
    no_reflux = [s for s in lr.segments if s.reflux == "absent"]
    measured = [s for s in lr.segments if "reflux" in s.examined]
    ev = (t.evidence,)
    if compressible and t.classification == "none" and not t.superficial:
        veins = ", ".join(dict.fromkeys(_segment_key(s) for s in compressible))
        text = f"No deep vein thrombosis in the veins examined: {veins} compressible"
        if not measured:
            text += ", reflux not measured"
        out.append(ImpressionLine(group="normal", text=text + ".", importance=4, evidence=ev))
    elif compressible and not measured and t.classification != "none":
        veins = ", ".join(dict.fromkeys(_segment_key(s) for s in compressible))
        text = f"Compressible, no thrombus: {veins} (reflux not measured)."
        out.append(ImpressionLine(group="normal", text=text, importance=4, evidence=ev))
    if measured and not lr.reflux_patterns and not any(s.abnormal for s in lr.segments):
        veins = ", ".join(dict.fromkeys(_segment_key(s) for s in no_reflux))
        text = "No reflux in the segments measured" + (f" ({veins})" if veins else "")
        out.append(
            ImpressionLine(
                group="normal",
                text=text + ".",
                importance=4,
                evidence=tuple(s.evidence for s in no_reflux[:1]),
            )
        )
    if not lr.segments:
        out.append(ImpressionLine(group="normal", text="No vein segment recorded.", importance=4))
    return out


def _ceap_line(result: Result, side: Side, lr: LegResult) -> ImpressionLine:
    found = _findings(result, side, f"ceap.{side}")
    if lr.ceap is None:
        why = lr.ceap_not_assessed
        text = "CEAP: not assessed (thrombosis study, no chronic venous sign recorded)."
        return ImpressionLine(
            group="ceap",
            text=text,
            importance=4,
            evidence=(why.evidence,) if why else (),
            finding_ids=tuple(f.id for f in found),
        )
    parts = [f"CEAP {lr.ceap.basic}"]
    found += _findings(result, side, f"vcss.{side}") + _findings(result, side, f"villalta.{side}")
    if lr.vcss is not None:
        v = lr.vcss
        parts.append(
            f"rVCSS {v.total}" if v.complete else f"rVCSS {v.total}-{v.upper_bound} (incomplete)"
        )
    if lr.villalta is not None:
        vi = lr.villalta
        score = f"{vi.total}" if vi.complete else f"{vi.total}-{vi.upper_bound}"
        parts.append(f"Villalta {score} ({vi.category or 'category undecided'})")
    return _line("ceap", "; ".join(parts) + ".", found, 4)


def leg_impression(result: Result, side: Side) -> LegImpression:
    lr = result.leg(side)
    if lr is None:
        return LegImpression(side=side, examined=False)
    lines = (
        _thrombosis_lines(result, side, lr)
        + _svt_lines(result, side, lr)
        + _reflux_lines(result, side, lr)
        + _perforator_lines(result, side, lr)
        + _other_lines(result, side)
        + _normal_lines(result, side, lr)
    )
    # stable: the builders already list each group's lines in clinical order
    lines.sort(key=lambda x: (GROUP_ORDER.index(x.group), x.importance))
    lines.append(_ceap_line(result, side, lr))
    return LegImpression(side=side, examined=True, lines=tuple(lines))


def _general_lines(result: Result) -> list[ImpressionLine]:
    """Exam-level findings (Wells, calcinosis work-up) of importance 1-3."""
    return [
        _line("other", f.text, [f], f.importance)
        for f in result.findings
        if f.leg is None and f.importance <= 3
    ]


def build_impression(result: Result) -> Impression:
    """The per-leg impression of a result (right leg first, as reports read)."""
    legs = tuple(leg_impression(result, side) for side in ("right", "left"))
    examined = tuple(x for x in legs if x.examined)
    not_examined = tuple(x for x in legs if not x.examined)
    return Impression(legs=examined + not_examined, general=tuple(_general_lines(result)))


def proposal_text(result: Result) -> str:
    """The engine's proposed conclusion (the impression as plain text)."""
    return build_impression(result).text()
