"""The differential test: the vectorized engine equals the per-exam engine, every column of
every row (venalab.cohort.vectorized vs venalab.engine.assess, through table.result_rows).

Cohorts come from the synthetic generator with extra exact-cut-off values (500/1000 ms,
350 ms, 3.5 mm) and its missing values; hand-built exams cover clinical.md vectors and
conventions the generator does not produce; a hypothesis property test covers arbitrary
small exams.
"""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from helpers import exam_dict, leg
from venalab.anatomy import VEINS
from venalab.cohort.synth import synthesize
from venalab.cohort.table import (
    CohortTables,
    documents_to_tables,
    result_frames,
    result_rows,
    tables_to_documents,
)
from venalab.cohort.validate import validate
from venalab.cohort.vectorized import assess_cohort, assess_tables
from venalab.criteria import CRITERIA, get_criteria
from venalab.decisions import Decisions, decisions_of
from venalab.engine import assess
from venalab.exam import ExamDocument, VeinCode, parse_exam_obj
from venalab.result import EngineOptions, Result
from venalab.rules.patterns import TRUNKS


def per_exam(
    exams: list[tuple[int, ExamDocument]],
    criteria_id: str | None,
    options: EngineOptions,
    full: list[Result] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The result rows of the per-exam engine; its results are appended to `full`."""
    cs = get_criteria(criteria_id)
    legs: list[dict[str, Any]] = []
    segs: list[dict[str, Any]] = []
    for row, exam in exams:
        result = assess(exam, cs, options)
        if full is not None:
            full.append(result)
        lr, sr = result_rows(row, exam, result)
        legs += lr
        segs += sr
    return result_frames(legs, segs)


def decision_rows(row: int, d: Decisions) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The decision columns of the cohort result tables, from the decisions tier."""
    legs: list[dict[str, Any]] = []
    segs: list[dict[str, Any]] = []
    for side in ("left", "right"):
        if (ld := d.legs.get(side)) is None:
            continue
        patterns = {p.trunk: p.pattern for p in ld.patterns}
        legs.append(
            {"row": row, "side": side, "thrombosis": ld.thrombosis,
             **{f"pattern_{t}": patterns.get(t) for t in TRUNKS}}
        )  # fmt: skip
        perfs = iter(ld.perforators)
        for i, s in enumerate(ld.segments):
            p = next(perfs) if VEINS[s.vein].is_perforator else None
            segs.append(
                {"row": row, "side": side, "seg": i, "reflux": s.reflux, "abnormal": s.abnormal,
                 "perforator_incompetent": p.incompetent if p else None,
                 "perforator_pathologic": p.pathologic if p else None}
            )  # fmt: skip
    return legs, segs


def assert_decisions_same(
    exams: list[tuple[int, ExamDocument]],
    full: list[Result],
    options: EngineOptions,
    legs: pl.DataFrame,
    segs: pl.DataFrame,
) -> None:
    """The vectorized engine's decision columns equal the decisions tier's, and the
    decisions tier equals the decisions of the full result (all three agree)."""
    cs = get_criteria(options.criteria)
    leg_rows: list[dict[str, Any]] = []
    seg_rows: list[dict[str, Any]] = []
    for (row, exam), result in zip(exams, full, strict=True):
        d = assess(exam, cs, options, detail="decisions")
        assert d == decisions_of(result), row
        lr, sr = decision_rows(row, d)
        leg_rows += lr
        seg_rows += sr
    leg_cols = ["row", "side", "thrombosis", *(f"pattern_{t}" for t in TRUNKS)]
    seg_cols = ["row", "side", "seg", "reflux", "abnormal", "perforator_incompetent",
                "perforator_pathologic"]  # fmt: skip
    got_legs = legs.select(leg_cols).with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    got_segs = segs.select(seg_cols).with_columns(pl.col(pl.Categorical, pl.Enum).cast(pl.String))
    want_legs = pl.DataFrame(leg_rows, schema=got_legs.schema, orient="row")
    want_segs = pl.DataFrame(seg_rows, schema=got_segs.schema, orient="row")
    assert_frame_equal(got_legs, want_legs, check_exact=True)
    assert_frame_equal(got_segs, want_segs, check_exact=True)


def assert_same(
    tables: CohortTables, criteria_id: str | None = None, tpt: str = "distal"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Both engines on the same exams; strict equality of every column and row. The
    decisions tier is held to the same decisions (assert_decisions_same)."""
    cs = get_criteria(criteria_id)
    options = EngineOptions(criteria=cs.id, tibioperoneal_trunk=tpt)  # type: ignore[arg-type]
    exams = [(row, parse_exam_obj(doc)) for row, doc in tables_to_documents(tables)]
    full: list[Result] = []
    expected_legs, expected_segs = per_exam(exams, cs.id, options, full)
    result = assess_cohort(tables, cs, options)
    assert result.errors.is_empty(), result.errors
    assert_frame_equal(result.legs, expected_legs, check_exact=True)
    assert_frame_equal(result.segments, expected_segs, check_exact=True)
    assert_decisions_same(exams, full, options, result.legs, result.segments)
    return result.legs, result.segments


@pytest.fixture(scope="module")
def cohort10k() -> CohortTables:
    return synthesize(10_000, 2026, boundary_rate=0.03).tables


@pytest.mark.slow
def test_differential_10k_default_criteria(cohort10k: CohortTables) -> None:
    legs, segs = assert_same(cohort10k)
    assert legs.height > 15_000 and segs.height > 150_000

    # the cohort exercises what the engines must agree on
    verdicts = set(segs.get_column("reflux").cast(pl.String).unique().to_list())
    assert verdicts == {"present", "absent", "boundary", "not-assessed"}
    boundary = segs.filter(pl.col("reflux") == "boundary")
    assert {500.0, 1000.0} <= set(boundary.get_column("threshold_ms").unique().to_list())
    # every reflux rule of the default set is ">" (perforators too, SVS22 1.1.a): a value at the
    # cut-off is never reflux, but a perforator at 500 ms meets the pathologic ">=" criterion
    assert boundary.filter(~pl.col("abnormal")).height > 0
    assert boundary.filter(pl.col("abnormal")).height == 0
    at_cutoff = boundary.filter(pl.col("perforator_pathologic").is_not_null())
    assert at_cutoff.filter(~pl.col("perforator_incompetent")).height > 0
    for trunk in ("GSV", "SSV"):
        patterns = set(legs.get_column(f"pattern_{trunk}").drop_nulls().cast(pl.String).to_list())
        assert patterns == {"axial", "junctional", "segmental"}, trunk
    for trunk in ("AASV", "deep"):
        patterns = set(legs.get_column(f"pattern_{trunk}").drop_nulls().cast(pl.String).to_list())
        assert patterns == {"axial", "segmental"}, trunk
    assert set(legs.get_column("thrombosis").cast(pl.String).unique().to_list()) == {
        "none",
        "proximal",
        "distal-axial",
        "distal-muscular",
    }
    classes = set(legs.get_column("c_classes").explode().to_list())
    assert {"C0", "C2r", "C4c", "C6r"} <= classes
    perf = segs.filter(pl.col("perforator_pathologic").is_not_null())
    assert perf.filter(pl.col("perforator_pathologic")).height > 0
    assert perf.filter(pl.col("perforator_incompetent") & ~pl.col("perforator_pathologic")).height
    assert perf.filter(pl.col("perforator_incompetent").is_null()).height  # duration missing
    missing = segs.filter(pl.col("measured_ms").is_null()).height
    assert missing > 1000


def test_cohort_has_3_5_mm_perforators_in_ulcer_legs(cohort10k: CohortTables) -> None:
    perf = cohort10k.segments.filter(pl.col("vein") == "CPV")
    at_cut = perf.filter(pl.col("diameter_mm") == 3.5)
    assert at_cut.height > 0
    ulcer_legs = cohort10k.legs.filter(
        pl.col("signs").list.contains("ulcer-active")
        | pl.col("signs").list.contains("ulcer-healed")
    ).select("row", "side")
    located = perf.join(ulcer_legs, on=["row", "side"])
    assert {None, True, False} == set(located.get_column("beneath_ulcer").unique().to_list())


@pytest.mark.slow
@pytest.mark.parametrize(
    ("criteria_id", "tpt"),
    [
        ("labropoulos-2003", "distal"),
        ("svs-avf-2011", "proximal"),
        ("svs-avf-avls-2022", "proximal"),
    ],
)
def test_differential_other_criteria_and_options(criteria_id: str, tpt: str) -> None:
    tables = synthesize(1500, 99, boundary_rate=0.05).tables
    _, segs = assert_same(tables, criteria_id, tpt)
    if criteria_id == "labropoulos-2003":
        assert 350.0 in set(segs.get_column("threshold_ms").drop_nulls().to_list())
    if tpt == "proximal":
        tpt_rows = tables.segments.filter((pl.col("vein") == "TPT") & pl.col("thrombus"))
        assert tpt_rows.height > 0


def test_every_builtin_criteria_set_is_covered() -> None:
    assert set(CRITERIA) == {"labropoulos-2003", "svs-avf-2011", "svs-avf-avls-2022"}


# ---------------------------------------------------------------------------------------
# Hand-built exams: clinical.md vectors and conventions


def _tables(*docs: dict[str, Any]) -> CohortTables:
    return documents_to_tables((i, parse_exam_obj(d)) for i, d in enumerate(docs))


def _vectorized(
    *docs: dict[str, Any], criteria_id: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    tables = _tables(*docs)
    legs, segs = assert_same(tables, criteria_id)
    return legs, segs


def test_tv07_reflux_times_vectorized() -> None:
    doc = exam_dict(
        left=leg(
            {"vein": "SFJ", "reflux_ms": 600},
            {"vein": "GSVa", "reflux_ms": 500},
            {"vein": "DFV", "reflux_ms": 600},
            {"vein": "PTV", "reflux_ms": 600},
        )
    )
    _, segs = _vectorized(doc)
    assert segs.get_column("reflux").cast(pl.String).to_list() == [
        "present",
        "boundary",
        "present",
        "present",
    ]
    assert segs.get_column("abnormal").to_list() == [True, False, True, True]


def test_tv08_deep_reflux_times_vectorized() -> None:
    doc = exam_dict(
        left=leg(
            {"vein": "FV", "reflux_ms": 800},
            {"vein": "POPV", "reflux_ms": 1200},
            {"vein": "CFV", "reflux_ms": 1000},
        )
    )
    _, segs = _vectorized(doc)
    assert segs.get_column("reflux").cast(pl.String).to_list() == ["absent", "present", "boundary"]
    assert segs.get_column("threshold_ms").to_list() == [1000.0, 1000.0, 1000.0]


def test_tv09_perforator_criteria_sets_vectorized() -> None:
    doc = exam_dict(
        left=leg({"vein": "CPV", "reflux_ms": 400, "diameter_mm": 3.0}, signs=["varicose"])
    )
    _, svs = _vectorized(doc)
    _, lab = _vectorized(doc, criteria_id="labropoulos-2003")
    assert svs.row(0, named=True)["perforator_incompetent"] is False
    assert lab.row(0, named=True)["perforator_incompetent"] is True
    assert svs.row(0, named=True)["perforator_pathologic"] is False


def test_tv10_pathologic_perforators_vectorized() -> None:
    ulcer = ["ulcer-active"]
    docs = [
        exam_dict(
            left=leg(
                {"vein": "CPV", "reflux_ms": 700, "diameter_mm": 4.0, "beneath_ulcer": True},
                signs=ulcer,
            )
        ),
        exam_dict(
            left=leg(
                {"vein": "CPV", "reflux_ms": 700, "diameter_mm": 3.2, "beneath_ulcer": True},
                signs=ulcer,
            )
        ),
        exam_dict(
            left=leg({"vein": "CPV", "reflux_ms": 600, "diameter_mm": 3.6}, signs=["varicose"])
        ),
        # C6 limb, location not recorded: cannot be called pathologic
        exam_dict(left=leg({"vein": "CPV", "reflux_ms": 600, "diameter_mm": 3.6}, signs=ulcer)),
        # exactly at both cut-offs (>= 500 ms, >= 3.5 mm)
        exam_dict(
            left=leg({"vein": "CPV", "reflux_ms": 500, "diameter_mm": 3.5}, signs=["varicose"])
        ),
    ]
    _, segs = _vectorized(*docs)
    assert segs.get_column("perforator_pathologic").to_list() == [True, False, True, False, True]
    # exactly 500 ms meets the pathologic ">=" criterion but is not reflux ("> 500 ms", SVS22 1.1.a)
    assert segs.get_column("perforator_incompetent").to_list() == [True, True, True, True, False]


def test_tv11_patterns_vectorized() -> None:
    axial = exam_dict(
        left=leg(
            {"vein": "SFJ", "reflux_ms": 900},
            {"vein": "GSVa", "reflux_ms": 1200},
            {"vein": "GSVb", "site": "proximal", "reflux_ms": 800},
            {"vein": "SPJ", "reflux_ms": 700},
            {"vein": "SSV", "reflux_ms": 900},
            {"vein": "AASV", "reflux_ms": 800, "position_cm": 2},
            {"vein": "AASV", "reflux_ms": 900, "position_cm": 8},
        ),
        right=leg({"vein": "SFJ", "reflux_ms": 900}, {"vein": "GSVa", "reflux_ms": 300}),
    )
    legs, _ = _vectorized(axial)
    left, right = legs.row(0, named=True), legs.row(1, named=True)
    assert (left["pattern_GSV"], left["pattern_SSV"], left["pattern_AASV"]) == ("axial",) * 3
    assert right["pattern_GSV"] == "junctional"


def test_pattern_conventions_vectorized() -> None:
    docs = [
        # a competent measured point between refluxing points interrupts axial reflux
        exam_dict(
            left=leg(
                {"vein": "SFJ", "reflux_ms": 900},
                {"vein": "GSVa", "site": "proximal", "reflux_ms": 900},
                {"vein": "GSVa", "site": "mid", "reflux_ms": 100},
                {"vein": "GSVa", "site": "distal", "reflux_ms": 900},
                {"vein": "GSVb", "site": "proximal", "reflux_ms": 900},
            )
        ),
        # accessory points only 4 cm apart; a competent point between two refluxing points
        exam_dict(
            left=leg(
                {"vein": "AASV", "reflux_ms": 800, "position_cm": 2},
                {"vein": "AASV", "reflux_ms": 800, "position_cm": 6},
                {"vein": "PAGSV", "reflux_ms": 800, "position_cm": 0},
                {"vein": "PAGSV", "reflux_ms": 100, "position_cm": 5},
                {"vein": "PAGSV", "reflux_ms": 800, "position_cm": 10},
            )
        ),
        # deep reflux outside the femoropopliteal axis only; CFV alone
        exam_dict(
            left=leg({"vein": "PTV", "reflux_ms": 900}, {"vein": "IIV", "reflux_ms": 3000}),
            right=leg({"vein": "CFV", "reflux_ms": 1500}),
        ),
        # SSV recorded without a site stands for the whole vein (knee to ankle): axial
        exam_dict(left=leg({"vein": "SSV", "reflux_ms": 900})),
        # a leg with segments only (no clinical) and a C2r/C6r leg
        exam_dict(
            left={
                "segments": [{"vein": "FV", "reflux_ms": 1500}, {"vein": "POPV", "reflux_ms": 1500}]
            },
            right=leg(signs=["varicose", "ulcer-active"], recurrent=["varicose", "ulcer"]),
        ),
    ]
    legs, segs = _vectorized(*docs)
    rows = legs.rows(named=True)
    assert rows[0]["pattern_GSV"] == "segmental"
    assert (rows[1]["pattern_AASV"], rows[1]["pattern_PAGSV"]) == ("segmental", "segmental")
    assert (rows[2]["pattern_deep"], rows[3]["pattern_deep"]) == ("segmental", "segmental")
    assert rows[4]["pattern_SSV"] == "axial"
    assert rows[5]["pattern_deep"] == "axial" and rows[5]["c_classes"] == ["C0"]
    assert rows[6]["c_classes"] == ["C2r", "C6r"] and rows[6]["c_highest"] == "C6r"
    iliac = segs.filter(pl.col("vein") == "IIV").row(0, named=True)
    assert iliac["reflux"] == "not-assessed" and iliac["threshold_ms"] is None


def test_tv17_thrombosis_classes_vectorized() -> None:
    def clot(vein: str) -> dict[str, Any]:
        return {"vein": vein, "compressibility": "none", "thrombus": {"age": "acute"}}

    docs = [
        exam_dict(left=leg(clot("SOV"))),
        exam_dict(left=leg(clot("PTV"), clot("POPV"))),
        exam_dict(left=leg(clot("TPT"))),
        exam_dict(left=leg(clot("GSVa"), clot("CPV"))),  # superficial/perforator: no DVT class
        exam_dict(left=leg({"vein": "GAV", "thrombus": {}})),  # an empty thrombus object
    ]
    tables = _tables(*docs)
    for tpt, tpt_class in (("distal", "distal-axial"), ("proximal", "proximal")):
        legs, _ = assert_same(tables, tpt=tpt)
        assert legs.get_column("thrombosis").cast(pl.String).to_list() == [
            "distal-muscular",
            "proximal",
            tpt_class,
            "none",
            "distal-muscular",
        ]


def test_segments_without_legs_row_and_unsorted_gaps() -> None:
    """Table conventions: a leg implied by its segments; seg numbers with gaps keep order."""
    doc = exam_dict(left=leg({"vein": "GSVa", "reflux_ms": 900}, {"vein": "SFJ", "reflux_ms": 900}))
    tables = _tables(doc)
    gapped = CohortTables(
        exams=tables.exams,
        legs=tables.legs.clear(),
        segments=tables.segments.with_columns(pl.col("seg") * 5).reverse(),
    )
    checked = validate(gapped)
    assert checked.errors.is_empty()
    legs, segs = assess_tables(checked.tables, get_criteria())
    assert segs.get_column("seg").to_list() == [0, 1]
    assert segs.get_column("vein").cast(pl.String).to_list() == ["GSVa", "SFJ"]
    assert legs.row(0, named=True)["c_classes"] == ["C0"]
    assert legs.row(0, named=True)["pattern_GSV"] == "segmental"  # thigh only: not to the calf


# ---------------------------------------------------------------------------------------
# Property test: arbitrary small exams


VEINS_ALL: list[str] = list(VeinCode.__args__)  # type: ignore[attr-defined]
DURATIONS = [None, 0, 100, 349, 350, 351, 499, 500, 501, 999, 1000, 1001, 2500]
DIAMETERS = [None, 2.0, 3.4, 3.5, 3.6, 5.0]
SIGNS = [
    "telangiectasia",
    "reticular",
    "varicose",
    "corona-phlebectatica",
    "edema",
    "pigmentation",
    "eczema",
    "lipodermatosclerosis",
    "atrophie-blanche",
    "ulcer-healed",
    "ulcer-active",
]


@st.composite
def segments(draw: st.DrawFn) -> dict[str, Any]:
    vein = draw(st.sampled_from(VEINS_ALL))
    seg: dict[str, Any] = {"vein": vein}
    site = draw(st.sampled_from([None, None, "proximal", "mid", "distal"]))
    if site:
        seg["site"] = site
    ms = draw(st.sampled_from(DURATIONS))
    if ms is not None:
        seg["reflux_ms"] = ms
    dia = draw(st.sampled_from(DIAMETERS))
    if dia is not None:
        seg["diameter_mm"] = dia
    if vein in ("TPV", "CPV"):
        beneath = draw(st.sampled_from([None, True, False]))
        if beneath is not None:
            seg["beneath_ulcer"] = beneath
    pos = draw(st.sampled_from([None, 0.0, 2.0, 5.0, 7.0, 12.5]))
    if pos is not None:
        seg["position_cm"] = pos
    if draw(st.integers(0, 5)) == 0:
        seg["thrombus"] = {"age": draw(st.sampled_from(["acute", "chronic"]))}
    return seg


@st.composite
def legs(draw: st.DrawFn) -> dict[str, Any]:
    signs = draw(st.lists(st.sampled_from(SIGNS), max_size=4, unique=True))
    recurrent = [
        r
        for r, sign in (("varicose", "varicose"), ("ulcer", "ulcer-active"))
        if sign in signs and draw(st.booleans())
    ]
    body = leg(*draw(st.lists(segments(), max_size=10)), signs=signs)
    if recurrent:
        body["clinical"]["recurrent"] = recurrent
    return body


@st.composite
def exams(draw: st.DrawFn) -> dict[str, Any]:
    sides = draw(st.sampled_from([("left",), ("right",), ("left", "right")]))
    return exam_dict(**{side: draw(legs()) for side in sides})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(exams(), min_size=1, max_size=6),
    st.sampled_from(sorted(CRITERIA)),
    st.sampled_from(["distal", "proximal"]),
)
def test_property_vectorized_equals_per_exam(
    docs: list[dict[str, Any]], criteria_id: str, tpt: str
) -> None:
    assert_same(_tables(*docs), criteria_id, tpt)
