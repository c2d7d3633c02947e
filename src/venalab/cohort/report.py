"""The cohort report: prevalence tables and plots of a `venalab cohort assess` run.

One self-contained HTML file (plots embedded as SVG or PNG, matplotlib). Everything is
computed from the results folder (leg and segment result tables, the run description and
the rejected rows); the thresholds drawn on the duration plots are the `threshold_ms`
values of the results, i.e. those of the criteria set the run applied.

Sections: the run; legs by highest CEAP clinical class; reflux patterns by class (each
trunk); summary reflux and perforator prevalence by class; thrombosis classes; reflux
verdicts per vein (boundaries included); measured durations against the cut-offs;
calcification on plain X-ray by class (echoed input); age and sex; data completeness;
rejected rows. Counts are of legs (patterns, classes, thrombosis) or segment entries.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import polars as pl
from jinja2 import Environment, select_autoescape
from markupsafe import Markup

from venalab import __version__
from venalab.anatomy import VEINS
from venalab.cohort.runner import read_results
from venalab.errors import InvalidInput, Problem
from venalab.rules.ceap import C_ORDER
from venalab.rules.patterns import JUNCTIONS as _JUNCTION
from venalab.rules.patterns import TRUNKS

PATTERNS = ("axial", "junctional", "segmental")
PATTERN_COLORS = {"axial": "#b2182b", "junctional": "#f4a582", "segmental": "#92c5de"}
THROMBOSIS_ORDER = ("none", "distal-muscular", "distal-axial", "proximal")
VERDICTS = ("present", "boundary", "absent", "not-assessed")
VERDICT_COLORS = {
    "present": "#b2182b",
    "boundary": "#fdb863",
    "absent": "#4393c3",
    "not-assessed": "#d9d9d9",
}
CALCIFICATION_ORDER = (
    "none",
    "punctate",
    "trabecular",
    "reticular",
    "sheet",
    "cloud",
    "rim",
    "phlebolith",
    "amorphous",
)


# ---------------------------------------------------------------------------------------
# Figures


class _Figures:
    def __init__(self, image_format: str) -> None:
        if image_format not in ("svg", "png"):
            raise InvalidInput([Problem("images", "svg or png")], what="option")
        self.format = image_format
        self.count = 0

    def embed(self, fig: Any, alt: str) -> Markup:
        buf = io.BytesIO()
        fig.savefig(buf, format=self.format, bbox_inches="tight", dpi=110)
        plt.close(fig)
        self.count += 1
        if self.format == "svg":
            svg = buf.getvalue().decode("utf-8")
            svg = svg[svg.find("<svg") :]
            return Markup(f'<figure role="img" aria-label="{html.escape(alt)}">{svg}</figure>')
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        return Markup(
            f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'
        )


def _style() -> None:
    plt.rcParams.update(
        {
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.titlesize": 10,
            "axes.titleweight": "bold",
            "svg.fonttype": "none",
        }
    )


# ---------------------------------------------------------------------------------------
# Tables


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "–"


def _table(
    header: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    first_left: bool = True,
    groups: Sequence[tuple[str, int]] = (),
) -> Markup:
    """An HTML table; text cells left-aligned, numbers right; `groups` = spanning header."""

    def is_text(v: Any) -> bool:
        return isinstance(v, str) and not v.endswith("%") and not v[:1].isdigit() and v != "–"

    text_columns = {i for i, v in enumerate(rows[0]) if is_text(v)} if rows else set()
    if first_left:
        text_columns.add(0)

    def cell(v: Any, tag: str, i: int) -> str:
        cls = ' class="l"' if i in text_columns else ""
        if isinstance(v, int):
            v = f"{v:,}"
        elif isinstance(v, float):
            v = f"{v:,.1f}"
        return f"<{tag}{cls}>{html.escape(str(v)) if v is not None else '–'}</{tag}>"

    head = "".join(cell(h, "th", i) for i, h in enumerate(header))
    top = ""
    if groups:
        top = (
            "<tr>"
            + "".join(
                f'<th colspan="{span}" class="grp">{html.escape(name)}</th>'
                for name, span in groups
            )
            + "</tr>"
        )
    body = "".join(
        "<tr>" + "".join(cell(v, "td", i) for i, v in enumerate(r)) + "</tr>" for r in rows
    )
    return Markup(f"<table><thead>{top}<tr>{head}</tr></thead><tbody>{body}</tbody></table>")


# ---------------------------------------------------------------------------------------
# Sections


def _class_order(present: Sequence[str]) -> list[str]:
    return [c for c in C_ORDER if c in set(present)]


def _classes(legs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    purposes = [p for p in legs.get_column("purpose").unique().drop_nulls().sort().to_list()]
    counts = legs.group_by("c_highest", "purpose").len()
    classes = _class_order(counts.get_column("c_highest").to_list())
    total = legs.height
    by = {(r["c_highest"], r["purpose"]): r["len"] for r in counts.iter_rows(named=True)}
    per_purpose = {p: sum(v for (c, q), v in by.items() if q == p) for p in purposes}
    rows = []
    for c in classes:
        n = sum(v for (cc, _), v in by.items() if cc == c)
        rows.append(
            [c, n, _pct(n, total), *[_pct(by.get((c, p), 0), per_purpose[p]) for p in purposes]]
        )
    table = _table(
        ["highest class", "legs", "% of legs", *[f"% of {p} legs" for p in purposes]], rows
    )
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    width = 0.8 / max(1, len(purposes))
    x = np.arange(len(classes))
    for i, p in enumerate(purposes):
        ax.bar(
            x + (i - (len(purposes) - 1) / 2) * width,
            [100 * by.get((c, p), 0) / max(1, per_purpose[p]) for c in classes],
            width,
            label=p,
        )
    ax.set_xticks(x, classes)
    ax.set_ylabel("% of legs")
    ax.set_title("Highest CEAP clinical class, by exam purpose")
    ax.legend(frameon=False, fontsize=8)
    return {"table": table, "figure": figs.embed(fig, "Bar chart of legs by highest CEAP class")}


def _patterns(legs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    classes = _class_order(legs.get_column("c_highest").unique().to_list())
    n_by_class = dict(legs.group_by("c_highest").len().iter_rows())
    fig, axes = plt.subplots(1, len(TRUNKS), figsize=(11, 2.9), sharey=True)
    header: list[str] = ["highest class", "legs"]
    groups: list[tuple[str, int]] = [("", 2)]
    columns: list[list[str]] = []
    for ax, trunk in zip(axes, TRUNKS, strict=True):
        col = f"pattern_{trunk}"
        counts = legs.group_by("c_highest", col).len()
        by = {(r["c_highest"], r[col]): r["len"] for r in counts.iter_rows(named=True)}
        kinds = [p for p in PATTERNS if p != "junctional" or trunk in _JUNCTION]
        bottoms = np.zeros(len(classes))
        for p in kinds:
            values = np.array([100 * by.get((c, p), 0) / max(1, n_by_class[c]) for c in classes])
            ax.bar(classes, values, bottom=bottoms, color=PATTERN_COLORS[p], label=p, width=0.75)
            bottoms += values
            columns.append([_pct(by.get((c, p), 0), n_by_class[c]) for c in classes])
            header.append(p)
        groups.append((trunk, len(kinds)))
        ax.set_title(trunk)
        ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    axes[0].set_ylabel("% of legs in the class")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, frameon=False, fontsize=8, loc="upper right", ncol=3)
    fig.suptitle(
        "Reflux pattern of each trunk by highest CEAP class", fontsize=10, fontweight="bold", x=0.3
    )
    fig.tight_layout()
    rows = [[c, n_by_class[c], *[col[i] for col in columns]] for i, c in enumerate(classes)]
    return {
        "table": _table(header, rows, groups=groups),
        "figure": figs.embed(fig, "Stacked bars of reflux patterns by class"),
    }


def _summary_by_class(legs: pl.DataFrame, segs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    superficial = [f"pattern_{t}" for t in TRUNKS if t != "deep"]
    perf = (
        segs.filter(pl.col("perforator_pathologic").is_not_null())
        .group_by("row", "side")
        .agg(
            pl.col("perforator_pathologic").any().alias("pathologic"),
            pl.col("perforator_incompetent").fill_null(False).any().alias("incompetent"),
        )
    )
    flags = legs.join(perf, on=["row", "side"], how="left").select(
        "c_highest",
        pl.any_horizontal([pl.col(c).is_not_null() for c in superficial]).alias("superficial"),
        pl.any_horizontal([pl.col(c) == "axial" for c in superficial])
        .fill_null(False)
        .alias("axial superficial"),
        pl.col("pattern_deep").is_not_null().alias("deep"),
        pl.col("incompetent").fill_null(False).alias("incompetent perforator"),
        pl.col("pathologic").fill_null(False).alias("pathologic perforator"),
    )
    names = [
        "superficial",
        "axial superficial",
        "deep",
        "incompetent perforator",
        "pathologic perforator",
    ]
    agg = flags.group_by("c_highest").agg(pl.len().alias("n"), *[pl.col(c).sum() for c in names])
    by = {r["c_highest"]: r for r in agg.iter_rows(named=True)}
    classes = _class_order(list(by))
    rows = [[c, by[c]["n"], *[_pct(by[c][k], by[c]["n"]) for k in names]] for c in classes]
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    for k in names:
        ax.plot(classes, [100 * by[c][k] / by[c]["n"] for c in classes], marker="o", label=k)
    ax.set_ylabel("% of legs")
    ax.set_title("Legs with reflux or incompetent perforators, by highest class")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    return {
        "table": _table(
            [
                "highest class",
                "legs",
                *[f"{k} reflux" if "perforator" not in k else k for k in names],
            ],
            rows,
        ),
        "figure": figs.embed(fig, "Line chart of reflux prevalence by class"),
    }


def _thrombosis(legs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    counts = legs.group_by("purpose", "thrombosis").len()
    purposes = counts.get_column("purpose").unique().drop_nulls().sort().to_list()
    by = {(r["purpose"], r["thrombosis"]): r["len"] for r in counts.iter_rows(named=True)}
    per = {p: sum(v for (q, _), v in by.items() if q == p) for p in purposes}
    total = legs.height
    rows = []
    for t in THROMBOSIS_ORDER:
        n = sum(v for (_, tt), v in by.items() if tt == t)
        rows.append([t, n, _pct(n, total), *[_pct(by.get((p, t), 0), per[p]) for p in purposes]])
    dvt = {p: sum(by.get((p, t), 0) for t in THROMBOSIS_ORDER if t != "none") for p in purposes}
    split_rows = [
        [t, *[_pct(by.get((p, t), 0), dvt[p]) for p in purposes]]
        for t in THROMBOSIS_ORDER
        if t != "none"
    ]
    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    kinds = [t for t in THROMBOSIS_ORDER if t != "none"]
    x = np.arange(len(purposes))
    left = np.zeros(len(purposes))
    colors = {"distal-muscular": "#c2a5cf", "distal-axial": "#7b3294", "proximal": "#40004b"}
    for t in kinds:
        values = np.array([100 * by.get((p, t), 0) / max(1, per[p]) for p in purposes])
        ax.barh(x, values, left=left, color=colors[t], label=t)
        left += values
    ax.set_yticks(x, purposes)
    ax.set_xlabel("% of legs with deep vein thrombosis")
    ax.set_title("Deep vein thrombosis classification, by exam purpose")
    ax.legend(frameon=False, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return {
        "table": _table(
            ["classification", "legs", "% of legs", *[f"% of {p} legs" for p in purposes]], rows
        ),
        "split": _table(["among legs with DVT", *purposes], split_rows),
        "figure": figs.embed(fig, "Bar chart of thrombosis classes"),
    }


def _veins(segs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    counts = segs.group_by("vein", "reflux").len()
    by = {(str(r["vein"]), str(r["reflux"])): r["len"] for r in counts.iter_rows(named=True)}
    veins = [v for v in VEINS if any((v, k) in by for k in VERDICTS)]
    rows = []
    shares: dict[str, list[float]] = {k: [] for k in VERDICTS}
    for v in veins:
        n = sum(by.get((v, k), 0) for k in VERDICTS)
        assessed = n - by.get((v, "not-assessed"), 0)
        rows.append(
            [
                v,
                VEINS[v].name,
                n,
                *[by.get((v, k), 0) for k in VERDICTS],
                _pct(by.get((v, "present"), 0), assessed),
            ]
        )
        for k in VERDICTS:
            shares[k].append(100 * by.get((v, k), 0) / n)
    fig, ax = plt.subplots(figsize=(7.2, 0.22 * len(veins) + 1.0))
    y = np.arange(len(veins))
    left = np.zeros(len(veins))
    for k in VERDICTS:
        ax.barh(y, shares[k], left=left, color=VERDICT_COLORS[k], label=k)
        left += np.array(shares[k])
    ax.set_yticks(y, veins)
    ax.invert_yaxis()
    ax.set_xlabel("% of segment entries")
    ax.set_title("Reflux verdict per vein (boundary = exactly at the cut-off)")
    ax.legend(frameon=False, fontsize=7, ncol=4, loc="lower center", bbox_to_anchor=(0.5, 1.06))
    return {
        "table": _table(["vein", "name", "entries", *VERDICTS, "reflux among measured"], rows),
        "figure": figs.embed(fig, "Stacked bars of reflux verdicts per vein"),
    }


def _durations(segs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    group_of = {code: ("perforator" if v.is_perforator else v.system) for code, v in VEINS.items()}
    measured = segs.filter(
        pl.col("measured_ms").is_not_null() & pl.col("threshold_ms").is_not_null()
    ).select(
        pl.col("vein").cast(pl.String).replace_strict(group_of).alias("system"),
        "measured_ms",
        "threshold_ms",
    )
    systems = ["superficial", "deep", "perforator"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.6), sharey=False)
    rows = []
    bins = np.geomspace(10, 20000, 34)
    for ax, system in zip(axes, systems, strict=True):
        part = measured.filter(pl.col("system") == system)
        values = part.get_column("measured_ms").to_numpy()
        ax.hist(np.clip(values, 10, 20000), bins=bins, color="#6a8caf")
        ax.set_xscale("log")
        ax.set_title(f"{system} ({len(values):,} measured)")
        ax.set_xlabel("retrograde / outward flow, ms")
        for i, t in enumerate(sorted(set(part.get_column("threshold_ms").unique().to_list()))):
            ax.axvline(t, color="#b2182b", linestyle="--", linewidth=1)
            ax.text(
                t,
                ax.get_ylim()[1] * (0.95 - 0.1 * i),
                f" {t:g} ms",
                color="#b2182b",
                fontsize=7,
                va="top",
            )
        if len(values):
            q = np.percentile(values, [25, 50, 75, 95])
            rows.append([system, len(values), *[round(float(x)) for x in q]])
    axes[0].set_ylabel("segment entries")
    fig.suptitle("Measured durations and the cut-offs applied", fontsize=10, fontweight="bold")
    fig.tight_layout()
    return {
        "table": _table(["system", "measured", "P25 ms", "median ms", "P75 ms", "P95 ms"], rows),
        "figure": figs.embed(fig, "Histograms of reflux durations with cut-off lines"),
    }


def _calcification(legs: pl.DataFrame, figs: _Figures) -> dict[str, Any] | None:
    xray = legs.filter(pl.col("calcification").is_not_null())
    if xray.is_empty():
        return None
    counts = xray.group_by("c_highest", "calcification").len()
    by = {(r["c_highest"], r["calcification"]): r["len"] for r in counts.iter_rows(named=True)}
    classes = _class_order(counts.get_column("c_highest").unique().to_list())
    kinds = [k for k in CALCIFICATION_ORDER if any((c, k) in by for c in classes)]
    n = {c: sum(by.get((c, k), 0) for k in kinds) for c in classes}
    rows = [
        [
            c,
            n[c],
            _pct(n[c] - by.get((c, "none"), 0), n[c]),
            *[_pct(by.get((c, k), 0), n[c]) for k in kinds if k != "none"],
        ]
        for c in classes
    ]
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    bottom = np.zeros(len(classes))
    palette = plt.get_cmap("YlOrBr")
    shown = [k for k in kinds if k != "none"]
    for i, k in enumerate(shown):
        values = np.array([100 * by.get((c, k), 0) / max(1, n[c]) for c in classes])
        ax.bar(
            classes,
            values,
            bottom=bottom,
            color=palette(0.35 + 0.6 * i / max(1, len(shown) - 1)),
            label=k,
        )
        bottom += values
    ax.set_ylabel("% of X-rayed legs")
    ax.set_title("Subcutaneous calcification on plain X-ray, by highest class")
    ax.legend(frameon=False, fontsize=7)
    return {
        "legs": xray.height,
        "table": _table(
            [
                "highest class",
                "X-rayed legs",
                "any calcification",
                *[k for k in kinds if k != "none"],
            ],
            rows,
        ),
        "figure": figs.embed(fig, "Stacked bars of calcification patterns by class"),
    }


def _demographics(legs: pl.DataFrame, figs: _Figures) -> dict[str, Any]:
    exams = legs.unique("row").select("row", "sex", "age_years", "purpose")
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    bins = [float(b) for b in range(15, 101, 5)]
    for sex in ("female", "male", "other", "unknown"):
        ages = (
            exams.filter((pl.col("sex") == sex) & pl.col("age_years").is_not_null())
            .get_column("age_years")
            .to_numpy()
        )
        if len(ages):
            ax.hist(ages, bins=bins, alpha=0.6, label=f"{sex} ({len(ages):,})")
    ax.set_xlabel("age, years (exams stating age_years)")
    ax.set_ylabel("exams")
    ax.set_title("Age by sex")
    ax.legend(frameon=False, fontsize=7)
    sexes = exams.group_by("sex").len().sort("sex")
    rows = [[r["sex"], r["len"], _pct(r["len"], exams.height)] for r in sexes.iter_rows(named=True)]
    age_col = exams.get_column("age_years").drop_nulls().to_numpy()
    q1, med, q3 = np.percentile(age_col, [25, 50, 75]) if age_col.size else (0.0, 0.0, 0.0)
    age_row = (
        [f"{med:.0f}", f"{q1:.0f}–{q3:.0f}", f"{exams.height - age_col.size:,}"]
        if age_col.size
        else ["–", "–", f"{exams.height:,}"]
    )
    return {
        "table": _table(["sex", "exams", "%"], rows),
        "ages": _table(
            ["median age", "IQR", "exams without age_years (birth date given)"],
            [age_row],
            first_left=False,
        ),
        "figure": figs.embed(fig, "Histogram of age by sex"),
    }


def _completeness(legs: pl.DataFrame, segs: pl.DataFrame) -> Markup:
    n_seg = segs.height
    not_assessed = segs.filter(pl.col("reflux") == "not-assessed").height
    no_threshold = segs.filter(
        pl.col("measured_ms").is_not_null() & pl.col("threshold_ms").is_null()
    ).height
    rows = [
        [
            "segment entries without a reflux duration",
            not_assessed - no_threshold,
            _pct(not_assessed - no_threshold, n_seg),
        ],
        [
            "measured in a vein without a cut-off (iliac, pelvic)",
            no_threshold,
            _pct(no_threshold, n_seg),
        ],
        [
            "legs with symptoms not recorded",
            legs.filter(pl.col("symptomatic").is_null()).height,
            _pct(legs.filter(pl.col("symptomatic").is_null()).height, legs.height),
        ],
        [
            "legs with etiology not stated",
            legs.filter(pl.col("etiology").is_null()).height,
            _pct(legs.filter(pl.col("etiology").is_null()).height, legs.height),
        ],
    ]
    return _table(["item", "count", "%"], rows)


def _errors(errors: pl.DataFrame, limit: int = 25) -> dict[str, Any]:
    exams = errors.get_column("row").n_unique() if not errors.is_empty() else 0
    kinds = (
        errors.with_columns(
            pl.col("path")
            .str.replace_all(r"\[\d+\]", "[]")
            .str.replace(r"^legs\.(left|right)", "legs.<side>")
        )
        .group_by("path")
        .len()
        .sort("len", descending=True)
    )
    return {
        "exams": exams,
        "by_path": _table(["JSON path", "problems"], kinds.rows()),
        "first": _table(
            ["row", "patient id", "path", "message"],
            errors.head(limit)
            .select(pl.col("row").cast(pl.String), "patient_id", "path", "message")
            .rows(),
        ),
        "shown": min(limit, errors.height),
        "problems": errors.height,
    }


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{{ title }}</title>
<style>
 body { font-family: "DejaVu Sans", Arial, sans-serif; color: #222; margin: 0; background: #f6f6f4; }
 main { max-width: 1120px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
 h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 30px 0 8px; border-bottom: 2px solid #e4e4e0; padding-bottom: 4px; }
 h3 { font-size: 13px; margin: 14px 0 4px; }
 p, li { font-size: 13px; line-height: 1.45; } .muted { color: #666; font-size: 12px; }
 table { border-collapse: collapse; font-size: 12px; margin: 6px 0 10px; }
 th, td { border-bottom: 1px solid #e4e4e0; padding: 3px 9px; text-align: right; }
 th { background: #f0f0ec; } .l { text-align: left; } td { white-space: nowrap; } td.l { white-space: normal; max-width: 620px; }
 th.grp { text-align: center; border-bottom: 1px solid #ccc; background: #e8ecf0; }
 figure { margin: 6px 0 12px; } figure svg, figure img { max-width: 100%; height: auto; }
 .cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
 .card { background: #f0f4f8; border-radius: 6px; padding: 8px 14px; min-width: 120px; }
 .card b { display: block; font-size: 20px; } .card span { font-size: 11px; color: #555; }
 .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 4px 18px; }
 .warn { background: #fff4e5; border-left: 4px solid #f0a030; padding: 6px 10px; }
</style></head>
<body><main>
<h1>{{ title }}</h1>
<p class="muted">Input <code>{{ input }}</code>; results <code>{{ results }}</code>; generated {{ generated }} by venalab {{ version }}.
Criteria set <b>{{ run.criteria.id }}</b> (version {{ run.criteria.version }}); tibioperoneal trunk counted as
<b>{{ run.options.get("tibioperoneal_trunk", "distal") }}</b>; engine {{ run.engine }}. For research and quality
assurance; decision support is no substitute for clinical judgement.</p>
<div class="cards">
 <div class="card"><b>{{ "{:,}".format(summary.exams) }}</b><span>exams in the input</span></div>
 <div class="card"><b>{{ "{:,}".format(summary.valid) }}</b><span>exams assessed</span></div>
 <div class="card"><b>{{ "{:,}".format(summary.rejected) }}</b><span>exams rejected</span></div>
 <div class="card"><b>{{ "{:,}".format(legs) }}</b><span>legs</span></div>
 <div class="card"><b>{{ "{:,}".format(segments) }}</b><span>segment entries</span></div>
 <div class="card"><b>{{ dates }}</b><span>exam dates</span></div>
</div>

<h2>1. Legs by highest CEAP clinical class</h2>
<p>The highest clinical class of each leg (CEAP 2020, derived from the recorded signs; C2r and C6r are
recurrences). Percentages within each exam purpose.</p>
{{ classes.figure }}{{ classes.table }}

<h2>2. Reflux patterns by CEAP class</h2>
<p>Pattern of each trunk per leg (SVS22 1.1.b, SVS23 1.3.2): axial, junctional (confined to the SFJ/SPJ) or
segmental; a leg without reflux in a trunk counts as no pattern. Percent of legs in the class.</p>
{{ patterns.figure }}{{ patterns.table }}

<h2>3. Reflux and perforators by class</h2>
<p>Superficial = any pattern in GSV, SSV, AASV or PAGSV; deep = any deep pattern; perforators: at least one
incompetent (outward flow beyond the cut-off) or pathologic (SVS22 1.1.c; in C5–C6 legs beneath an ulcer, SVS11 2.5).</p>
{{ by_class.figure }}{{ by_class.table }}

<h2>4. Deep vein thrombosis</h2>
<p>Classification per leg: proximal (popliteal or above), distal-axial (tibial/peroneal veins{% if run.options.get("tibioperoneal_trunk", "distal") == "distal" %}, tibioperoneal trunk{% endif %}),
distal-muscular (gastrocnemius/soleal only).</p>
{{ thrombosis.figure }}{{ thrombosis.table }}
<h3>Anatomic split of the thromboses</h3>{{ thrombosis.split }}

<h2>5. Reflux verdicts per vein</h2>
<p>Every segment entry under the run's criteria set. <i>Boundary</i> = measured exactly at the cut-off (decided by
the set's comparison, e.g. 500 ms is not reflux under "&gt; 500 ms"); <i>not assessed</i> = no duration recorded, or a
vein without a cut-off.</p>
{{ veins.figure }}{{ veins.table }}

<h2>6. Measured durations</h2>
<p>Distribution of the recorded reflux (perforators: outward flow) durations; dashed lines are the cut-offs of the
criteria set for the veins of each system.</p>
{{ durations.figure }}{{ durations.table }}

{% if calcification %}
<h2>7. Calcification on plain X-ray</h2>
<p>Echoed input (imaging.&lt;side&gt;.calcification) of the {{ "{:,}".format(calcification.legs) }} legs with an X-ray.
Published figures for comparison: TOK09 found subcutaneous calcification in 65% of CVI patients and 20% of
controls (minimal only; trabecular/reticular types only in patients); an ultrasound series of 500 legs (US500)
found it only in C4a–C6 legs (24/95).</p>
{{ calcification.figure }}{{ calcification.table }}
{% endif %}

<h2>{{ 8 if calcification else 7 }}. Patients</h2>
<div class="grid"><div>{{ demographics.table }}{{ demographics.ages }}</div><div>{{ demographics.figure }}</div></div>

<h2>{{ 9 if calcification else 8 }}. Data completeness</h2>
{{ completeness }}

<h2>{{ 10 if calcification else 9 }}. Rejected exams</h2>
{% if errors.exams %}
<p class="warn">{{ "{:,}".format(errors.exams) }} exam(s) were rejected ({{ "{:,}".format(errors.problems) }} problem(s)) and are not in
the tables above; all are listed in <code>errors.jsonl</code> of the results folder.</p>
<h3>Problems by JSON path</h3>{{ errors.by_path }}
<h3>First {{ errors.shown }} problem(s)</h3>{{ errors.first }}
{% else %}<p>None: every exam of the input passed validation.</p>{% endif %}
</main></body></html>
"""


def write_report(
    results: Path, output: Path, *, title: str | None = None, image_format: str = "svg"
) -> dict[str, Any]:
    """Render the cohort report of a results folder into `output` (HTML)."""
    run_file = results / "run.json"
    if not run_file.exists():
        raise InvalidInput(
            [Problem("results", f"{results} is not a results folder of `venalab cohort assess`")],
            what="option",
        )
    run = json.loads(run_file.read_text(encoding="utf-8"))
    summary_file = results / "summary.json"
    summary = (
        json.loads(summary_file.read_text(encoding="utf-8")) if summary_file.exists() else None
    )
    legs, segs, errors = read_results(
        results,
        segment_columns=[
            "vein",
            "reflux",
            "measured_ms",
            "threshold_ms",
            "perforator_incompetent",
            "perforator_pathologic",
        ],
    )
    if summary is None:
        summary = {
            "exams": legs.get_column("row").n_unique(),
            "valid": legs.get_column("row").n_unique(),
            "rejected": 0,
        }
    if legs.is_empty():
        raise InvalidInput(
            [Problem("results", "no assessed legs in the results folder")], what="option"
        )
    _style()
    figs = _Figures(image_format)
    dates = legs.select(
        pl.col("exam_date").min().alias("lo"), pl.col("exam_date").max().alias("hi")
    ).row(0)
    context = {
        "title": title or "Venous duplex cohort report",
        "input": Path(run["input"]["path"]).name,
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "version": __version__,
        "results": str(results),
        "run": run,
        "summary": summary,
        "legs": legs.height,
        "segments": segs.height,
        "dates": f"{dates[0]:%Y}–{dates[1]:%Y}" if dates[0] else "–",
        "classes": _classes(legs, figs),
        "patterns": _patterns(legs, figs),
        "thrombosis": _thrombosis(legs, figs),
        "veins": _veins(segs, figs),
        "durations": _durations(segs, figs),
        "calcification": _calcification(legs, figs),
        "demographics": _demographics(legs, figs),
        "completeness": _completeness(legs, segs),
        "errors": _errors(errors),
    }
    context["by_class"] = _summary_by_class(legs, segs, figs)
    env = Environment(autoescape=select_autoescape(default=True))
    text = env.from_string(TEMPLATE).render(**context)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return {"legs": legs.height, "figures": figs.count, "bytes": len(text)}
