"""The synthetic cohort generator and the document <-> table mapping."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from helpers import load_example
from venalab.cohort.synth import HIGHEST, load_model, synthesize, write_synthetic
from venalab.cohort.table import (
    EXAM_SCHEMA,
    LEG_SCHEMA,
    SEGMENT_SCHEMA,
    CohortTables,
    documents_to_tables,
    tables_to_documents,
)
from venalab.criteria import CRITERIA
from venalab.errors import InvalidInput
from venalab.exam import parse_exam_obj


@pytest.fixture(scope="module")
def cohort() -> CohortTables:
    return synthesize(4000, 17).tables


def test_every_generated_exam_is_a_valid_document(cohort: CohortTables) -> None:
    docs = list(tables_to_documents(cohort))
    assert len(docs) == 4000
    for _, doc in docs:
        parse_exam_obj(doc)  # raises on the first invalid document


@pytest.mark.slow
def test_documents_round_trip_to_the_same_tables(cohort: CohortTables) -> None:
    parsed = [(row, parse_exam_obj(doc)) for row, doc in tables_to_documents(cohort)]
    again = documents_to_tables(parsed)
    assert_frame_equal(again.exams, cohort.exams)
    assert_frame_equal(again.legs, cohort.legs)
    assert_frame_equal(again.segments, cohort.segments)


def test_example_documents_round_trip() -> None:
    for name in ("seed-001-calcinosis.json", "calf-dvt.json"):
        exam = parse_exam_obj(load_example(name))
        ((_, doc),) = tables_to_documents(documents_to_tables([(0, exam)]))
        assert parse_exam_obj(doc) == exam


def test_schemas_are_the_table_types(cohort: CohortTables) -> None:
    assert cohort.exams.schema == pl.Schema(EXAM_SCHEMA)
    assert cohort.legs.schema == pl.Schema(LEG_SCHEMA)
    assert cohort.segments.schema == pl.Schema(SEGMENT_SCHEMA)


def test_deterministic_for_a_seed() -> None:
    a, b, c = synthesize(700, 3).tables, synthesize(700, 3).tables, synthesize(700, 4).tables
    for x, y in ((a.exams, b.exams), (a.legs, b.legs), (a.segments, b.segments)):
        assert_frame_equal(x, y)
    assert not a.segments.equals(c.segments)


def test_model_file_names_its_sources() -> None:
    model = load_model()
    assert model["c_class"]["insufficiency"]["sources"] == ["US500"]
    assert model["thrombosis"]["p_dvt"] == 0.16  # WEL97
    assert model["imaging"]["calcified_patient"] == 0.65  # TOK09
    for block in ("purpose", "trunk_state", "protocol", "reflux_duration"):
        assert model[block]["basis"] == "assumption"


def test_model_file_with_an_unknown_source_is_rejected(tmp_path: Path) -> None:
    text = Path(load_model.__defaults__[0]).read_text(encoding="utf-8")  # type: ignore[index]
    bad = tmp_path / "model.toml"
    bad.write_text(text.replace('sources = ["US500"]', 'sources = ["NOPE99"]'), encoding="utf-8")
    with pytest.raises(InvalidInput) as e:
        load_model(bad)
    assert any("NOPE99" in p.message for p in e.value.problems)


def test_class_mix_of_insufficiency_legs_follows_the_500_leg_series() -> None:
    """US500 (TV25): highest class of insufficiency legs; 4% tolerance at this size."""
    tables = synthesize(20_000, 8).tables
    legs = tables.legs.join(tables.exams.select("row", "exam_purpose"), on="row").filter(
        pl.col("exam_purpose") == "insufficiency"
    )
    weights = dict(zip(HIGHEST, load_model()["c_class"]["insufficiency"]["weights"], strict=True))
    total = sum(weights.values())
    # the highest class derived from the signs (recurrences folded back to their class)
    from venalab.rules.ceap import SIGN_CLASS

    order = list(HIGHEST)
    highest = legs.select(
        pl.col("signs")
        .list.eval(
            pl.element()
            .replace_strict(SIGN_CLASS)
            .replace_strict({c: i for i, c in enumerate(order)})
        )
        .list.max()
        .fill_null(0)
        .alias("h")
    ).get_column("h")
    observed = highest.value_counts(normalize=True)
    share = dict(observed.iter_rows())
    for i, cls in enumerate(order):
        assert abs(share.get(i, 0.0) - weights[cls] / total) < 0.04, cls


def test_boundaries_and_missing_values_are_present(cohort: CohortTables) -> None:
    cut_offs = {r.threshold_ms for cs in CRITERIA.values() for r in cs.groups.values()}
    measured = set(cohort.segments.get_column("reflux_ms").drop_nulls().to_list())
    assert cut_offs <= measured
    assert cohort.segments.get_column("reflux_ms").null_count() > 0
    assert cohort.legs.get_column("symptomatic").null_count() > 0
    assert 3.5 in set(cohort.segments.get_column("diameter_mm").drop_nulls().to_list())


def test_malformed_rows_are_invalid_documents() -> None:
    syn = synthesize(500, 2, malformed=8)
    assert len(syn.malformed) == 8
    bad = {m["row"] for m in syn.malformed}
    rejected = set()
    for row, doc in tables_to_documents(syn.tables):
        try:
            parse_exam_obj(doc)
        except InvalidInput:
            rejected.add(row)
    assert rejected == bad


def test_write_synthetic_files(tmp_path: Path) -> None:
    info = write_synthetic(300, 9, tmp_path)
    assert sorted(info["files"]) == [
        "exams.jsonl",
        "exams.parquet",
        "legs.parquet",
        "segments.parquet",
    ]
    lines = (tmp_path / "exams.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300
    parse_exam_obj(json.loads(lines[0]))
    assert json.loads((tmp_path / "cohort.json").read_text())["seed"] == 9
    assert pl.read_parquet(tmp_path / "exams.parquet").height == 300
    assert not list(tmp_path.glob(".*tmp"))


@settings(max_examples=15, deadline=None)
@given(st.integers(min_value=0, max_value=60), st.integers(min_value=0, max_value=2**31))
def test_property_any_size_and_seed_gives_valid_exams(n: int, seed: int) -> None:
    tables = synthesize(n, seed).tables
    assert tables.exams.height == n
    assert tables.exams.get_column("row").to_list() == list(range(n))
    for _, doc in tables_to_documents(tables):
        parse_exam_obj(doc)
