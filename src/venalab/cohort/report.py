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
from collections.abc import Callable, Sequence
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
from venalab.cohort.table import ERROR_SCHEMA, LEG_RESULT_SCHEMA, SEGMENT_RESULT_SCHEMA
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
# Tallies: the small aggregate tables every section is drawn from
#
# A results folder can hold millions of legs and tens of millions of segment entries, so
# the report never loads it whole: each partition (its leg and segment files) is read on
# its own, reduced to counts keyed by a few categories, and the counts of all partitions
# are summed. Memory is that of one partition (less than assessing it took), whatever
# the size of the run. Exam-level counts (sex, age) are exact because an exam never spans
# partitions; the duration percentiles are computed from counts of durations rounded to
# 0.1 ms (the same numbers as from the raw values to that precision).

LEG_COLUMNS = [
    "row",
    "side",
    "exam_date",
    "purpose",
    "sex",
    "age_years",
    "symptomatic",
    "etiology",
    "calcification",
    "c_highest",
    *[f"pattern_{t}" for t in TRUNKS],
    "thrombosis",
]
SEGMENT_COLUMNS = [
    "row",
    "side",
    "vein",
    "reflux",
    "measured_ms",
    "threshold_ms",
    "perforator_incompetent",
    "perforator_pathologic",
]
SUPERFICIAL = [f"pattern_{t}" for t in TRUNKS if t != "deep"]
FLAGS = (
    "superficial",
    "axial superficial",
    "deep",
    "incompetent perforator",
    "pathologic perforator",
)
_SYSTEM_OF = {code: ("perforator" if v.is_perforator else v.system) for code, v in VEINS.items()}


def _partition_tallies(legs: pl.DataFrame, segs: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Counts of one partition (each frame: key columns and `n` or other summable columns)."""

    def count(df: pl.DataFrame, *keys: str) -> pl.DataFrame:
        return df.group_by(*keys).agg(pl.len().cast(pl.Int64).alias("n"))

    out = {
        "classes": count(legs, "c_highest", "purpose"),
        "thrombosis": count(legs, "purpose", "thrombosis"),
        "calcification": count(
            legs.filter(pl.col("calcification").is_not_null()), "c_highest", "calcification"
        ),
        "exams": count(legs.unique("row", keep="first"), "sex", "age_years"),
        "veins": count(segs, "vein", "reflux"),
    }
    for trunk in TRUNKS:
        out[f"pattern_{trunk}"] = count(legs, "c_highest", f"pattern_{trunk}")
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
        pl.any_horizontal([pl.col(c).is_not_null() for c in SUPERFICIAL]).alias("superficial"),
        pl.any_horizontal([pl.col(c) == "axial" for c in SUPERFICIAL])
        .fill_null(False)
        .alias("axial superficial"),
        pl.col("pattern_deep").is_not_null().alias("deep"),
        pl.col("incompetent").fill_null(False).alias("incompetent perforator"),
        pl.col("pathologic").fill_null(False).alias("pathologic perforator"),
    )
    out["flags"] = flags.group_by("c_highest").agg(
        pl.len().cast(pl.Int64).alias("n"), *[pl.col(c).sum().cast(pl.Int64) for c in FLAGS]
    )
    measured = segs.filter(
        pl.col("measured_ms").is_not_null() & pl.col("threshold_ms").is_not_null()
    ).select(
        pl.col("vein").cast(pl.String).replace_strict(_SYSTEM_OF).alias("system"),
        pl.col("measured_ms").round(1),
        "threshold_ms",
    )
    out["durations"] = count(measured, "system", "measured_ms")
    out["thresholds"] = count(measured, "system", "threshold_ms")
    not_assessed = segs.filter(pl.col("reflux") == "not-assessed").height
    no_threshold = segs.filter(
        pl.col("measured_ms").is_not_null() & pl.col("threshold_ms").is_null()
    ).height
    out["totals"] = pl.DataFrame(
        {
            "legs": [legs.height],
            "segments": [segs.height],
            "not_assessed": [not_assessed],
            "no_threshold": [no_threshold],
            "symptomatic_unknown": [legs.get_column("symptomatic").null_count()],
            "etiology_unknown": [legs.get_column("etiology").null_count()],
        },
        schema={k: pl.Int64 for k in _TOTALS},
    )
    out["dates"] = legs.select(
        pl.col("exam_date").min().alias("lo"), pl.col("exam_date").max().alias("hi")
    )
    return out


_TOTALS = (
    "legs",
    "segments",
    "not_assessed",
    "no_threshold",
    "symptomatic_unknown",
    "etiology_unknown",
)


class _Tallies:
    """The tallies of a whole run: partition tallies, summed."""

    def __init__(self) -> None:
        self._parts: dict[str, list[pl.DataFrame]] = {}

    def add(self, tallies: dict[str, pl.DataFrame]) -> None:
        for name, df in tallies.items():
            self._parts.setdefault(name, []).append(df)
        # keep the lists short: fold every 32 partitions (a run may have thousands)
        if len(self._parts["totals"]) >= 32:
            for name in list(self._parts):
                self._parts[name] = [self[name]]

    def __getitem__(self, name: str) -> pl.DataFrame:
        df = pl.concat(self._parts[name])
        if name == "dates":
            return df.select(pl.col("lo").min(), pl.col("hi").max())
        if name == "totals":
            return df.sum()
        values = [c for c, t in df.schema.items() if t == pl.Int64 and c in ("n", *FLAGS)]
        keys = [c for c in df.columns if c not in values]
        return df.group_by(keys).agg(pl.col(values).sum())

    def total(self, name: str) -> int:
        return int(self["totals"].get_column(name)[0])


def _partition_files(results: Path) -> list[tuple[Path, Path]]:
    names = sorted(
        {f.name for sub in ("legs", "segments") for f in (results / sub).glob("part-*.parquet")}
    )
    return [(results / "legs" / name, results / "segments" / name) for name in names]


def _read(path: Path, columns: list[str], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if not path.exists():
        return pl.DataFrame(schema={c: schema[c] for c in columns})
    return pl.read_parquet(path, columns=columns)


def tally_results(results: Path, progress: Callable[[int, int], None] | None = None) -> _Tallies:
    """Read the leg and segment files of a results folder partition by partition."""
    tallies = _Tallies()
    files = _partition_files(results)
    for i, (leg_file, seg_file) in enumerate(files):
        legs = _read(leg_file, LEG_COLUMNS, LEG_RESULT_SCHEMA)
        segs = _read(seg_file, SEGMENT_COLUMNS, SEGMENT_RESULT_SCHEMA)
        tallies.add(_partition_tallies(legs, segs))
        if progress:
            progress(i + 1, len(files))
    if not files:
        empty = (pl.DataFrame(schema=LEG_RESULT_SCHEMA), pl.DataFrame(schema=SEGMENT_RESULT_SCHEMA))
        tallies.add(
            _partition_tallies(empty[0].select(LEG_COLUMNS), empty[1].select(SEGMENT_COLUMNS))
        )
    return tallies


def _by(df: pl.DataFrame, *keys: str) -> dict[Any, int]:
    """{key or key tuple: n} of a tally."""
    if len(keys) == 1:
        return {r[0]: r[1] for r in df.select(*keys, "n").iter_rows()}
    return {tuple(r[:-1]): r[-1] for r in df.select(*keys, "n").iter_rows()}


def _expand_percentiles(
    values: np.ndarray, weights: np.ndarray, qs: Sequence[float]
) -> list[float]:
    """`np.percentile(np.repeat(values, weights), qs)` (linear method) without the repeat."""
    order = np.argsort(values)
    v, w = values[order], weights[order]
    ends = np.cumsum(w)  # index one past the last copy of each value
    out = []
    for q in qs:
        h = (ends[-1] - 1) * q / 100
        lo, hi = int(np.floor(h)), int(np.ceil(h))
        a = v[np.searchsorted(ends, lo, side="right")]
        b = v[np.searchsorted(ends, hi, side="right")]
        out.append(float(a + (b - a) * (h - lo)))
    return out


# ---------------------------------------------------------------------------------------
# Sections


def _class_order(present: Sequence[str]) -> list[str]:
    return [c for c in C_ORDER if c in set(present)]


def _classes(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    counts = t["classes"]
    purposes = counts.get_column("purpose").unique().drop_nulls().sort().to_list()
    classes = _class_order(counts.get_column("c_highest").to_list())
    total = t.total("legs")
    by = _by(counts, "c_highest", "purpose")
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


def _patterns(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    n_by_class = _by(t["classes"].group_by("c_highest").agg(pl.col("n").sum()), "c_highest")
    classes = _class_order(list(n_by_class))
    fig, axes = plt.subplots(1, len(TRUNKS), figsize=(11, 2.9), sharey=True)
    header: list[str] = ["highest class", "legs"]
    groups: list[tuple[str, int]] = [("", 2)]
    columns: list[list[str]] = []
    for ax, trunk in zip(axes, TRUNKS, strict=True):
        col = f"pattern_{trunk}"
        by = {(c, str(p) if p else None): n for (c, p), n in _by(t[col], "c_highest", col).items()}
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


def _summary_by_class(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    by = {r["c_highest"]: r for r in t["flags"].iter_rows(named=True)}
    classes = _class_order(list(by))
    rows = [[c, by[c]["n"], *[_pct(by[c][k], by[c]["n"]) for k in FLAGS]] for c in classes]
    fig, ax = plt.subplots(figsize=(7.2, 2.8))
    for k in FLAGS:
        ax.plot(classes, [100 * by[c][k] / by[c]["n"] for c in classes], marker="o", label=k)
    ax.set_ylabel("% of legs")
    ax.set_title("Legs with reflux or incompetent perforators, by highest class")
    ax.legend(frameon=False, fontsize=7, ncol=2)
    return {
        "table": _table(
            [
                "highest class",
                "legs",
                *[f"{k} reflux" if "perforator" not in k else k for k in FLAGS],
            ],
            rows,
        ),
        "figure": figs.embed(fig, "Line chart of reflux prevalence by class"),
    }


def _thrombosis(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    counts = t["thrombosis"]
    purposes = counts.get_column("purpose").unique().drop_nulls().sort().to_list()
    by = {(p, str(c)): n for (p, c), n in _by(counts, "purpose", "thrombosis").items()}
    per = {p: sum(v for (q, _), v in by.items() if q == p) for p in purposes}
    total = t.total("legs")
    rows = []
    for th in THROMBOSIS_ORDER:
        n = sum(v for (_, tt), v in by.items() if tt == th)
        rows.append([th, n, _pct(n, total), *[_pct(by.get((p, th), 0), per[p]) for p in purposes]])
    dvt = {p: sum(by.get((p, th), 0) for th in THROMBOSIS_ORDER if th != "none") for p in purposes}
    split_rows = [
        [th, *[_pct(by.get((p, th), 0), dvt[p]) for p in purposes]]
        for th in THROMBOSIS_ORDER
        if th != "none"
    ]
    fig, ax = plt.subplots(figsize=(6.5, 2.4))
    kinds = [th for th in THROMBOSIS_ORDER if th != "none"]
    x = np.arange(len(purposes))
    left = np.zeros(len(purposes))
    colors = {"distal-muscular": "#c2a5cf", "distal-axial": "#7b3294", "proximal": "#40004b"}
    for th in kinds:
        values = np.array([100 * by.get((p, th), 0) / max(1, per[p]) for p in purposes])
        ax.barh(x, values, left=left, color=colors[th], label=th)
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


def _veins(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    by = {(str(v), str(r)): n for (v, r), n in _by(t["veins"], "vein", "reflux").items()}
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


def _durations(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    counts, thresholds = t["durations"], t["thresholds"]
    systems = ["superficial", "deep", "perforator"]
    fig, axes = plt.subplots(1, 3, figsize=(11, 2.6), sharey=False)
    rows = []
    bins = np.geomspace(10, 20000, 34)
    for ax, system in zip(axes, systems, strict=True):
        part = counts.filter(pl.col("system") == system)
        values = part.get_column("measured_ms").to_numpy()
        weights = part.get_column("n").to_numpy()
        measured = int(weights.sum())
        ax.hist(np.clip(values, 10, 20000), bins=bins, weights=weights, color="#6a8caf")
        ax.set_xscale("log")
        ax.set_title(f"{system} ({measured:,} measured)")
        ax.set_xlabel("retrograde / outward flow, ms")
        cut_offs = thresholds.filter(pl.col("system") == system).get_column("threshold_ms")
        for i, cut in enumerate(sorted(set(cut_offs.to_list()))):
            ax.axvline(cut, color="#b2182b", linestyle="--", linewidth=1)
            ax.text(
                cut,
                ax.get_ylim()[1] * (0.95 - 0.1 * i),
                f" {cut:g} ms",
                color="#b2182b",
                fontsize=7,
                va="top",
            )
        if measured:
            q = _expand_percentiles(values, weights, [25, 50, 75, 95])
            rows.append([system, measured, *[round(x) for x in q]])
    axes[0].set_ylabel("segment entries")
    fig.suptitle("Measured durations and the cut-offs applied", fontsize=10, fontweight="bold")
    fig.tight_layout()
    return {
        "table": _table(["system", "measured", "P25 ms", "median ms", "P75 ms", "P95 ms"], rows),
        "figure": figs.embed(fig, "Histograms of reflux durations with cut-off lines"),
    }


def _calcification(t: _Tallies, figs: _Figures) -> dict[str, Any] | None:
    counts = t["calcification"]
    if counts.is_empty():
        return None
    by = _by(counts, "c_highest", "calcification")
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
        "legs": int(counts.get_column("n").sum()),
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


def _demographics(t: _Tallies, figs: _Figures) -> dict[str, Any]:
    exams = t["exams"]
    n_exams = int(exams.get_column("n").sum())
    fig, ax = plt.subplots(figsize=(6.0, 3.0))
    bins = [float(b) for b in range(15, 101, 5)]
    for sex in ("female", "male", "other", "unknown"):
        ages = exams.filter((pl.col("sex") == sex) & pl.col("age_years").is_not_null())
        weights = ages.get_column("n").to_numpy()
        if weights.sum():
            ax.hist(
                ages.get_column("age_years").to_numpy(),
                bins=bins,
                weights=weights,
                alpha=0.6,
                label=f"{sex} ({int(weights.sum()):,})",
            )
    ax.set_xlabel("age, years (exams stating age_years)")
    ax.set_ylabel("exams")
    ax.set_title("Age by sex")
    ax.legend(frameon=False, fontsize=7)
    sexes = exams.group_by("sex").agg(pl.col("n").sum()).sort("sex")
    rows = [[sex, n, _pct(n, n_exams)] for sex, n in sexes.iter_rows()]
    aged = exams.filter(pl.col("age_years").is_not_null())
    with_age = int(aged.get_column("n").sum())
    if with_age:
        q1, med, q3 = _expand_percentiles(
            aged.get_column("age_years").to_numpy().astype(float),
            aged.get_column("n").to_numpy(),
            [25, 50, 75],
        )
        age_row = [f"{med:.0f}", f"{q1:.0f}–{q3:.0f}", f"{n_exams - with_age:,}"]
    else:
        age_row = ["–", "–", f"{n_exams:,}"]
    return {
        "table": _table(["sex", "exams", "%"], rows),
        "ages": _table(
            ["median age", "IQR", "exams without age_years (birth date given)"],
            [age_row],
            first_left=False,
        ),
        "figure": figs.embed(fig, "Histogram of age by sex"),
    }


def _completeness(t: _Tallies) -> Markup:
    n_seg, n_legs = t.total("segments"), t.total("legs")
    unmeasured = t.total("not_assessed") - t.total("no_threshold")
    no_threshold = t.total("no_threshold")
    rows = [
        ["segment entries without a reflux duration", unmeasured, _pct(unmeasured, n_seg)],
        [
            "measured in a vein without a cut-off (iliac, pelvic)",
            no_threshold,
            _pct(no_threshold, n_seg),
        ],
        [
            "legs with symptoms not recorded",
            t.total("symptomatic_unknown"),
            _pct(t.total("symptomatic_unknown"), n_legs),
        ],
        [
            "legs with etiology not stated",
            t.total("etiology_unknown"),
            _pct(t.total("etiology_unknown"), n_legs),
        ],
    ]
    return _table(["item", "count", "%"], rows)


def _errors(results: Path, limit: int = 25) -> dict[str, Any]:
    """Rejected rows, one partition file at a time (there may be as many as exams)."""
    exams = problems = 0
    kinds: list[pl.DataFrame] = []
    first: list[pl.DataFrame] = []
    shown = 0
    for f in sorted((results / "errors").glob("part-*.parquet")):
        errors = pl.read_parquet(f).sort("row", maintain_order=True)
        exams += errors.get_column("row").n_unique()
        problems += errors.height
        kinds.append(
            errors.select(
                pl.col("path")
                .str.replace_all(r"\[\d+\]", "[]")
                .str.replace(r"^legs\.(left|right)", "legs.<side>")
            )
            .group_by("path")
            .agg(pl.len().cast(pl.Int64).alias("n"))
        )
        if shown < limit and not errors.is_empty():
            first.append(errors.head(limit - shown))
            shown += first[-1].height
    by_path = (
        pl.concat(kinds)
        .group_by("path")
        .agg(pl.col("n").sum())
        .sort(["n", "path"], descending=[True, False])
        if kinds
        else pl.DataFrame(schema={"path": pl.String, "n": pl.Int64})
    )
    head = pl.concat(first) if first else pl.DataFrame(schema=ERROR_SCHEMA)
    return {
        "exams": exams,
        "by_path": _table(["JSON path", "problems"], by_path.rows()),
        "first": _table(
            ["row", "patient id", "path", "message"],
            head.select(pl.col("row").cast(pl.String), "patient_id", "path", "message").rows(),
        ),
        "shown": shown,
        "problems": problems,
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
    results: Path,
    output: Path,
    *,
    title: str | None = None,
    image_format: str = "svg",
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Render the cohort report of a results folder into `output` (HTML).

    The results are read one partition at a time (`tally_results`); `progress(done, total)`
    is called after each partition.
    """
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
    figs = _Figures(image_format)
    t = tally_results(results, progress)
    n_legs = t.total("legs")
    if n_legs == 0:
        raise InvalidInput(
            [Problem("results", "no assessed legs in the results folder")], what="option"
        )
    if summary is None:
        exams = int(t["exams"].get_column("n").sum())
        summary = {"exams": exams, "valid": exams, "rejected": 0}
    _style()
    dates = t["dates"].row(0)
    context = {
        "title": title or "Venous duplex cohort report",
        "input": Path(run["input"]["path"]).name,
        "generated": dt.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "version": __version__,
        "results": str(results),
        "run": run,
        "summary": summary,
        "legs": n_legs,
        "segments": t.total("segments"),
        "dates": f"{dates[0]:%Y}–{dates[1]:%Y}" if dates[0] else "–",
        "classes": _classes(t, figs),
        "patterns": _patterns(t, figs),
        "thrombosis": _thrombosis(t, figs),
        "veins": _veins(t, figs),
        "durations": _durations(t, figs),
        "calcification": _calcification(t, figs),
        "demographics": _demographics(t, figs),
        "completeness": _completeness(t),
        "errors": _errors(results),
    }
    context["by_class"] = _summary_by_class(t, figs)
    env = Environment(autoescape=select_autoescape(default=True))
    text = env.from_string(TEMPLATE).render(**context)
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    return {"legs": n_legs, "figures": figs.count, "bytes": len(text)}
