"""Bounded input (security issue, item 5): the decoders, the exam document's own bounds, and
the command line (exit 2 naming the path, never a traceback) on hostile JSON, YAML, FHIR and
DICOM input."""

from __future__ import annotations

import io
import json
import time
import zlib
from pathlib import Path

import pydicom
import pytest
from typer.testing import CliRunner

from helpers import EXAMPLES, exam_dict
from venalab.bounded import TooLarge, check_tree, decode_json, decode_yaml
from venalab.cli import app
from venalab.errors import InvalidInput
from venalab.exam import parse_exam_obj, parse_exam_text
from venalab.limits import LIMITS

runner = CliRunner()

DEEP_JSON = '{"format": "venous-exam/1", "x": ' + "[" * 5000 + "]" * 5000 + "}"
HUGE_INT_JSON = '{"format": "venous-exam/1", "patient": {"age_years": ' + "9" * 5000 + "}}"

LAUGHS = "".join(
    f"{name}: &{name} [{', '.join([f'*{prev}'] * 9) if prev else ', '.join(['lol'] * 9)}]\n"
    for name, prev in zip("abcdefghi", ["", *"abcdefgh"], strict=True)
)
YAML_ATTACKS = {
    "billion laughs": (LAUGHS, "values once aliases are expanded"),
    "recursive anchor": ("a: &a [1, *a]\n", "recursive"),
    "recursive mapping": (
        "format: venous-exam/1\npatient: &p {id: X, extra: *p}\n",
        "patient.extra: an alias refers to a node that contains it",
    ),
    "binary tag": ("format: venous-exam/1\npatient: !!binary aGVsbG8=\n", "patient: YAML tag"),
    "set tag": ("format: venous-exam/1\npatient: !!set {a, b}\n", "patient: YAML tag"),
    "python tag": ("x: !!python/object/apply:os.system ['true']\n", "x: YAML tag"),
    "deep flow": ("x: " + "[" * 3000 + "]" * 3000 + "\n", "nested deeper than 32"),
    "deep block": (
        "x:\n" + "".join("  " * i + "-\n" for i in range(1, 300)),
        "nested deeper than 32",
    ),
    "huge integer": ("patient:\n  age_years: " + "1" * 5000 + "\n", "patient.age_years: integer"),
    "many aliases": (
        "a: &a 1\nb: [" + ", ".join(["*a"] * 500) + "]\n",
        "more than 100 aliases",
    ),
}


# ---------------------------------------------------------------------------------------
# Decoders


def test_json_beyond_the_decoders_own_limits_names_the_path() -> None:
    with pytest.raises(InvalidInput) as deep:
        decode_json(DEEP_JSON)
    [problem] = deep.value.problems
    assert problem.path.startswith("x[0][0]") and "nested deeper than 32" in problem.message
    with pytest.raises(InvalidInput) as huge:
        decode_json(HUGE_INT_JSON)
    assert [(p.path, p.message) for p in huge.value.problems] == [
        ("patient.age_years", "number longer than 30 digits")
    ]


@pytest.mark.parametrize(
    ("value", "path", "message"),
    [
        ({"a": "x\x00y"}, "a", "NUL"),
        ({"a": ["x" * (LIMITS.string_chars + 1)]}, "a[0]", "longer than"),
        ({"a": list(range(LIMITS.items + 1))}, "a", "more than 10,000 items"),
        ({"a": {"b": 10**40}}, "a.b", "longer than 30 digits"),
        ({"a": [1.0, float("nan")]}, "a[1]", "not a finite number"),
        ({"a\x00": 1}, "", "NUL"),
    ],
)
def test_check_tree_bounds(value: object, path: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        check_tree(value)
    assert err.value.problems[0].path == path and message in err.value.problems[0].message


def test_limits_are_inclusive_at_the_boundary() -> None:
    check_tree({"a": "x" * LIMITS.string_chars, "b": 10**29, "c": list(range(LIMITS.items))})
    nested: object = 1
    for _ in range(LIMITS.depth):
        nested = [nested]
    check_tree(nested)
    with pytest.raises(InvalidInput, match="nested deeper"):
        check_tree([nested])


def test_json_body_size_is_refused_before_decoding() -> None:
    with pytest.raises(TooLarge, match="larger than 2 MiB"):
        decode_json(b" " * (LIMITS.body_bytes + 1))


@pytest.mark.parametrize("name", sorted(YAML_ATTACKS))
def test_hostile_yaml_is_refused_with_its_path(name: str) -> None:
    text, expected = YAML_ATTACKS[name]
    started = time.perf_counter()
    with pytest.raises(InvalidInput) as err:
        decode_yaml(text)
    assert time.perf_counter() - started < 5  # refused, not expanded
    assert expected in str(err.value)


def test_yaml_anchors_merge_keys_and_dates_still_work() -> None:
    doc = exam_dict()
    text = (
        "format: venous-exam/1\n"
        "patient: {id: Y-1, sex: female, age_years: 61}\n"
        "exam: {date: 2025-01-15}\n"
        "base: &seg {vein: GSVa, site: proximal}\n"
        "legs:\n  left:\n    segments:\n"
        "      - {<<: *seg, reflux_ms: 900}\n"
        "      - <<: *seg\n        site: distal\n"
    )
    value = decode_yaml(text)
    assert value["legs"]["left"]["segments"][1] == {"vein": "GSVa", "site": "distal"}
    del value["base"]
    exam = parse_exam_obj(value)
    assert exam.exam.date.isoformat() == "2025-01-15" and len(exam.legs.left.segments) == 2  # type: ignore[union-attr]
    assert parse_exam_text(json.dumps(doc)).patient.id == "T-1"


# ---------------------------------------------------------------------------------------
# The exam document's own bounds


def test_segments_per_leg_are_bounded() -> None:
    seg = {"vein": "GSVa", "reflux_ms": 100}
    parse_exam_obj(exam_dict(left={"segments": [seg] * LIMITS.segments_per_leg}))
    with pytest.raises(InvalidInput) as err:
        parse_exam_obj(exam_dict(left={"segments": [seg] * (LIMITS.segments_per_leg + 1)}))
    assert err.value.problems[0].path == "legs.left.segments"


# ---------------------------------------------------------------------------------------
# Command line: exit 2 naming the path, nothing written, no traceback


@pytest.mark.parametrize("name", ["billion laughs", "recursive mapping", "binary tag", "set tag"])
def test_cli_refuses_hostile_yaml_with_exit_2(name: str, tmp_path: Path) -> None:
    text, expected = YAML_ATTACKS[name]
    path = tmp_path / "exam.yaml"
    path.write_text(text)
    out = tmp_path / "out.json"
    res = runner.invoke(app, ["assess", str(path), "-o", str(out)])
    assert res.exit_code == 2, res.output
    assert expected in res.stderr and "Traceback" not in res.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (YAML_ATTACKS["deep block"][0], "x[0][0]"),
        (YAML_ATTACKS["huge integer"][0], "patient.age_years: integer longer than 30"),
        (DEEP_JSON, "x[0][0]"),
        (HUGE_INT_JSON, "patient.age_years: number longer than 30"),
    ],
)
def test_cli_refuses_deep_and_huge_input(text: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "exam.txt"
    path.write_text(text)
    res = runner.invoke(app, ["assess", str(path)])
    assert res.exit_code == 2, res.output
    assert expected in res.stderr


def test_cli_refuses_oversized_files_and_stdin(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (LIMITS.body_bytes + 1))
    res = runner.invoke(app, ["assess", str(big)])
    assert res.exit_code == 2 and "larger than 2 MiB" in res.stderr
    res = runner.invoke(app, ["assess", "-"], input=" " * (LIMITS.body_bytes + 1))
    assert res.exit_code == 2 and "larger than 2 MiB" in res.stderr


def test_fhir_import_refuses_deep_json_and_oversized_files(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"resourceType": "Bundle", "entry": ' + "[" * 5000 + "]" * 5000 + "}")
    res = runner.invoke(app, ["import", "fhir", str(deep)])
    assert res.exit_code == 2 and "entry[0][0]" in res.stderr and "nested deeper" in res.stderr
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (LIMITS.upload_bytes + 1))
    res = runner.invoke(app, ["import", "fhir", str(big)])
    assert res.exit_code == 2 and "larger than 20 MiB" in res.stderr


# ---------------------------------------------------------------------------------------
# DICOM SR: nesting, item counts and inflated size are bounded before pydicom parses


def _nested_sequences(levels: int) -> bytes:
    """A private sequence (explicit VR little endian, undefined lengths) nested `levels`
    deep: each level is an element, an item, then their delimiters."""
    head = b"\x99\x00\x00\x10SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    tail = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return head * levels + tail * levels


@pytest.fixture(scope="module")
def sr_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    out = tmp_path_factory.mktemp("sr") / "calf.dcm"
    res = runner.invoke(app, ["export", "sr", str(EXAMPLES / "calf-dvt.json"), "-o", str(out)])
    assert res.exit_code == 0, res.output
    return out.read_bytes()


def test_sr_import_refuses_deeply_nested_sequences(sr_file: bytes, tmp_path: Path) -> None:
    from venalab.interop.sr_import import import_sr_bytes

    hostile = sr_file + _nested_sequences(5000)
    with pytest.raises(InvalidInput, match="nested deeper than 24"):
        import_sr_bytes(hostile, name="deep.dcm")
    path = tmp_path / "deep.dcm"
    path.write_bytes(hostile)
    res = runner.invoke(app, ["import", "sr", str(path)])
    assert res.exit_code == 2 and "nested deeper than 24" in res.stderr
    import_sr_bytes(sr_file + _nested_sequences(LIMITS.dicom_depth - 8), name="ok.dcm")


def test_sr_import_refuses_a_deflate_bomb(sr_file: bytes) -> None:
    from venalab.interop.sr_import import import_sr_bytes

    # The exported file's meta group, switched to Deflated Explicit VR Little Endian, then a
    # data set of a few kilobytes that inflates to more than the limit.
    ds = pydicom.dcmread(io.BytesIO(sr_file))
    old = ds.file_meta.TransferSyntaxUID.encode()
    old += b"\x00" * (len(old) % 2)
    new = b"1.2.840.10008.1.2.1.99"
    meta = sr_file[: 144 + ds.file_meta.FileMetaInformationGroupLength]
    at = meta.index(old)
    meta = meta[: at - 2] + len(new).to_bytes(2, "little") + new + meta[at + len(old) :]
    group_length = int.from_bytes(meta[140:144], "little") + len(new) - len(old)
    meta = meta[:140] + group_length.to_bytes(4, "little") + meta[144:]
    bomb = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    blob = bomb.compress(b"\x00" * (LIMITS.dicom_inflated_bytes + 1024)) + bomb.flush()
    assert len(blob) < 200_000
    with pytest.raises(InvalidInput, match="inflated data set is larger"):
        import_sr_bytes(meta + blob, name="bomb.dcm")
