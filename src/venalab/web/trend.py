"""A small server-drawn SVG chart: rVCSS and CEAP C over time, per leg (patient page)."""

from __future__ import annotations

import itertools
from html import escape
from typing import Any

_C_LEVEL = {
    "C0": 0,
    "C1": 1,
    "C2": 2,
    "C2r": 2,
    "C3": 3,
    "C4a": 4,
    "C4b": 4,
    "C4c": 4,
    "C5": 5,
    "C6": 6,
    "C6r": 6,
}
_COLOURS = {"left": "#1f5fbf", "right": "#c0392b"}


def _complete(p: dict[str, Any], key: str) -> bool:
    return key == "c" or p.get("vcss_complete") is not False


def _series(
    series: list[tuple[float, float, float, dict[str, Any]]],
    key: str,
    side: str,
    colour: str,
    y: Any,
) -> list[str]:
    """One leg's points. Lines join consecutive complete scores only: an incomplete rVCSS is
    a range (its bounds drawn as a bar from the lower to the upper bound, an open marker at
    the lower bound), and a line to it would read as a change the leg may not have had."""
    parts = []
    for (x1, y1, _, p1), (x2, y2, _, p2) in itertools.pairwise(series):
        if _complete(p1, key) and _complete(p2, key):
            parts.append(
                f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                f'stroke="{colour}" stroke-width="2" data-side="{side}" data-series="{key}"/>'
            )
    for px, py, value, p in series:
        complete = _complete(p, key)
        if complete:
            text = f"{p['ceap'] if key == 'c' else value}"
            fill = colour
        else:
            upper = p.get("vcss_upper")
            text = f"{value}-{upper} (incomplete)"
            fill = "#fff"
            if upper is not None:
                parts.append(
                    f'<line x1="{px:.1f}" y1="{py:.1f}" x2="{px:.1f}" y2="{y(upper):.1f}" '
                    f'stroke="{colour}" stroke-width="2" stroke-dasharray="3,2" '
                    f'data-side="{side}" data-bound="{value}-{upper}"/>'
                )
        label = escape(f"{side} {p['date']}: {text}")
        parts.append(
            f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{fill}" stroke="{colour}" '
            f'stroke-width="2" data-side="{side}" data-series="{key}" '
            f'data-complete="{str(complete).lower()}"><title>{label}</title></circle>'
        )
    return parts


def trend_svg(points: list[dict[str, Any]], width: int = 640, height: int = 240) -> str:
    """Two panels side by side: CEAP C class (0-6) and rVCSS (0-30) against exam date."""
    if not points:
        return '<p class="muted">No exams yet.</p>'
    dates = sorted({p["date"] for p in points})
    span = max((dates[-1] - dates[0]).days, 1)
    panel_w, top, bottom, left = (width - 40) // 2, 24, height - 30, 34

    def x(date: Any, offset: int) -> float:
        if len(dates) == 1:
            return offset + left + (panel_w - left) / 2
        days: int = (date - dates[0]).days
        return float(offset + left + days / span * (panel_w - left - 10))

    def y(value: float, vmax: float) -> float:
        return bottom - value / vmax * (bottom - top)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="CEAP C class and rVCSS '
        f'over time" font-family="sans-serif" font-size="11">'
    ]
    for offset, title, key, vmax, ticks in (
        (0, "CEAP C class", "c", 6, range(0, 7)),
        (panel_w + 30, "rVCSS", "vcss", 30, range(0, 31, 10)),
    ):
        parts.append(f'<text x="{offset + left}" y="14" font-weight="bold">{title}</text>')
        parts.append(
            f'<line x1="{offset + left}" y1="{bottom}" x2="{offset + panel_w}" '
            f'y2="{bottom}" stroke="#888"/>'
        )
        for t in ticks:
            parts.append(
                f'<text x="{offset + left - 6}" y="{y(t, vmax) + 4:.1f}" '
                f'text-anchor="end" fill="#555">{t}</text>'
            )
            parts.append(
                f'<line x1="{offset + left}" y1="{y(t, vmax):.1f}" '
                f'x2="{offset + panel_w}" y2="{y(t, vmax):.1f}" stroke="#eee"/>'
            )
        for side, colour in _COLOURS.items():
            series = []
            for p in sorted((p for p in points if p["side"] == side), key=lambda p: p["date"]):
                value = _C_LEVEL.get(p["c"]) if key == "c" else p["vcss"]
                if value is not None:
                    series.append((x(p["date"], offset), y(value, vmax), value, p))
            parts += _series(series, key, side, colour, lambda v, vmax=vmax: y(v, vmax))
        parts.append(f'<text x="{offset + left}" y="{height - 8}" fill="#555">{dates[0]}</text>')
        if len(dates) > 1:
            parts.append(
                f'<text x="{offset + panel_w}" y="{height - 8}" text-anchor="end" '
                f'fill="#555">{dates[-1]}</text>'
            )
    # The legend sits top right, clear of the date labels under the axes.
    parts.append(f'<text x="{width - 110}" y="14" fill="{_COLOURS["left"]}">&#9679; left</text>')
    parts.append(f'<text x="{width - 55}" y="14" fill="{_COLOURS["right"]}">&#9679; right</text>')
    parts.append("</svg>")
    return "".join(parts)
