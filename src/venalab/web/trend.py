"""A small server-drawn SVG chart: rVCSS and CEAP C over time, per leg (patient page)."""

from __future__ import annotations

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
        (panel_w + 30, "rVCSS (lower bound)", "vcss", 30, range(0, 31, 10)),
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
            if len(series) > 1:
                path = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in series)
                parts.append(
                    f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
            for px, py, value, p in series:
                label = escape(f"{side} {p['date']}: {p['ceap'] if key == 'c' else value}")
                parts.append(
                    f'<circle cx="{px:.1f}" cy="{py:.1f}" r="4" fill="{colour}" '
                    f'data-side="{side}" data-series="{key}"><title>{label}</title>'
                    f"</circle>"
                )
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
