"""Generate docs/rules.md, the rule catalogue, from the data files and the source register.

Everything is read through venalab's own loaders (so the catalogue shows what the engine
uses, validated): criteria sets, vein groups and trunks (anatomy), the CEAP vocabulary, the
scores, the management pathways, the laboratory reference ranges and the source register.
Each source gets an anchor (`docs/rules.md#src-svs22`) and the list of data rows that cite
it, so code and reviews can point inside the repository.

Run:  .venv/bin/python tools/gen_rule_catalogue.py           (make catalogue)
      .venv/bin/python tools/gen_rule_catalogue.py --check   (make test: fails if stale)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from venalab.anatomy import GROUP_LABEL, TRUNKS, VEINS
from venalab.citations import CITATIONS
from venalab.criteria import CRITERIA
from venalab.rules.ceap import CEAP
from venalab.rules.comparison import COMPARISON
from venalab.rules.critical import CRITICAL
from venalab.rules.ehit import EHIT
from venalab.rules.imaging import IMAGING_PATTERNS
from venalab.rules.labs import DEFAULT_RANGES
from venalab.rules.pathways import PATHWAYS
from venalab.rules.villalta import VILLALTA_SCALE
from venalab.rules.wells import WELLS_RULE
from venalab.vcss_scale import VCSS_SCALE

OUT = Path(__file__).resolve().parents[1] / "docs" / "rules.md"

LEVELS = {
    "V": "verified against the primary source",
    "V2": "verified through a secondary source",
    "S": "secondary source only",
    "U": "unverified (flagged `unverified` in every result that uses it)",
    "D": "venalab derivation or convention (documented, needs clinical sign-off)",
}


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|") if text is not None else ""


def _src(ids: Iterable[str]) -> str:
    return ", ".join(f"[{i}](#src-{i.lower()})" for i in ids)


def _table(head: list[str], rows: Iterable[list[object]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _level(model: Any) -> str:
    return str(getattr(model, "evidence", None) or getattr(model, "level", "") or "")


def _criteria() -> list[str]:
    out = ["## Reflux criteria sets", ""]
    out.append(
        "Files `src/venalab/data/criteria/<id>.toml`; the engine's rule ids are "
        "`reflux.duration` (per vein group) and `perforator.*`. A value exactly at a cut-off "
        "is reported as `boundary`."
    )
    out.append("")
    for cs in CRITERIA.values():
        default = " (default)" if cs.default else ""
        out += [f'### <a id="criteria-{cs.id}"></a>{cs.id}{default}', ""]
        out += [f"{cs.title}, version {cs.version}; sources {_src(cs.sources)}.", ""]
        out += _table(
            ["vein group", "veins", "reflux if", "level", "sources", "note"],
            (
                [
                    name,
                    GROUP_LABEL[name],
                    f"{g.comparison} {g.threshold_ms:g} ms",
                    g.evidence,
                    _src(g.sources),
                    g.note or "",
                ]
                for name, g in cs.groups.items()
            ),
        )
        summary = cs.describe()
        out += [
            f"- Pathologic perforator: {summary.perforator} (level {cs.perforator.evidence}; "
            f"{_src(cs.perforator.sources)}).",
            f"- Patterns: {summary.accessory_axial} ({_src(cs.patterns.sources)}).",
            "",
        ]
    return out


def _trunks() -> list[str]:
    out = ["## Reflux-pattern trunks", ""]
    out.append(
        "File `src/venalab/data/anatomy.toml` `[trunks]`, read by `rules/patterns.py` and the "
        "vectorized cohort engine. Points: the first axis vein is point 0, each further vein "
        "three points (proximal, mid, distal)."
    )
    out.append("")
    rows = []
    for t in TRUNKS.values():
        members = ", ".join(c for c, v in VEINS.items() if v.trunk == t.name)
        span = (
            f"start {list(t.span.start)}, through {list(t.span.through)}, end {t.span.end}: "
            f"{t.span.label}"
            if t.span
            else "by position_cm"
        )
        rows.append([t.name, t.kind, " → ".join(t.axis) or "-", t.junction or "-", span, members])
    return out + _table(["trunk", "kind", "axis", "junction", "axial span", "veins"], rows)


def _ceap() -> list[str]:
    out = ["## CEAP vocabulary", ""]
    out += [f"File `src/venalab/data/ceap.toml`; sources {_src(CEAP.sources)}.", ""]
    rows = [
        [
            c,
            e.meaning,
            ", ".join(e.signs),
            e.legacy,
            e.recurrence or "",
            e.level,
            _src(e.sources),
        ]
        for c, e in CEAP.clinical.items()
    ]
    out += _table(
        ["class", "meaning", "exam signs", "2004", "recurrence", "level", "sources"], rows
    )
    rows = [[k, e.meaning, e.level, _src(e.sources)] for k, e in CEAP.etiology.items()]
    return out + _table(["etiology", "meaning", "level", "sources"], rows)


def _scores() -> list[str]:
    out = ["## Scores", ""]
    v = VCSS_SCALE
    out += [
        f"### {v.label}",
        "",
        f"File `src/venalab/data/scores/vcss.toml`; level {v.evidence}; {_src(v.sources)}. "
        f"Items: {', '.join(v.item_names)} (0-3 each, total 0-{v.max_total}). Severity: total "
        f"{v.severity.comparison} {v.severity.threshold} ({v.severity.evidence}; "
        f"{_src(v.severity.sources)}).",
        "",
    ]
    out += _table(
        ["conversion", "from field", "unit", "steps", "level", "sources"],
        (
            [
                k,
                c.field,
                c.unit,
                "; ".join(f"{s.comparison} {s.threshold:g} → {s.score}" for s in c.steps),
                c.evidence,
                _src(c.sources),
            ]
            for k, c in v.conversions.items()
        ),
    )
    vil = VILLALTA_SCALE
    out += [
        f"### {vil.label}",
        "",
        f"File `src/venalab/data/scores/villalta.toml`; level {vil.evidence}; {_src(vil.sources)}.",
        "",
    ]
    out += _table(
        ["category", "total", "level", "sources"],
        ([b.label, f"{b.min}-{b.max}", b.evidence, _src(b.sources)] for b in vil.bands),
    )
    w = WELLS_RULE
    out += ["### Wells DVT score", "", "File `src/venalab/data/scores/wells.toml`.", ""]
    out += _table(
        ["item", "points", "versions"],
        ([i.label, i.points, ", ".join(i.versions)] for i in w.items),
    )
    return out


def _pathways() -> list[str]:
    out = ["## Management pathways", ""]
    out += [
        "File `src/venalab/data/pathways.toml`; rule ids `pathway.<key>` (thrombosis) and "
        "`cvi.*`. Placeholders in braces are filled from the parameters below and the exam.",
        "",
    ]
    for section, params in PATHWAYS.params.model_dump().items():
        values = "; ".join(f"`{k}` = {v}" for k, v in params.items())
        out += [f"- Parameters `{section}`: {values}", ""]
    rows = [
        [f'<a id="rule-{key}"></a>`{key}`', r.text, r.strength or "", r.level, _src(r.sources)]
        for key, r in PATHWAYS.recommendations.items()
    ]
    return out + _table(["recommendation", "text", "strength", "level", "sources"], rows)


def _post_treatment() -> list[str]:
    out = ["## Exams after treatment: EHIT", ""]
    p = EHIT.params
    out += [
        "File `src/venalab/data/ehit.toml` (rules/ehit.py; rule ids `ehit.class`, "
        f"`ehit.management.<key>`). Methods: {', '.join(p.methods)}; lumen split "
        f"{p.lumen_split_percent:g}% (exactly at it: {p.at_split}, flagged); window "
        f"{p.window_days} days after the ablation.",
        "",
    ]
    out += _table(
        ["junction", "deep vein", "trunks"],
        ([j, s.deep_vein, ", ".join(s.trunks)] for j, s in EHIT.junctions.items()),
    )
    out += _table(
        ["class", "definition", "level", "sources"],
        ([c.label, c.definition, c.level, _src(c.sources)] for c in EHIT.classes.values()),
    )
    return out + _table(
        ["management", "decision", "text", "strength", "level", "sources"],
        (
            [k, m.decision, m.text, m.strength or "", m.level, _src(m.sources)]
            for k, m in EHIT.management.items()
        ),
    )


def _critical_results() -> list[str]:
    out = ["## Critical results", ""]
    out += [
        "File `src/venalab/data/critical.toml` (rules/critical.py; rule ids "
        "`critical.<criterion>`). The communication documented before sign-off: "
        f"{', '.join(CRITICAL.communication.fields)} ({_src(CRITICAL.communication.sources)}).",
        "",
    ]
    return out + _table(
        ["criterion", "label", "reason", "level", "sources"],
        ([k, c.label, c.reason, c.level, _src(c.sources)] for k, c in CRITICAL.criteria.items()),
    )


def _comparison() -> list[str]:
    c = COMPARISON
    return [
        "## Serial comparison",
        "",
        "File `src/venalab/data/comparison.toml` (rules/comparison.py; rule ids "
        f"`comparison.*`). Diameter change {c.diameter.comparison} {c.diameter.change_mm:g} mm "
        f"({c.diameter.level}; {_src(c.diameter.sources)}); thrombus length change "
        f"{c.thrombus_length.comparison} {c.thrombus_length.change_cm:g} cm "
        f"({c.thrombus_length.level}; {_src(c.thrombus_length.sources)}); a prior exam within "
        f"{c.serial_imaging.max_days} days is a serial-imaging scan "
        f"({c.serial_imaging.level}; {_src(c.serial_imaging.sources)}).",
        "",
    ]


def _labs() -> list[str]:
    rr = DEFAULT_RANGES
    out = ["## Laboratory reference ranges", ""]
    out += [
        f"File `src/venalab/data/reference_ranges.toml`: {rr.title} (version {rr.version}).",
        "",
    ]
    rows = [
        [
            name,
            a.unit,
            "" if a.low is None else f"{a.low:g}",
            "" if a.high is None else f"{a.high:g}",
            a.evidence,
            _src(a.sources),
            a.note or "",
        ]
        for name, a in rr.analytes.items()
    ]
    out += _table(["analyte", "unit", "low", "high", "level", "sources", "note"], rows)
    c = rr.ca_x_p
    out += [
        f"- Ca x PO4 target {c.target.comparison} {c.target.value:g} {c.unit} "
        f"({c.target.evidence}; {_src(c.target.sources)}); high risk {c.high_risk.comparison} "
        f"{c.high_risk.value:g} ({c.high_risk.evidence}; {_src(c.high_risk.sources)}).",
        "",
    ]
    return out


def _sourced(obj: Any, path: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(data path, sources) of every row of a loaded data object that names sources."""
    if isinstance(obj, BaseModel):
        sources = getattr(obj, "sources", None)
        if isinstance(sources, tuple) and sources:
            yield path, sources
        for name in type(obj).model_fields:
            yield from _sourced(getattr(obj, name), f"{path}.{name}")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from _sourced(value, f"{path}.{key}")
    elif isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            yield from _sourced(value, f"{path}[{i}]")


def _data() -> list[tuple[str, Any]]:
    return [
        *((f"criteria/{cs.id}", cs) for cs in CRITERIA.values()),
        ("ceap", CEAP),
        ("scores/vcss", VCSS_SCALE),
        ("scores/villalta", VILLALTA_SCALE),
        ("scores/wells", WELLS_RULE),
        ("pathways", PATHWAYS),
        ("reference_ranges", DEFAULT_RANGES),
        ("imaging_patterns", IMAGING_PATTERNS),
        ("ehit", EHIT),
        ("critical", CRITICAL),
        ("comparison", COMPARISON),
    ]


def _sources() -> list[str]:
    cited_by: dict[str, list[str]] = {}
    for name, obj in _data():
        for path, sources in _sourced(obj, name):
            for s in sources:
                cited_by.setdefault(s, []).append(path)
    out = ["## Sources", ""]
    out += [
        "File `src/venalab/data/citations.toml`. Each entry lists the data rows that cite it "
        "(file, then the path inside it).",
        "",
    ]
    for cid, c in sorted(CITATIONS.items()):
        doi, pmid = getattr(c, "doi", None), getattr(c, "pmid", None)
        links = [f"[DOI](https://doi.org/{doi})"] if doi else []
        links += [f"[PubMed](https://pubmed.ncbi.nlm.nih.gov/{pmid}/)"] if pmid else []
        link = f" {' · '.join(links)}" if links else ""
        status = str(getattr(c, "status", ""))
        out += [f'### <a id="src-{cid.lower()}"></a>{cid}', "", f"{_cell(c.text)}{link}", ""]
        out += [f"Record status: {status} ({LEVELS.get(status, status)}).", ""]
        rows = cited_by.get(cid, [])
        if rows:
            shown = ", ".join(f"`{r}`" for r in rows[:12])
            more = f" and {len(rows) - 12} more" if len(rows) > 12 else ""
            out += [f"Cited by {len(rows)} data row(s): {shown}{more}.", ""]
        else:
            out += ["Cited in code only (rule modules) or not at all in the data files.", ""]
    return out


def render() -> str:
    lines = [
        "# Rule catalogue",
        "",
        "<!-- Generated by tools/gen_rule_catalogue.py from src/venalab/data. Do not edit: "
        "run `make catalogue`; `make test` fails when this file is stale. -->",
        "",
        "What the engine applies, read from the versioned data files through the same loaders "
        "the engine uses. Every conclusion's evidence names a rule id and its sources; the "
        "sources are listed at the end with the data rows that cite them.",
        "",
        "Evidence levels: " + "; ".join(f"**{k}** {v}" for k, v in LEVELS.items()) + ".",
        "",
    ]
    parts = (
        _criteria,
        _trunks,
        _ceap,
        _scores,
        _pathways,
        _post_treatment,
        _critical_results,
        _comparison,
        _labs,
        _sources,
    )
    for part in parts:
        lines += part()
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT.name} is stale: run make catalogue", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(text.splitlines())} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
