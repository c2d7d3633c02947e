"""DICOM SR import (issue 7 item 4): TID 5100 files written by DCMTK's xml2dsr from
hand-written XML (tests/data/sr/*.xml), independent of the exporter and of pydicom."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any, get_args

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import load_example, make_exam
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.exam import VeinCode, parse_exam_obj
from venalab.interop import sr_codes as C
from venalab.interop.sr_export import build_sr
from venalab.interop.sr_import import SrImport, check_integrity, import_sr, import_sr_bytes

DATA = Path(__file__).parent / "data" / "sr"

VENDOR_A = {
    "99VENA:RT01": "reflux_ms",
    "99VENA:CMPR": "compressibility",
    "99VENA:CMPR-C": "compressibility=full",
}
VENDOR_B = {
    "99VENB:RFLX": {"target": "reflux_ms", "meaning": "Reflux duration (s)"},
    "99VENB:COMP": "compressibility",
    "99VENB:FULL": "compressibility=full",
    "99VENB:TAGE": "thrombus.age",
    "99VENB:ACUTE": "thrombus.age=acute",
    "99VENB:TLEN": "thrombus.length_cm",
    "99VENB:PFLOW": "outward_flow_ms",
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: install Debian dcmtk/dicom3tools (scripts/system-deps.sh)"
    return path


def xml2dsr(name: str, out_dir: Path) -> Path:
    """Convert tests/data/sr/<name>.xml with DCMTK (schema-validated with +Vs)."""
    out = out_dir / f"{name}.dcm"
    subprocess.run(
        [_tool("xml2dsr"), "+Vs", str(DATA / f"{name}.xml"), str(out)],
        check=True,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="module")
def sr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sr")


@pytest.fixture(scope="module")
def vendor_a(sr_dir: Path) -> Path:
    path = xml2dsr("vendor_a_seed001", sr_dir)
    # The XML schema has no Patient's Age; the seed exam gives an age, not a birth date.
    subprocess.run([_tool("dcmodify"), "-nb", "-i", "(0010,1010)=070Y", str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def vendor_b(sr_dir: Path) -> Path:
    return xml2dsr("vendor_b_legacy_seed001", sr_dir)


@pytest.fixture(scope="module")
def legacy_findings(sr_dir: Path) -> Path:
    return xml2dsr("vendor_b_legacy_findings", sr_dir)


def _paths(result: SrImport) -> dict[str, str]:
    return {u.path: u.reason for u in result.unmapped}


# --- the same exam the worksheet would produce -------------------------------------------


def test_vendor_a_current_codes_give_seed001_segments(vendor_a: Path) -> None:
    seed = parse_exam_obj(load_example("seed-001-calcinosis.json"))
    result = import_sr(vendor_a, VENDOR_A)
    exam = result.exam
    assert exam.legs.right is None and exam.legs.left is not None
    assert seed.legs.left is not None
    assert exam.legs.left.segments == seed.legs.left.segments
    assert (exam.patient.id, exam.patient.sex, exam.patient.age_years) == (
        "JVB-2022-001",
        "male",
        70,
    )
    assert exam.exam.date == seed.exam.date
    assert result.unmapped == ()
    # Not in a standard SR: reported, left absent.
    assert exam.exam.purpose is None and exam.exam.position is None
    assert any("exam.purpose is not in the SR" in d for d in result.decisions)
    assert any("Device Observer UID" in d for d in result.decisions)
    # The engine reads both the same way.
    got = assess(exam).legs.left
    want = assess(seed).legs.left
    assert got is not None and want is not None
    assert [(s.vein, s.reflux, s.measured_ms) for s in got.segments] == [
        (s.vein, s.reflux, s.measured_ms) for s in want.segments
    ]
    assert got.reflux_patterns == want.reflux_patterns == {"GSV": "axial"}


def test_vendor_b_legacy_srt_seconds_give_the_same_segments(vendor_b: Path) -> None:
    seed = parse_exam_obj(load_example("seed-001-calcinosis.json"))
    result = import_sr(vendor_b, VENDOR_B)
    assert seed.legs.left is not None and result.exam.legs.left is not None
    assert result.exam.legs.left.segments == seed.legs.left.segments
    assert result.exam.patient.birth_date is not None
    assert result.exam.patient.birth_date.isoformat() == "1951-02-03"
    assert result.exam.exam.operator == "Ann Sonographer"
    assert "1.3.6.1: 1.5 s -> 1500 ms" in result.decisions
    assert any("summary section not imported" in d for d in result.decisions)
    assert result.unmapped == ()


def test_private_codes_without_a_map_are_reported_not_dropped(vendor_b: Path) -> None:
    result = import_sr(vendor_b)
    left = result.exam.legs.left
    assert left is not None
    assert [s.vein for s in left.segments] == ["CFV", "FV", "POPV", "GSVa", "GSVb"]
    assert all(s.reflux_ms is None and s.compressibility is None for s in left.segments)
    unmapped = _paths(result)
    assert set(unmapped) == {"1.3.3.1", "1.3.4.1", "1.3.5.1", "1.3.6.1", "1.3.7.1"}
    assert "99VENB:RFLX" in unmapped["1.3.6.1"] and "local-code map" in unmapped["1.3.6.1"]
    # Interface-neutral: the web page has no command-line flags.
    assert "--" not in " ".join(unmapped.values())


def test_lab_map_overrides_and_adds_to_the_shipped_map(vendor_a: Path) -> None:
    # A lab may send the vendor's reflux code to "ignore": reported as a decision, not imported.
    result = import_sr(vendor_a, {**VENDOR_A, "99VENA:RT01": "ignore"})
    left = result.exam.legs.left
    assert left is not None and all(s.reflux_ms is None for s in left.segments)
    assert sum("ignored (local-code map)" in d for d in result.decisions) == 2


# --- legacy findings: thrombus, plain GSV, units, perforators ----------------------------


def test_legacy_findings(legacy_findings: Path) -> None:
    result = import_sr(legacy_findings, VENDOR_B)
    right = result.exam.legs.right
    assert right is not None and result.exam.legs.left is None
    by_vein = {s.vein: s for s in right.segments}
    assert [s.vein for s in right.segments] == ["CFV", "FV", "POPV", "GSVa", "SSV", "CPV"]
    # "No thrombus" is a finding, never a thrombus; "possible" is reported, not imported.
    assert by_vein["CFV"].thrombus is None
    assert by_vein["FV"].thrombus is None
    assert "possible thrombus" in _paths(result)["1.1.4.1"]
    thr = by_vein["POPV"].thrombus
    assert thr is not None and (thr.age, thr.length_cm, thr.occlusive) == ("acute", 4.5, None)
    # Plain GSV with a proximal modifier -> GSVa (by-site policy); units converted.
    gsv = by_vein["GSVa"]
    assert (gsv.site, gsv.reflux_ms, gsv.diameter_mm) == ("proximal", 800.0, 6.2)
    assert "1.1.6: plain great saphenous vein -> GSVa (site proximal)" in result.decisions
    # Plain GSV without a modifier: not guessed.
    assert "without a proximal/distal modifier" in _paths(result)["1.1.7"]
    assert by_vein["SSV"].site == "mid"
    cpv = by_vein["CPV"]
    assert (cpv.reflux_ms, cpv.diameter_mm, cpv.label) == (600.0, 3.8, "Cockett's perforating vein")


@pytest.mark.parametrize(
    ("policy", "veins", "skipped"),
    [
        ("by-site", ["GSVa"], ["1.1.7"]),
        ("thigh", ["GSVa", "GSVa"], []),
        ("calf", ["GSVb", "GSVb"], []),
        ("skip", [], ["1.1.6", "1.1.7"]),
    ],
)
def test_plain_gsv_policy(
    legacy_findings: Path, policy: Any, veins: list[str], skipped: list[str]
) -> None:
    result = import_sr(legacy_findings, VENDOR_B, plain_gsv=policy)
    assert result.exam.legs.right is not None
    got = [s.vein for s in result.exam.legs.right.segments if s.vein in ("GSVa", "GSVb")]
    assert got == veins
    gsv_skips = [p for p, r in _paths(result).items() if "great saphenous vein without" in r]
    assert gsv_skips == skipped


def test_perforator_outward_flow_code_on_a_non_perforator_is_reported(tmp_path: Path) -> None:
    exam = make_exam(left={"segments": [{"vein": "CFV", "reflux_ms": 1200}]})
    path = tmp_path / "x.dcm"
    build_sr(exam, assess(exam)).save_as(path, enforce_file_format=True)
    # Re-map venalab's reflux code as a perforator outward-flow code.
    result = import_sr(path, {"99VENALAB:RFX": "outward_flow_ms"})
    assert result.exam.legs.left is not None
    assert result.exam.legs.left.segments[0].reflux_ms is None
    assert any("not a perforator" in u.reason for u in result.unmapped)


# --- thrombus codes: a negative finding never becomes a thrombus --------------------------


def _thrombus_sr(tmp_path: Path, scheme: str, value: str) -> Path:
    exam = make_exam(left={"segments": [{"vein": "POPV", "thrombus": {"age": "acute"}}]})
    ds = build_sr(exam, assess(exam))
    findings = next(
        i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == C.FINDINGS.value
    )
    group = findings.ContentSequence[2]
    thrombus = group.ContentSequence[0]
    thrombus.ConceptCodeSequence[0].CodingSchemeDesignator = scheme
    thrombus.ConceptCodeSequence[0].CodeValue = value
    path = tmp_path / f"{scheme}-{value}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize(
    ("scheme", "value", "present"),
    [
        ("SCT", C.NO_THROMBUS.value, False),
        ("SRT", "R-0033A", False),  # legacy id of "No thrombus"
        ("SCT", C.POSSIBLE_THROMBUS.value, False),
        ("SCT", C.DEFINITE_THROMBUS.value, True),
        ("SRT", "R-002F1", True),  # legacy id of "Definite thrombus"
        ("SCT", C.SEVERE_THROMBUS.value, True),
        ("SCT", C.THROMBUS.value, True),
    ],
)
def test_thrombus_presence_codes(tmp_path: Path, scheme: str, value: str, present: bool) -> None:
    result = import_sr(_thrombus_sr(tmp_path, scheme, value))
    assert result.exam.legs.left is not None
    segment = result.exam.legs.left.segments[0]
    assert (segment.thrombus is not None) is present
    if not present:
        # The thrombus's own properties (age) are not imported either: reported instead.
        assert result.unmapped


# --- laterality ----------------------------------------------------------------------------


def test_missing_laterality_is_reported_and_skipped(sr_dir: Path) -> None:
    path = xml2dsr("missing_laterality", sr_dir)
    result = import_sr(path)
    assert result.exam.legs.left is None
    assert result.exam.legs.right is not None
    assert [s.vein for s in result.exam.legs.right.segments] == ["CFV"]
    unmapped = _paths(result)
    assert "venalab does not guess" in unmapped["1.1.2"]
    assert "bilateral" in unmapped["1.3.2"]
    assert any("template id is absent" in d for d in result.decisions)


def test_side_applies_only_to_sections_without_laterality(sr_dir: Path) -> None:
    path = xml2dsr("missing_laterality", sr_dir)
    result = import_sr(path, side="left")
    assert result.exam.legs.left is not None and result.exam.legs.right is not None
    assert [s.vein for s in result.exam.legs.left.segments] == ["GSVa"]
    assert [s.vein for s in result.exam.legs.right.segments] == ["CFV"]
    # A bilateral section is never attributed to one leg.
    assert "bilateral" in _paths(result)["1.3.2"]
    assert "1.1.2: no laterality in the file; side left chosen for the import" in (result.decisions)


def test_no_laterality_anywhere_is_refused_without_side(sr_dir: Path) -> None:
    path = xml2dsr("no_laterality", sr_dir)
    with pytest.raises(InvalidInput) as exc:
        import_sr(path)
    assert "no vein measurement could be imported" in str(exc.value)
    assert "choose the leg" in str(exc.value)
    result = import_sr(path, side="right")
    assert result.exam.legs.right is not None
    assert result.exam.legs.right.segments[0].reflux_ms == 900.0


# --- unknown codes ------------------------------------------------------------------------


def test_unknown_codes_are_all_reported(sr_dir: Path) -> None:
    result = import_sr(xml2dsr("unknown_codes", sr_dir))
    right = result.exam.legs.right
    assert right is not None
    assert [(s.vein, s.diameter_mm, s.reflux_ms) for s in right.segments] == [
        ("CFV", None, None),
        ("FV", 9.0, None),
    ]
    unmapped = _paths(result)
    expected = {
        "1.1": "not part of the TID 5100 structure",
        "1.2.1": "is not the veins of the lower extremity",
        "1.2.3": "not about lower-extremity veins",
        "1.3.3.1": "no exam-document field",
        "1.3.3.2": "private measurement code 99VENC:XYZ",
        "1.3.3.3": "unit '[in_i]' cannot be converted to mm",
        "1.3.3.4": "reflux_ms rejected",
        "1.3.4.1": "vessel branch",
        "1.3.5": "not a lower-extremity vein of the exam format",
    }
    assert set(unmapped) == set(expected)
    for path, words in expected.items():
        assert words in unmapped[path], (path, unmapped[path])


# --- integrity: a damaged file is refused whole ------------------------------------------


def test_pydicom_alone_reads_a_truncated_file_without_error(vendor_a: Path) -> None:
    """The premise (interop.md section 10): why venalab checks lengths itself."""
    data = vendor_a.read_bytes()
    cut = vendor_a.with_name("cut.dcm")
    cut.write_bytes(data[: len(data) * 2 // 3])
    ds = pydicom.dcmread(cut)
    assert ds.PatientID == "JVB-2022-001"


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_file_is_refused_and_dsrdump_agrees(vendor_a: Path, fraction: float) -> None:
    data = vendor_a.read_bytes()
    cut = vendor_a.with_name(f"cut-{fraction}.dcm")
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(InvalidInput) as exc:
        import_sr(cut, VENDOR_A)
    assert "damaged" in str(exc.value) and "nothing imported" in str(exc.value)
    # Independent check with DCMTK: it refuses the same file.
    dump = subprocess.run([_tool("dsrdump"), "-q", str(cut)], capture_output=True)
    assert dump.returncode != 0


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_every_truncation_is_refused(vendor_a: Path, data: st.DataObject) -> None:
    raw = vendor_a.read_bytes()
    n = data.draw(st.integers(min_value=0, max_value=len(raw) - 1))
    with pytest.raises(InvalidInput):
        import_sr_bytes(raw[:n], VENDOR_A, name="cut.dcm")


def test_corrupted_length_is_refused(vendor_a: Path) -> None:
    raw = bytearray(vendor_a.read_bytes())
    # Overwrite the ContentSequence's declared length with a huge one.
    pos = raw.index(b"\x40\x00\x30\xa7SQ")
    raw[pos + 8 : pos + 12] = (0x7FFFFFF0).to_bytes(4, "little")
    assert check_integrity(bytes(raw)) is not None
    with pytest.raises(InvalidInput, match="declares"):
        import_sr_bytes(bytes(raw), VENDOR_A)


@pytest.mark.parametrize("syntax", ["+ti", "+tb", "+td", "+te"])
def test_other_transfer_syntaxes(vendor_a: Path, syntax: str) -> None:
    """Implicit VR, explicit big endian, deflated: checked and imported the same way."""
    out = vendor_a.with_name(f"ts{syntax}.dcm")
    subprocess.run([_tool("dcmconv"), syntax, str(vendor_a), str(out)], check=True)
    data = out.read_bytes()
    assert check_integrity(data) is None
    want = import_sr(vendor_a, VENDOR_A).exam
    assert import_sr(out, VENDOR_A).exam == want
    assert check_integrity(data[:-3]) is not None


def test_not_a_dicom_file(tmp_path: Path) -> None:
    path = tmp_path / "x.dcm"
    path.write_text("hello")
    with pytest.raises(InvalidInput, match="not a DICOM file"):
        import_sr(path)


def test_dicom_but_not_a_structured_report(tmp_path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"  # US image storage
    ds.SOPInstanceUID = generate_uid()
    ds.PatientID = "X"
    path = tmp_path / "us.dcm"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(InvalidInput, match="not a structured report"):
        import_sr(path)


# --- header --------------------------------------------------------------------------------


def test_header_without_birth_date_or_age_gives_a_draft(vendor_a: Path, tmp_path: Path) -> None:
    """Lenient reading: the measurements are kept, the missing field is named (not refused)."""
    path = tmp_path / "noage.dcm"
    shutil.copy(vendor_a, path)
    subprocess.run([_tool("dcmodify"), "-nb", "-ea", "(0010,1010)", str(path)], check=True)
    result = import_sr(path, VENDOR_A)
    assert result.exam_or_none is None
    assert [p.path for p in result.missing] == ["patient.age_years"]
    assert "birth date or an age" in result.missing[0].message
    assert len(result.document["legs"]["left"]["segments"]) == 5
    with pytest.raises(InvalidInput, match="birth date or an age"):
        _ = result.exam
    # Given for the import, the age completes the exam; the file's own values still win.
    given = import_sr(path, VENDOR_A, patient={"age_years": 70, "id": "OTHER"})
    assert given.exam.patient.age_years == 70 and given.exam.patient.id == "JVB-2022-001"
    assert "patient.age_years 70 given for the import (not in the file)" in given.decisions


# --- local-code maps ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"99X:1": "reflux"}, "unknown target"),
        ({"nocolon": "reflux_ms"}, "SCHEME:CODE"),
        ({"99X:1": "compressibility=soft"}, "not a value of compressibility"),
        ({"99X:1": "vein=GSV"}, "not a value of vein"),
        ({"99X:1": "obstruction=maybe"}, "'true' or 'false'"),
        ({"99X:1": {"target": "reflux_ms", "unit": "s"}}, "expected a target string"),
        ({"99X:1": 3}, "expected a target string"),
    ],
)
def test_bad_local_code_maps_are_refused(entry: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        C.parse_local_codes(entry, "map.json")
    assert words in str(exc.value)
    assert next(iter(entry)) in str(exc.value)


def test_shipped_map_covers_every_exam_vein_and_field() -> None:
    """The exporter finds a code for every vein, field and coded value it may write."""
    assert set(C.EXPORT_VEIN_CODE) == set(get_args(VeinCode))
    standard = {"diameter_mm"}  # SCT 397413000, from pydicom
    for target in [*C.NUMERIC_TARGETS, *C.BOOLEAN_TARGETS, *C.TEXT_TARGETS]:
        if target not in standard:
            assert C.export_code(target).scheme == C.LOCAL_SCHEME
    for field, values in C.CODED_TARGETS.items():
        if field not in C.VALUE_ONLY:
            assert C.export_code(field).scheme == C.LOCAL_SCHEME
            for value in values:
                assert C.export_code(f"{field}={value}").scheme == C.LOCAL_SCHEME


def test_srt_codes_normalise_to_sct() -> None:
    assert C.normalize("SRT", "T-49530") == C.PLAIN_GSV.key
    assert C.normalize("SRT", "G-C171") == C.LATERALITY.key
    assert C.normalize("99VEN", "T-49530") == ("99VEN", "T-49530")


def test_no_prefix_of_a_valid_file_imports(vendor_a: Path) -> None:
    """Exhaustive: cutting the file at any byte leaves nothing importable."""
    raw = vendor_a.read_bytes()
    imported = []
    for n in range(len(raw)):
        try:
            import_sr_bytes(raw[:n], VENDOR_A, name="cut.dcm")
            imported.append(n)
        except InvalidInput:
            pass
    assert imported == []
    assert import_sr_bytes(raw, VENDOR_A).exam.legs.left is not None


def test_generic_measurement_group_with_finding_site(tmp_path: Path) -> None:
    """Variant some writers use: (125007, DCM, "Measurement Group") + Finding Site = vein."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    exam = make_exam(left={"segments": [{"vein": "GSVa", "site": "distal", "reflux_ms": 900}]})
    ds = build_sr(exam, assess(exam))
    findings = next(
        i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == C.FINDINGS.value
    )
    group = findings.ContentSequence[2]
    vein = group.ConceptNameCodeSequence[0]
    generic = Dataset()
    generic.CodeValue, generic.CodingSchemeDesignator = C.MEASUREMENT_GROUP.value, "DCM"
    generic.CodeMeaning = C.MEASUREMENT_GROUP.meaning
    site = Dataset()
    site.RelationshipType, site.ValueType = "HAS CONCEPT MOD", "CODE"
    site.ConceptNameCodeSequence = Sequence([Dataset()])
    concept = site.ConceptNameCodeSequence[0]
    concept.CodeValue, concept.CodingSchemeDesignator = C.FINDING_SITE.value, "SCT"
    concept.CodeMeaning = C.FINDING_SITE.meaning
    site.ConceptCodeSequence = Sequence([vein])
    group.ConceptNameCodeSequence = Sequence([generic])
    group.ContentSequence.insert(0, site)
    path = tmp_path / "generic.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = import_sr(path)
    assert result.exam.legs == exam.legs
    assert result.unmapped == ()


# --- vendor styles (issue 20): standard properties, nested containers, laterality levels ----


def test_vendor_c_nested_containers_and_standard_properties(sr_dir: Path) -> None:
    """Wrapper containers, laterality only on measurements, seconds, peak retrograde
    velocity, a Tracking Identifier label, and a thrombus whose length (SCT 410668003
    "Length", cm), occlusion and age are standard HAS PROPERTIES items under the finding."""
    result = import_sr(xml2dsr("vendor_c_nested", sr_dir))
    assert result.unmapped == ()
    left = result.exam.legs.left
    assert left is not None and result.exam.legs.right is None
    gsv, popv = left.segments
    assert (gsv.vein, gsv.reflux_ms, gsv.peak_reflux_velocity_cm_s, gsv.diameter_mm) == (
        "GSVa",
        1200.0,
        35.0,
        7.1,
    )
    assert gsv.label == "GSV 3 cm below SFJ"
    assert popv.thrombus is not None
    assert (popv.thrombus.length_cm, popv.thrombus.occlusive, popv.thrombus.age) == (
        5.5,
        True,
        "chronic",
    )
    assert "1.1.2.1.1: 1.2 s -> 1200 ms" in result.decisions


def test_vendor_d_legacy_groups_with_laterality_under_the_finding_site(sr_dir: Path) -> None:
    path = xml2dsr("vendor_d_legacy_groups", sr_dir)
    result = import_sr(path, patient={"age_years": 61})
    right = result.exam.legs.right
    assert right is not None
    cfv, gsv = right.segments
    assert cfv.thrombus is not None and cfv.thrombus.length_cm == 4.2  # 42 mm
    assert (gsv.vein, gsv.site, gsv.reflux_ms) == ("GSVb", "distal", 640.0)
    # The group with no laterality anywhere is reported, not guessed ...
    assert "venalab does not guess" in _paths(result)["1.1.3"]
    # ... unless the leg is chosen for the import: then only that group takes it.
    chosen = import_sr(path, side="left", patient={"age_years": 61})
    assert chosen.exam.legs.left is not None
    assert [s.vein for s in chosen.exam.legs.left.segments] == ["SSV"]
    assert [s.vein for s in chosen.exam.legs.right.segments] == ["CFV", "GSVb"]  # type: ignore[union-attr]


def test_unit_aliases_are_read_and_reported(tmp_path: Path) -> None:
    exam = make_exam(left={"segments": [{"vein": "GSVa", "reflux_ms": 800}]})
    ds = build_sr(exam, assess(exam))
    findings = next(
        i for i in ds.ContentSequence if i.ConceptNameCodeSequence[0].CodeValue == C.FINDINGS.value
    )
    unit = findings.ContentSequence[2].ContentSequence[0].MeasuredValueSequence[0]
    unit.MeasurementUnitsCodeSequence[0].CodeValue = "sec"
    unit.NumericValue, unit.FloatingPointValue = "0.8", 0.8
    path = tmp_path / "sec.dcm"
    ds.save_as(path, enforce_file_format=True)
    result = import_sr(path)
    assert result.exam.legs.left.segments[0].reflux_ms == 800.0  # type: ignore[union-attr]
    assert any("unit 'sec' read as UCUM 's'" in d for d in result.decisions)


def test_vendor_e_group_under_the_root_report_laterality_and_content_age(sr_dir: Path) -> None:
    result = import_sr(xml2dsr("vendor_e_minimal", sr_dir))
    assert result.missing == () and result.unmapped == ()
    right = result.exam.legs.right
    assert right is not None and result.exam.legs.left is None
    assert [(s.vein, s.reflux_ms) for s in right.segments] == [("SSV", 750.0)]
    assert result.exam.patient.age_years == 64
    assert any("from the report content (Subject Age)" in d for d in result.decisions)
