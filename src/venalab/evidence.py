"""The evidence object and the finding/recommendation shapes every rule returns.

Contract (shared/spec/exam-format.md, "Result document"): every evidence object holds at
least `rule`, `source`, and where a number decided the outcome `threshold`, `measured` and
`comparison`. venalab adds the evidence level of the rule (clinical.md section 0.1), the
criteria set it came from, and `unverified` for rules the reference marks [U].
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from venalab.citations import CITATIONS, EvidenceLevel
from venalab.trusted import trusted

Comparison = Literal[">", ">=", "<", "<="]
Side = Literal["left", "right"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def compare(measured: float, comparison: str, threshold: float) -> bool:
    """`measured <comparison> threshold`, e.g. compare(600, '>', 500) is True."""
    return _OPS[comparison](measured, threshold)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Evidence(Frozen):
    rule: str
    source: str
    sources: tuple[str, ...] = ()
    level: EvidenceLevel = "V"
    unverified: bool = False
    criteria: str | None = None
    threshold: float | None = None
    measured: float | None = None
    comparison: Comparison | None = None
    unit: str | None = None
    note: str | None = None


def evidence(
    rule: str,
    sources: Sequence[str],
    *,
    level: EvidenceLevel = "V",
    criteria: str | None = None,
    threshold: float | None = None,
    measured: float | None = None,
    comparison: Comparison | None = None,
    unit: str | None = None,
    note: str | None = None,
) -> Evidence:
    """Build an evidence object; `sources[0]` is the primary citation id (must be registered).

    Evidence is immutable, and results repeat the same evidence many times (every segment
    measured at 500 ms under one set): equal arguments give one shared object."""
    cited = tuple(sources)
    # _number_key, inlined (the hot path: tens of calls per exam)
    t = (
        threshold
        if threshold is None or (threshold and type(threshold) is float)
        else (_number_key(threshold))
    )
    m = (
        measured
        if measured is None or (measured and type(measured) is float)
        else (_number_key(measured))
    )
    key = (rule, cited, level, criteria, t, m, comparison, unit, note)  # fmt: skip
    shared = _SHARED.get(key)
    if shared is not None:
        return shared
    for s in cited:
        if s not in CITATIONS:  # a programming error, caught by the test suite
            raise KeyError(f"rule {rule}: unknown citation id {s!r}")
    built = _evidence(
        rule=rule,
        source=cited[0],
        sources=cited,
        level=level,
        unverified=level == "U",
        criteria=criteria,
        threshold=_as_float(threshold),
        measured=_as_float(measured),
        comparison=comparison,
        unit=unit,
        note=note,
    )
    if len(_SHARED) >= _SHARED_MAX:  # bounded: a long-running server sees ever new values
        _SHARED.clear()
    _SHARED[key] = built
    return built


_evidence = trusted(Evidence)
_SHARED: dict[tuple[object, ...], Evidence] = {}
_SHARED_MAX = 16_384


def _as_float(x: float | None) -> float | None:
    """A number as the float field holds it (validation turns 3 and True into 3.0, 1.0)."""
    return x if x is None or type(x) is float else float(x)


def _number_key(x: float | None) -> object:
    """A number as a key that keeps apart what the document writes apart: -0.0 vs 0.0, and
    an int vs a float of the same value (pydantic keeps the type)."""
    if x is None or (x and type(x) is float):
        return x
    return (type(x), repr(x))


Importance = Literal[1, 2, 3, 4]
"""1 urgent (proximal DVT), 2 major (distal DVT, ulcer-related), 3 significant, 4 informative."""


class Finding(Frozen):
    id: str
    text: str
    evidence: Evidence
    leg: Side | None = None
    importance: Importance = 3
    critical: bool = False
    """A critical result (Result.critical says which criterion and why)."""


class Recommendation(Frozen):
    id: str
    text: str
    evidence: Evidence
    leg: Side | None = None
    strength: str | None = None
    sides: tuple[Side, ...] = ()
    """The legs it is about (result assembly, venalab.assembly): ("right",), or ("left",
    "right") for one recommendation both legs gave (`leg` is then None); () for the patient
    as a whole (laboratory work-up). `text` then starts with "Right leg: ", "Both legs: "."""


make_finding = trusted(Finding)
"""`Finding(...)` without validation, for the engine's own values (venalab.trusted)."""
make_recommendation = trusted(Recommendation)
"""`Recommendation(...)` without validation, for the engine's own values (venalab.trusted)."""
