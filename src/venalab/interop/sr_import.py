"""Import a DICOM Comprehensive SR (TID 5100 vascular ultrasound report) as an exam document.

Template: DICOM PS3.16 TID 5100 / 5103 / 5104 (Annex M of PS3.17: laterality at the section
level); codes from sr_codes (pydicom's DICOM dictionaries, SNOMED CT and the legacy SRT ids).
Conventions (shared/reference/interop.md section 10), each one reported when it applies:

- Integrity first. pydicom reads a truncated file without complaint, so the file's declared
  element, item and sequence lengths are checked against the bytes present (and the meta
  group length); a damaged file is refused whole: nothing is imported.
- Laterality comes from the TID 5103 section (`Laterality` modifier, also nested under
  `Finding Site`), else from the measurement group. With none, venalab refuses to guess:
  the section is skipped and reported, unless the caller gives `side`, which then applies to
  those sections only (reported as a decision). Bilateral/unilateral counts as none.
- Site: the CID 12116 topographical modifier (proximal / mid / distal) becomes `site`; no
  modifier, no site. A plain "great saphenous vein" (no thigh/calf) follows `plain_gsv`:
  "by-site" (default) maps proximal -> GSVa and distal -> GSVb and skips (reports) the rest;
  "thigh" / "calf" map every plain GSV to GSVa / GSVb; "skip" reports them all.
- Lenient reading (issue 20), each choice reported: sections may be wrapped in other
  containers or missing (vein groups under the root), laterality may sit on the report, the
  section, the group, under the group's Finding Site or on every measurement; non-UCUM unit
  spellings (sec, msec) are read; the patient's age may come from a Subject Age in the
  content; a header lacking the patient id, age or date gives a draft with `missing` fields
  (asked for in the worksheet) instead of a refusal.
- Measurements: SCT 397413000 vessel lumen diameter -> diameter_mm; LN 20355-4 peak blood
  velocity with Direction of flow = Retrograde flow -> peak_reflux_velocity_cm_s; DCM 112039
  Tracking Identifier -> label; SCT Obstruction (yes/no) -> obstruction; local (private)
  codes through the local-code map (sr_codes); UCUM units converted (s, ms, cm, mm, m/s ...).
- Properties nested under a thrombus finding: standard ones are read wherever they sit (SCT
  410668003 Length -> thrombus.length_cm, SCT Occlusion -> occlusive, a CID 6130 value such
  as Chronic -> age), besides the local codes.
- Thrombus: SCT 396339007 or CID 3714 "Definite"/"Severe" -> a thrombus; "No thrombus" is a
  negative finding and never becomes one; "Possible thrombus" is reported, not imported.
- Patient id, sex, birth date (else age) and the study date come from the DICOM header. Exam
  purpose and position have no standard SR code: absent unless venalab's own local codes
  carry them, and reported as absent.
- Anything not understood is listed in `unmapped` with its content-item position (as
  `dsrdump +Pn` shows it) and the reason; nothing is dropped silently.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple

import pydicom
from pydantic import ValidationError
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from venalab.bounded import read_limited, too_large
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.evidence import Frozen
from venalab.exam import PERFORATOR_VEINS, ExamDocument, Segment, Side, parse_exam_obj
from venalab.interop import sr_codes as C
from venalab.interop.sr_codes import CodeKey, LocalCode, SrCode
from venalab.limits import LIMITS

PlainGsvPolicy = Literal["by-site", "thigh", "calf", "skip"]

SR_SOP_CLASSES: dict[str, str] = {
    "1.2.840.10008.5.1.4.1.1.88.22": "Enhanced SR",
    "1.2.840.10008.5.1.4.1.1.88.33": "Comprehensive SR",
    "1.2.840.10008.5.1.4.1.1.88.34": "Comprehensive 3D SR",
    "1.2.840.10008.5.1.4.1.1.88.35": "Extensible SR",
}
WHAT = "DICOM SR file"


class Unmapped(NamedTuple):
    """A content item venalab did not import: its position (`1.3.2`) and why."""

    path: str
    reason: str


class SrImport(Frozen):
    """The exam read from an SR, what was not imported, and the policies applied.

    Lenient reading: a file that lacks something the exam format requires (patient id,
    birth date or age, study date) still gives `document`, the draft to complete, with
    `missing` naming each field; `exam` is then absent (`exam` raises InvalidInput).
    """

    document: dict[str, Any]
    exam_or_none: ExamDocument | None = None
    missing: tuple[Problem, ...] = ()
    unmapped: tuple[Unmapped, ...] = ()
    decisions: tuple[str, ...] = ()

    @property
    def exam(self) -> ExamDocument:
        """The validated exam; InvalidInput naming every missing field when incomplete."""
        if self.exam_or_none is None:
            raise InvalidInput(list(self.missing), WHAT)
        return self.exam_or_none


# ---------------------------------------------------------------------------------------
# Integrity: declared lengths against the bytes present (PS3.5 section 7, PS3.10 section 7).

_UNDEFINED = 0xFFFFFFFF
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL "
    b"UN UR US UT UV".split()
)
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = "1.2.840.10008.1.2.1.99"


class _Damaged(Exception):
    pass


@dataclass(slots=True)
class _Walker:
    buf: bytes
    explicit: bool
    little: bool
    depth: int = 0  # sequence nesting, and items seen: bounded (venalab.limits)
    items: int = 0

    def _u16(self, pos: int) -> int:
        return int(struct.unpack_from("<H" if self.little else ">H", self.buf, pos)[0])

    def _u32(self, pos: int) -> int:
        return int(struct.unpack_from("<I" if self.little else ">I", self.buf, pos)[0])

    def dataset(self, pos: int, end: int, *, in_item: bool = False) -> int:
        """Walk elements from `pos` to `end` (or to an item delimiter); return the end offset."""
        while pos < end:
            if end - pos < 8:
                raise _Damaged(f"{end - pos} stray byte(s) at offset {pos}")
            group, elem = self._u16(pos), self._u16(pos + 2)
            tag = f"({group:04X},{elem:04X})"
            if group == 0xFFFE:
                if elem == 0xE00D and in_item:
                    return pos + 8
                raise _Damaged(f"unexpected delimiter {tag} at offset {pos}")
            vr: bytes | None = None
            if self.explicit:
                vr = self.buf[pos + 4 : pos + 6]
                if vr not in _VRS:
                    raise _Damaged(f"element {tag} at offset {pos} has no valid VR")
                if vr in _LONG_VRS:
                    if end - pos < 12:
                        raise _Damaged(f"element {tag} header cut short at offset {pos}")
                    length, start = self._u32(pos + 8), pos + 12
                else:
                    length, start = self._u16(pos + 6), pos + 8
            else:
                length, start = self._u32(pos + 4), pos + 8
            if length == _UNDEFINED:
                if (group, elem) == (0x7FE0, 0x0010):
                    pos = self.fragments(start, end)
                elif vr in (None, b"SQ", b"UN"):
                    pos = self.undefined_sequence(start, end, tag)
                else:
                    raise _Damaged(f"element {tag} has an undefined length, invalid for its VR")
                continue
            if start + length > end:
                raise _Damaged(
                    f"element {tag} at offset {pos} declares {length} bytes but only "
                    f"{end - start} remain"
                )
            if vr == b"SQ":
                self.defined_sequence(start, start + length, tag)
            pos = start + length
        if in_item:
            raise _Damaged("an item ends without its delimiter (the file ends early)")
        return pos

    def item(self, pos: int, end: int, tag: str) -> int:
        """`pos` at an item tag; return the offset after the item."""
        self.items += 1
        if self.items > LIMITS.dicom_items:
            raise _Damaged(f"more than {LIMITS.dicom_items:,} sequence items (input limit)")
        if self.depth >= LIMITS.dicom_depth:
            raise _Damaged(f"sequences nested deeper than {LIMITS.dicom_depth} (input limit)")
        self.depth += 1
        try:
            return self._item(pos, end, tag)
        finally:
            self.depth -= 1

    def _item(self, pos: int, end: int, tag: str) -> int:
        if end - pos < 8:
            raise _Damaged(f"sequence {tag} is cut short at offset {pos}")
        group, elem, length = self._u16(pos), self._u16(pos + 2), self._u32(pos + 4)
        if (group, elem) != (0xFFFE, 0xE000):
            raise _Damaged(f"sequence {tag}: expected an item at offset {pos}")
        start = pos + 8
        if length == _UNDEFINED:
            return self.dataset(start, end, in_item=True)
        if start + length > end:
            raise _Damaged(
                f"an item of {tag} declares {length} bytes but only {end - start} remain"
            )
        self.dataset(start, start + length)
        return start + length

    def defined_sequence(self, pos: int, end: int, tag: str) -> None:
        while pos < end:
            pos = self.item(pos, end, tag)

    def undefined_sequence(self, pos: int, end: int, tag: str) -> int:
        while True:
            if end - pos < 8:
                raise _Damaged(f"sequence {tag} has no delimiter: the file ends early")
            if (self._u16(pos), self._u16(pos + 2)) == (0xFFFE, 0xE0DD):
                return pos + 8
            pos = self.item(pos, end, tag)

    def fragments(self, pos: int, end: int) -> int:
        while True:
            if end - pos < 8:
                raise _Damaged("encapsulated pixel data has no delimiter: the file ends early")
            group, elem, length = self._u16(pos), self._u16(pos + 2), self._u32(pos + 4)
            if (group, elem) == (0xFFFE, 0xE0DD):
                return pos + 8
            if (group, elem) != (0xFFFE, 0xE000) or pos + 8 + length > end:
                raise _Damaged(f"encapsulated pixel data damaged at offset {pos}")
            pos += 8 + length


def check_integrity(data: bytes) -> str | None:
    """None when every declared length fits the bytes present, else what is wrong.

    Covers the file meta group (its group length too) and the data set in explicit or
    implicit VR, little or big endian, and deflated transfer syntaxes.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        return "not a DICOM file (no 'DICM' marker after the 128-byte preamble)"
    pos, meta_start, group_length, ts = 132, 132, None, None
    while len(data) - pos >= 8 and struct.unpack_from("<H", data, pos)[0] == 0x0002:
        elem, vr = struct.unpack_from("<H", data, pos + 2)[0], data[pos + 4 : pos + 6]
        if vr not in _VRS:
            return f"file meta element at offset {pos} has no valid VR"
        if vr in _LONG_VRS:
            if len(data) - pos < 12:
                return "file meta information is cut short"
            length, start = int(struct.unpack_from("<I", data, pos + 8)[0]), pos + 12
        else:
            length, start = int(struct.unpack_from("<H", data, pos + 6)[0]), pos + 8
        if length == _UNDEFINED or start + length > len(data):
            return f"file meta element (0002,{elem:04X}) declares more bytes than the file has"
        value = data[start : start + length]
        if elem == 0x0000 and length == 4:
            group_length, meta_start = int(struct.unpack_from("<I", value)[0]), start + length
        elif elem == 0x0010:
            ts = value.rstrip(b"\x00 ").decode("ascii", "replace")
        pos = start + length
    if group_length is None or ts is None:
        return "file meta information incomplete (no group length or transfer syntax)"
    if pos - meta_start != group_length:
        return (
            f"file meta group length says {group_length} bytes, the elements take "
            f"{pos - meta_start}"
        )
    body = data[pos:]
    if ts == _DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, LIMITS.dicom_inflated_bytes)
        except zlib.error as err:
            return f"deflated data set damaged: {err}"
        if inflater.unconsumed_tail:
            return f"the inflated data set is larger than {LIMITS.dicom_inflated_bytes:,} bytes (input limit)"
        if not inflater.eof:
            return "deflated data set is cut short"
    walker = _Walker(body, explicit=ts != _IMPLICIT_LE, little=ts != _EXPLICIT_BE)
    try:
        walker.dataset(0, len(body))
    except (_Damaged, struct.error) as err:
        return str(err)
    return None


# ---------------------------------------------------------------------------------------
# Content tree


@dataclass(slots=True)
class _Item:
    path: str
    relationship: str
    value_type: str
    concept: SrCode | None
    ds: Dataset
    children: list[_Item] = field(default_factory=list)

    @property
    def key(self) -> CodeKey | None:
        return None if self.concept is None else self.concept.key

    def label(self) -> str:
        return f"{self.value_type} {self.concept}" if self.concept else self.value_type


def _code(seq_owner: Dataset, keyword: str) -> SrCode | None:
    seq = seq_owner.get(keyword)
    if not seq:
        return None
    c = seq[0]
    value = c.get("CodeValue") or c.get("LongCodeValue") or c.get("URNCodeValue")
    scheme = c.get("CodingSchemeDesignator") or ""
    if not value:
        return None
    return SrCode(str(scheme), str(value), str(c.get("CodeMeaning") or ""))


def _tree(ds: Dataset, path: str) -> list[_Item]:
    items: list[_Item] = []
    for i, child in enumerate(ds.get("ContentSequence") or [], start=1):
        p = f"{path}.{i}"
        vtype = str(child.get("ValueType") or "")
        if not vtype and "ReferencedContentItemIdentifier" in child:
            vtype = "BY-REFERENCE"
        item = _Item(
            p,
            str(child.get("RelationshipType") or ""),
            vtype,
            _code(child, "ConceptNameCodeSequence"),
            child,
        )
        item.children = _tree(child, p)
        items.append(item)
    return items


def _num(item: _Item) -> tuple[float, str] | None:
    seq = item.ds.get("MeasuredValueSequence")
    if not seq:
        return None
    mv = seq[0]
    unit = _code(mv, "MeasurementUnitsCodeSequence")
    if "FloatingPointValue" in mv and mv.FloatingPointValue is not None:
        value = float(mv.FloatingPointValue)
    elif mv.get("NumericValue") not in (None, ""):
        value = float(mv.NumericValue)
    else:
        return None
    return value, (unit.value if unit else "")


def _clean(value: float) -> float:
    # 0.35 s * 1000 is 350.00000000000006 ms: keep 12 significant digits.
    return float(f"{value:.12g}")


def _person(value: object) -> str:
    """A DICOM person name as text: 'Doe^Jane^^Dr' -> 'Dr Jane Doe'; no carets: unchanged."""
    text = str(value)
    if "^" not in text:
        return text.strip()
    family, given, middle, prefix, suffix = ([*text.split("=")[0].split("^"), "", "", "", ""])[:5]
    return " ".join(p for p in (prefix, given, middle, family, suffix) if p.strip())


# ---------------------------------------------------------------------------------------
# Reader


@dataclass
class _Segment:
    """Fields of one measurement group collected before validation."""

    path: str
    fields: dict[str, Any] = field(default_factory=dict)
    thrombus: dict[str, Any] = field(default_factory=dict)
    thrombus_state: Literal["present", "absent"] | None = None
    thrombus_path: str = ""
    sources: dict[str, str] = field(default_factory=dict)


class _Reader:
    def __init__(
        self,
        local: Mapping[CodeKey, LocalCode],
        side: Side | None,
        plain_gsv: PlainGsvPolicy,
    ) -> None:
        self.local = local
        self.side = side
        self.plain_gsv = plain_gsv
        self.unmapped: list[Unmapped] = []
        self.decisions: list[str] = []
        self.exam_info: dict[str, Any] = {}
        self.patient_extra: dict[str, Any] = {}
        self.legs: dict[Side, list[dict[str, Any]]] = {}
        self.context_ignored: list[str] = []
        self.content_age: int | None = None  # (121033, DCM, "Subject Age") in the content
        self.document_side: Side | None = None  # a Laterality modifier on the whole report

    def skip(self, item: _Item, reason: str) -> None:
        self.unmapped.append(Unmapped(item.path, f"{item.label()}: {reason}"))

    # -- document level ------------------------------------------------------------------
    def root(self, ds: Dataset) -> None:
        title = _code(ds, "ConceptNameCodeSequence")
        if title is None or title.key not in C.REPORT_TITLES:
            self.unmapped.append(
                Unmapped(
                    "1",
                    f"document title {title} is not a vascular ultrasound report title "
                    "(CID 12100); read as one anyway",
                )
            )
        template = ds.get("ContentTemplateSequence")
        tid = str(template[0].get("TemplateIdentifier", "")) if template else ""
        if tid != "5100":
            self.decisions.append(
                f"template id is {tid or 'absent'}, not 5100: read with the TID 5100 structure"
            )
        items = _tree(ds, "1")
        # A laterality of the whole report applies to every section, wherever it is written.
        lateral = [
            i for i in items if i.relationship == "HAS CONCEPT MOD" and i.key == C.LATERALITY.key
        ]
        first = {id(i) for i in lateral}
        for item in [*lateral, *(i for i in items if id(i) not in first)]:
            self.root_child(item)
        if self.context_ignored:
            self.decisions.append(
                "observation context not imported: " + ", ".join(self.context_ignored)
            )

    def subject_age(self, item: _Item) -> bool:
        """(121033, DCM, "Subject Age") as a NUM in years, months, weeks or days."""
        num = _num(item)
        per_year = {"a": 1.0, "mo": 12.0, "wk": 52.0, "d": 365.0}
        if num is None or num[1] not in per_year:
            self.skip(item, "subject age without a value in a (years), mo, wk or d")
            return False
        self.content_age = int(num[0] // per_year[num[1]])
        return True

    def root_child(self, item: _Item) -> None:
        key = item.key
        if item.value_type == "NUM" and key == C.SUBJECT_AGE.key:
            self.subject_age(item)
            return
        if item.relationship == "HAS CONCEPT MOD" and key == C.LATERALITY.key:
            self.document_side = _side(_code(item.ds, "ConceptCodeSequence"))
            self.decisions.append(
                f"{item.path}: report laterality {self.document_side or 'not left/right'} "
                "applies to sections that state none"
            )
            return
        if item.relationship in ("HAS OBS CONTEXT", "HAS CONCEPT MOD"):
            if key == C.PERSON_OBSERVER_NAME.key and item.value_type == "PNAME":
                name = _person(item.ds.get("PersonName", ""))
                if name and "operator" not in self.exam_info:
                    self.exam_info["operator"] = name
                    self.decisions.append(f"{item.path}: person observer name -> exam.operator")
                elif name:
                    self.context_ignored.append(f"another person observer ({name})")
            elif key in (C.OBSERVER_TYPE.key, C.LANGUAGE.key):
                pass  # structural: says who/which language, nothing to import
            else:
                self.context_ignored.append(item.concept.meaning if item.concept else item.path)
            return
        if item.value_type == "CONTAINER" and key in (C.FINDINGS.key, C.FINDINGS_LEGACY.key):
            self.section(item, self.document_side)
        elif item.value_type == "CONTAINER" and key == C.SUMMARY.key:
            self.decisions.append(
                f"{item.path}: summary section not imported (venalab recomputes the "
                "interpretation from the measurements)"
            )
        elif item.value_type == "CONTAINER" and key == C.PATIENT_CHARACTERISTICS.key:
            self.patient_characteristics(item)
        elif item.value_type == "CONTAINER" and self.holds_groups(item):
            self.decisions.append(
                f"{item.path}: container {item.concept or '(no concept)'} holds vein "
                "measurement groups: read as a findings section"
            )
            self.section(item, self.document_side)
        elif item.value_type == "CONTAINER" and self.is_group(item):
            self.decisions.append(
                f"{item.path}: vein measurement group outside any findings section: read as "
                "a section of its own"
            )
            self.section(
                _Item(item.path, "CONTAINS", "CONTAINER", None, item.ds, [item]), self.document_side
            )
        elif item.value_type == "CODE" and key == C.PATIENT_POSITION.key:
            value = _code(item.ds, "ConceptCodeSequence")
            position = C.POSITION_BY_CODE.get(value.key) if value else None
            if position is None:
                self.skip(item, f"patient position {value} has no exam-format value")
            else:
                self.exam_info["position"] = position
        elif item.value_type == "TEXT" and key == C.INDICATIONS.key:
            self.exam_info["indication"] = str(item.ds.get("TextValue", ""))[:2000]
        elif item.value_type == "CODE" and (entry := self.lookup(key)) is not None:
            self.exam_code(item, entry)
        else:
            self.skip(item, "not part of the TID 5100 structure venalab reads")

    def patient_characteristics(self, container: _Item) -> None:
        for item in container.children:
            if item.value_type == "NUM" and item.key == C.SUBJECT_AGE.key:
                self.subject_age(item)
                continue
            if item.value_type == "NUM" and item.key == C.BODY_MASS_INDEX.key:
                num = _num(item)
                if num and num[1] in C.UNIT_FACTORS["bmi"]:
                    self.patient_extra["bmi"] = _clean(num[0])
                    continue
                self.skip(item, "body mass index without a value in kg/m2")
            else:
                self.skip(item, "patient characteristic not used by venalab")

    def exam_code(self, item: _Item, entry: LocalCode) -> None:
        value = _code(item.ds, "ConceptCodeSequence")
        mapped = self.local.get(value.key) if value else None
        if entry.target == "ignore":
            self.decisions.append(f"{item.path}: {item.label()} ignored (local-code map)")
            return
        if not entry.target.startswith("exam.") or entry.value is not None:
            self.skip(item, f"maps to {entry.target!r}, which is not a document-level field")
            return
        mapped_value: str | None = None
        if mapped is not None and mapped.field == entry.target:
            mapped_value = mapped.value
        elif value is not None and entry.target == "exam.provocation":
            mapped_value = C.PROVOCATION_BY_CODE.get(value.key)
        elif value is not None and entry.target == "exam.position":
            mapped_value = C.POSITION_BY_CODE.get(value.key)
        if mapped_value is None:
            self.skip(item, f"value {value} is not a known value of {entry.target}")
            return
        name = entry.target.removeprefix("exam.")
        if name == "provocation":
            self.exam_info.setdefault("provocation", []).append(mapped_value)
        elif name in self.exam_info and self.exam_info[name] != mapped_value:
            self.skip(item, f"conflicts with {name} = {self.exam_info[name]!r} given earlier")
        else:
            self.exam_info[name] = mapped_value

    # -- TID 5103 section ----------------------------------------------------------------
    def is_group(self, item: _Item) -> bool:
        """A TID 5104 measurement group: its concept (or its Finding Site) is a vein."""
        key = item.key
        if key == C.MEASUREMENT_GROUP.key:
            site = _finding_site(item)
            key = site.key if site else None
        if key is None:
            return False
        local = self.local.get(key)
        return (
            key in C.VEIN_BY_CODE
            or key == C.PLAIN_GSV.key
            or (local is not None and (local.field == "vein" or local.target == "ignore"))
        )

    def holds_groups(self, item: _Item) -> bool:
        return any(
            c.value_type == "CONTAINER" and (self.is_group(c) or self.holds_groups(c))
            for c in item.children
        )

    def section(self, section: _Item, inherited: Side | None = None) -> None:
        side: Side | None = None
        lateral_seen: SrCode | None = None
        scope_ok = True
        groups: list[_Item] = []
        for item in section.children:
            key = item.key
            if item.relationship == "HAS CONCEPT MOD" and key == C.LATERALITY.key:
                lateral_seen = _code(item.ds, "ConceptCodeSequence")
                side = _side(lateral_seen)
            elif item.relationship == "HAS CONCEPT MOD" and key == C.FINDING_SITE.key:
                scope = _code(item.ds, "ConceptCodeSequence")
                if (
                    scope is not None
                    and scope.key != C.VEIN_SECTION_SCOPE.key
                    and scope.key not in C.VEIN_BY_CODE
                ):
                    scope_ok = False
                    self.skip(
                        item,
                        f"section scope {scope} is not the veins of the lower extremity; "
                        "section not imported",
                    )
                for sub in item.children:  # laterality may qualify the finding site
                    if sub.key == C.LATERALITY.key and side is None:
                        lateral_seen = _code(sub.ds, "ConceptCodeSequence")
                        side = _side(lateral_seen)
            elif item.value_type == "CONTAINER" and item.relationship == "CONTAINS":
                groups.append(item)
            else:
                self.skip(item, "section-level item not used by venalab")
        if not scope_ok:
            for group in groups:
                self.skip(group, "in a section that is not about lower-extremity veins")
            return
        bilateral = lateral_seen is not None and lateral_seen.key == C.BILATERAL.key
        if side is None and lateral_seen is not None and not bilateral:
            self.decisions.append(
                f"{section.path}: section laterality {lateral_seen} is not left or right"
            )
        if side is None and lateral_seen is None:
            side = inherited
        for group in groups:
            if not self.is_group(group) and self.holds_groups(group):
                # A wrapper (sub-section, per-vessel container...): read what it holds.
                self.section(group, side)
                continue
            group_side = self.group_side(group)
            chosen = side or group_side
            if side and group_side and group_side != side:
                self.skip(group, f"group laterality {group_side} contradicts section ({side})")
                continue
            if chosen is None and bilateral:
                self.skip(
                    group,
                    "section laterality is bilateral: the measurement cannot be attributed to "
                    "one leg; not imported",
                )
                continue
            if chosen is None and self.side is not None:
                chosen = self.side
                self.decisions.append(
                    f"{group.path}: no laterality in the file; side {self.side} chosen for "
                    "the import"
                )
            if chosen is None:
                self.skip(
                    group,
                    "no laterality (left/right) in its section, group or measurements; "
                    "venalab does not guess: not imported (choose the leg for the import if "
                    "the whole file is one leg)",
                )
                continue
            segment = self.group(group)
            if segment is not None:
                self.legs.setdefault(chosen, []).append(segment)

    def group_side(self, group: _Item) -> Side | None:
        """Laterality of a group: its own modifier, one nested under its Finding Site, or
        the one laterality all its measurements state (a device that qualifies each NUM)."""
        for item in group.children:
            if item.relationship == "HAS CONCEPT MOD" and item.key == C.LATERALITY.key:
                return _side(_code(item.ds, "ConceptCodeSequence"))
        for item in group.children:
            if item.relationship == "HAS CONCEPT MOD" and item.key == C.FINDING_SITE.key:
                for sub in item.children:
                    if sub.key == C.LATERALITY.key:
                        return _side(_code(sub.ds, "ConceptCodeSequence"))
        sides = {
            _side(_code(sub.ds, "ConceptCodeSequence"))
            for sub in _descendants(group)
            if sub.relationship == "HAS CONCEPT MOD" and sub.key == C.LATERALITY.key
        }
        if len(sides) == 1:
            only = sides.pop()
            if only is not None:
                self.decisions.append(f"{group.path}: laterality {only} from its measurements")
            return only
        return None

    # -- TID 5104 measurement group ------------------------------------------------------
    def anatomy(self, group: _Item, site: str | None) -> tuple[str, str | None] | None:
        key = group.key
        if key == C.MEASUREMENT_GROUP.key:
            # TID 1501-like variant: a generic "Measurement Group" whose Finding Site names the vein.
            site_code = _finding_site(group)
            key = site_code.key if site_code else None
        if key is None:
            self.skip(group, "measurement group without an anatomy code")
            return None
        if key in C.VEIN_BY_CODE:
            match = C.VEIN_BY_CODE[key]
            return match.vein, match.label
        if key == C.PLAIN_GSV.key:
            return self.plain_gsv_vein(group, site)
        local = self.local.get(key)
        if local is not None and local.field == "vein" and local.value is not None:
            return local.value, None
        if local is not None and local.target == "ignore":
            self.decisions.append(f"{group.path}: {group.label()} ignored (local-code map)")
            return None
        self.skip(group, "anatomy is not a lower-extremity vein of the exam format; group skipped")
        return None

    def plain_gsv_vein(self, group: _Item, site: str | None) -> tuple[str, None] | None:
        policy = self.plain_gsv
        vein: str | None = None
        if policy == "thigh":
            vein = "GSVa"
        elif policy == "calf":
            vein = "GSVb"
        elif policy == "by-site" and site in ("proximal", "distal"):
            vein = "GSVa" if site == "proximal" else "GSVb"
        if vein is None:
            self.skip(
                group,
                "great saphenous vein without thigh/calf"
                + (f" and site {site}" if site else " and without a proximal/distal modifier")
                + f" (policy {policy!r}): not imported; choose the plain-GSV policy thigh "
                "or calf for this file",
            )
            return None
        how = f"site {site}" if policy == "by-site" else f"policy {policy!r}"
        self.decisions.append(f"{group.path}: plain great saphenous vein -> {vein} ({how})")
        return vein, None

    def group(self, group: _Item) -> dict[str, Any] | None:
        site: str | None = None
        for item in group.children:
            if item.relationship == "HAS CONCEPT MOD" and item.key == C.TOPOGRAPHICAL_MODIFIER.key:
                value = _code(item.ds, "ConceptCodeSequence")
                local = self.local.get(value.key) if value else None
                if value is not None and value.key in C.SITE_BY_CODE:
                    site = C.SITE_BY_CODE[value.key]
                elif local is not None and local.field == "site":
                    site = local.value
                else:
                    self.skip(item, f"segment modifier {value} has no exam-format site")
        anatomy = self.anatomy(group, site)
        if anatomy is None:
            return None
        vein, label = anatomy
        seg = _Segment(group.path, {"vein": vein})
        if site is not None:
            seg.fields["site"] = site
        for item in group.children:
            if item.relationship == "HAS CONCEPT MOD":
                used = [C.TOPOGRAPHICAL_MODIFIER.key, C.LATERALITY.key]
                if group.key == C.MEASUREMENT_GROUP.key or all(
                    sub.key == C.LATERALITY.key for sub in item.children
                ):
                    used.append(C.FINDING_SITE.key)
                if item.key not in used:
                    self.skip(item, "group modifier not used by venalab (e.g. vessel branch)")
                continue
            self.group_item(seg, item)
        if label is not None and "label" not in seg.fields:
            seg.fields["label"] = label
            self.decisions.append(f"{group.path}: {vein} labelled {label!r} (named perforator)")
        return self.finish(seg)

    def lookup(
        self, key: CodeKey | None, standard: Mapping[CodeKey, str] | None = None
    ) -> LocalCode | None:
        """A lab's (or venalab's) local code first, then the standard concepts of `standard`."""
        if key is None:
            return None
        found = self.local.get(key)
        if found is None and standard is not None and key in standard:
            return LocalCode(standard[key])
        return found

    def group_item(self, seg: _Segment, item: _Item) -> None:
        key = item.key
        entry = self.lookup(key, C.GROUP_STANDARD)
        if item.value_type == "NUM":
            if key == C.VESSEL_LUMEN_DIAMETER.key:
                self.numeric(seg, item, "diameter_mm")
            elif key == C.PEAK_BLOOD_VELOCITY.key:
                if _flow_direction(item) == C.RETROGRADE_FLOW.key:
                    self.numeric(seg, item, "peak_reflux_velocity_cm_s")
                else:
                    self.skip(
                        item,
                        "peak velocity without Direction of flow = Retrograde flow: not a "
                        "reflux velocity",
                    )
            elif entry is not None:
                self.local_item(seg, item, entry)
            else:
                self.skip(item, _unknown("measurement", item.concept))
        elif item.value_type == "CODE":
            if key in C.THROMBUS_CONCEPTS:
                self.thrombus_finding(seg, item)
            elif entry is not None:
                self.local_item(seg, item, entry)
            else:
                self.skip(item, _unknown("finding", item.concept))
        elif item.value_type == "TEXT" and entry is not None:
            self.local_item(seg, item, entry)
        else:
            self.skip(item, "content item not used by venalab")

    def local_item(
        self, seg: _Segment, item: _Item, entry: LocalCode, *, thrombus: bool = False
    ) -> None:
        target = entry.target
        if target == "ignore":
            self.decisions.append(f"{item.path}: {item.label()} ignored (local-code map)")
            return
        if entry.value is not None or target.startswith(("exam.", "vein", "site")):
            self.skip(item, f"maps to {target!r}, which is not a measurement of a segment")
            return
        if thrombus and not target.startswith("thrombus."):
            self.skip(item, f"maps to {target!r}, which does not describe a thrombus")
            return
        if item.value_type != "NUM":
            for sub in item.children:
                self.skip(sub, "qualifier of a finding not used by venalab")
        if target in C.NUMERIC_TARGETS:
            if item.value_type != "NUM":
                self.skip(item, f"maps to {target!r} but is a {item.value_type}, not a NUM")
                return
            self.numeric(seg, item, target)
        elif target in C.TEXT_TARGETS:
            text = str(item.ds.get("TextValue", "")).strip()
            if item.value_type != "TEXT" or not text:
                self.skip(item, f"maps to {target!r} but carries no text")
                return
            self.put(seg, item, target, text)
        else:
            self.coded(seg, item, target)

    def coded(self, seg: _Segment, item: _Item, target: str) -> None:
        if item.value_type != "CODE":
            self.skip(item, f"maps to {target!r} but is a {item.value_type}, not a CODE")
            return
        value = _code(item.ds, "ConceptCodeSequence")
        if value is None:
            self.skip(item, "coded item without a value")
            return
        mapped = self.local.get(value.key)
        result: object = None
        if target in C.BOOLEAN_TARGETS:
            if value.key in C.BOOL_BY_CODE:
                result = C.BOOL_BY_CODE[value.key]
            elif mapped is not None and mapped.field == target and mapped.value is not None:
                result = mapped.value == "true"
        elif target == "thrombus.age" and value.key in C.THROMBUS_AGE_BY_CODE:
            result = C.THROMBUS_AGE_BY_CODE[value.key]
        elif mapped is not None and mapped.field == target and mapped.value is not None:
            result = mapped.value
        if result is None:
            self.skip(item, f"value {value} is not a known value of {target}")
            return
        self.put(seg, item, target, result)

    def numeric(self, seg: _Segment, item: _Item, target: str) -> None:
        num = _num(item)
        if num is None:
            self.skip(item, "measurement without a numeric value")
            return
        value, unit = num
        dimension, to_unit = C.NUMERIC_TARGETS[target]
        converted = C.convert(value, unit, dimension, to_unit)
        if converted is None:
            self.skip(
                item,
                f"unit {unit or '(none)'!r} cannot be converted to {to_unit} "
                f"(accepted UCUM units: {', '.join(C.UNIT_FACTORS[dimension])})",
            )
            return
        accepted = {*C.NUM_MODIFIERS_ACCEPTED, C.LATERALITY.key}
        if target == "peak_reflux_velocity_cm_s":
            accepted.add(C.DIRECTION_OF_FLOW.key)
        for sub in item.children:
            if sub.key not in accepted:
                self.skip(sub, "qualifier of a measurement not used by venalab")
        if unit in C.UNIT_ALIASES:
            self.decisions.append(
                f"{item.path}: unit {unit!r} read as UCUM {C.UNIT_ALIASES[unit]!r}"
            )
        if target == "outward_flow_ms":
            if seg.fields["vein"] not in PERFORATOR_VEINS:
                self.skip(
                    item, f"perforator outward flow on {seg.fields['vein']}, not a perforator"
                )
                return
            target = "reflux_ms"
        if C.UNIT_ALIASES.get(unit, unit) != to_unit:
            converted = _clean(converted)
            self.decisions.append(f"{item.path}: {value:g} {unit} -> {converted:g} {to_unit}")
        self.put(seg, item, target, converted)

    def thrombus_finding(self, seg: _Segment, item: _Item) -> None:
        value = _code(item.ds, "ConceptCodeSequence")
        key = value.key if value else None
        if key == C.NO_THROMBUS.key:
            state: Literal["present", "absent"] = "absent"
        elif key in C.THROMBUS_PRESENT:
            state = "present"
        elif key == C.POSSIBLE_THROMBUS.key:
            self.skip(
                item,
                "possible thrombus (with its properties): the exam format records a thrombus "
                "only when present; confirm and enter it by hand",
            )
            return
        else:
            self.skip(item, f"value {value} is not a thrombus finding (CID 3714)")
            return
        if seg.thrombus_state is not None and seg.thrombus_state != state:
            self.skip(item, f"contradicts the thrombus finding at {seg.thrombus_path}")
            return
        seg.thrombus_state, seg.thrombus_path = state, item.path
        if state == "absent":
            self.decisions.append(f"{item.path}: 'No thrombus' recorded: segment has no thrombus")
        self.thrombus_properties(seg, item)

    def thrombus_properties(self, seg: _Segment, item: _Item) -> None:
        """Properties under a thrombus finding: local codes, standard concepts (SCT Length,
        Occlusion), a standard age value under any concept, and nested containers."""
        for sub in item.children:
            value = _code(sub.ds, "ConceptCodeSequence") if sub.value_type == "CODE" else None
            if (entry := self.lookup(sub.key, C.THROMBUS_STANDARD)) is not None:
                self.local_item(seg, sub, entry, thrombus=True)
            elif value is not None and value.key in C.THROMBUS_AGE_BY_CODE:
                self.put(seg, sub, "thrombus.age", C.THROMBUS_AGE_BY_CODE[value.key])
            elif sub.value_type == "CONTAINER" and sub.children:
                self.thrombus_properties(seg, sub)
            else:
                self.skip(sub, _unknown("thrombus property", sub.concept))

    def put(self, seg: _Segment, item: _Item, target: str, value: object) -> None:
        store, name = (
            (seg.thrombus, target[9:])
            if target.startswith("thrombus.")
            else (
                seg.fields,
                target,
            )
        )
        if name in store and store[name] != value:
            self.skip(item, f"second value for {target} ({value!r}; kept {store[name]!r})")
            return
        store[name] = value
        seg.sources[target] = item.path

    def finish(self, seg: _Segment) -> dict[str, Any] | None:
        out = dict(seg.fields)
        if seg.thrombus and seg.thrombus_state == "absent":
            self.unmapped.append(
                Unmapped(
                    seg.path,
                    "thrombus details next to a 'No thrombus' finding: details not imported",
                )
            )
        elif seg.thrombus_state == "present" or seg.thrombus:
            if seg.thrombus_state is None:
                self.decisions.append(
                    f"{seg.path}: thrombus details without a presence finding: recorded as a "
                    "thrombus"
                )
            out["thrombus"] = dict(seg.thrombus)
        return self.validated(seg, out)

    def validated(self, seg: _Segment, out: dict[str, Any]) -> dict[str, Any] | None:
        """Drop (and report) each value the exam format rejects; keep the rest."""
        for _ in range(len(out) + len(seg.thrombus) + 1):
            try:
                Segment.model_validate_json(json.dumps(out))
                return out
            except ValidationError as err:
                problems = problems_from_validation(err)
            for problem in problems:
                name = problem.path
                if not name and "beneath_ulcer" in out:
                    name = "beneath_ulcer"
                if not name or name == "vein":
                    self.unmapped.append(Unmapped(seg.path, f"segment rejected: {problem.message}"))
                    return None
                top, _, sub = name.partition(".")
                where = seg.sources.get(name, seg.sources.get(top, seg.path))
                self.unmapped.append(Unmapped(where, f"{name} rejected: {problem.message}"))
                if top == "thrombus" and sub and isinstance(out.get("thrombus"), dict):
                    out["thrombus"].pop(sub, None)
                else:
                    out.pop(top, None)
        return None


_STANDARD_SCHEMES = frozenset({"DCM", "SCT", "SRT", "SNM3", "LN", "UCUM", "NCIt", "UMLS", "RADLEX"})


def _unknown(kind: str, concept: SrCode | None) -> str:
    if concept is not None and concept.scheme not in _STANDARD_SCHEMES:
        return (
            f"private {kind} code {concept.scheme}:{concept.value} is not in the local-code "
            "map; add it to the lab's local-code map if venalab should use it"
        )
    return f"{kind} not used by venalab (no exam-document field for this code)"


def _descendants(item: _Item) -> list[_Item]:
    out: list[_Item] = []
    for child in item.children:
        out.append(child)
        out.extend(_descendants(child))
    return out


def _flow_direction(item: _Item) -> CodeKey | None:
    for sub in item.children:
        if sub.key == C.DIRECTION_OF_FLOW.key:
            value = _code(sub.ds, "ConceptCodeSequence")
            return value.key if value else None
    return None


def _finding_site(group: _Item) -> SrCode | None:
    for item in group.children:
        if item.relationship == "HAS CONCEPT MOD" and item.key == C.FINDING_SITE.key:
            return _code(item.ds, "ConceptCodeSequence")
    return None


def _side(code: SrCode | None) -> Side | None:
    if code is None:
        return None
    if code.key == C.LEFT.key:
        return "left"
    if code.key == C.RIGHT.key:
        return "right"
    return None


_AGE = re.compile(r"^(\d{3})([DWMY])$")


def _header_patient(ds: Dataset, problems: list[Problem], decisions: list[str]) -> dict[str, Any]:
    patient: dict[str, Any] = {}
    pid = str(ds.get("PatientID") or "").strip()
    if pid:
        patient["id"] = pid
    else:
        problems.append(
            Problem("patient.id", "not in the file (PatientID (0010,0020)): enter the patient id")
        )
    patient["sex"] = {"M": "male", "F": "female", "O": "other"}.get(
        str(ds.get("PatientSex") or "").strip().upper(), "unknown"
    )
    birth = str(ds.get("PatientBirthDate") or "").strip()
    age = str(ds.get("PatientAge") or "").strip().upper()
    if birth:
        try:
            patient["birth_date"] = dt.datetime.strptime(birth, "%Y%m%d").date().isoformat()
        except ValueError:
            problems.append(
                Problem(
                    "patient.birth_date",
                    f"PatientBirthDate (0010,0030) is not a date: {birth!r}; enter the birth "
                    "date or the age",
                )
            )
    elif (m := _AGE.match(age)) is not None:
        n, unit = int(m.group(1)), m.group(2)
        per_year = {"Y": 1, "M": 12, "W": 52, "D": 365}[unit]
        patient["age_years"] = n // per_year
        if unit != "Y":
            decisions.append(f"patient age {age} -> {n // per_year} years (whole years)")
    else:
        problems.append(
            Problem(
                "patient.age_years",
                "not in the file (no PatientBirthDate (0010,0030) or PatientAge (0010,1010)): "
                "the exam needs a birth date or an age; enter one",
            )
        )
    return patient


def _header_date(ds: Dataset, problems: list[Problem]) -> str | None:
    for keyword in ("StudyDate", "ContentDate"):
        raw = str(ds.get(keyword) or "").strip()
        if raw:
            try:
                return dt.datetime.strptime(raw, "%Y%m%d").date().isoformat()
            except ValueError:
                problems.append(Problem("exam.date", f"{keyword} is not a date: {raw!r}"))
                return None
    problems.append(
        Problem("exam.date", "not in the file (no StudyDate or ContentDate): enter the date")
    )
    return None


def read_dataset(data: bytes, name: str) -> Dataset:
    """Check integrity, then parse; raise InvalidInput (nothing imported) on a damaged file."""
    damage = check_integrity(data)
    if damage is not None:
        raise InvalidInput(
            [Problem("", f"{name} is damaged or not a DICOM file: {damage}; nothing imported")],
            WHAT,
        )
    try:
        return pydicom.dcmread(io.BytesIO(data))
    except (InvalidDicomError, OSError, ValueError, EOFError, struct.error) as err:
        raise InvalidInput(
            [Problem("", f"{name} cannot be read as DICOM: {err}; nothing imported")], WHAT
        ) from None


def import_sr_bytes(
    data: bytes,
    local_codes: Mapping[str, object] | None = None,
    *,
    side: Side | None = None,
    plain_gsv: PlainGsvPolicy = "by-site",
    name: str = "<upload>",
    patient: Mapping[str, object] | None = None,
) -> SrImport:
    """Import SR bytes (an upload); see `import_sr`."""
    if len(data) > LIMITS.upload_bytes:
        raise too_large(LIMITS.upload_bytes, WHAT, name)
    local = C.local_code_map(local_codes)
    ds = read_dataset(data, name)
    sop_class = str(ds.get("SOPClassUID") or "")
    if sop_class not in SR_SOP_CLASSES:
        raise InvalidInput(
            [
                Problem(
                    "SOPClassUID (0008,0016)",
                    f"{name} is not a structured report venalab reads (SOP class "
                    f"{sop_class or 'absent'}; expected {', '.join(SR_SOP_CLASSES.values())})",
                )
            ],
            WHAT,
        )
    if str(ds.get("ValueType") or "") != "CONTAINER" or not ds.get("ContentSequence"):
        raise InvalidInput(
            [
                Problem(
                    "ContentSequence (0040,A730)", f"{name} has no report content; nothing imported"
                )
            ],
            WHAT,
        )
    missing: list[Problem] = []
    decisions: list[str] = []
    header = _header_patient(ds, missing, decisions)
    date = _header_date(ds, missing)
    for key, value in (patient or {}).items():
        if key == "date":
            if date is None and value is not None:
                date = str(value)
                missing = [m for m in missing if m.path != "exam.date"]
                decisions.append(f"exam.date {value} given for the import (not in the file)")
            continue
        if value is None or (key in ("age_years", "birth_date") and _has_age(header)):
            continue
        if key == "id" and "id" in header:
            continue
        header[key] = value
        decisions.append(f"patient.{key} {value} given for the import (not in the file)")
        missing = [m for m in missing if not _fills(key, m)]
    reader = _Reader(local, side, plain_gsv)
    reader.root(ds)
    if reader.content_age is not None and not _has_age(header):
        header["age_years"] = reader.content_age
        missing = [m for m in missing if not _fills("age_years", m)]
        decisions.append(
            f"patient age {reader.content_age} years from the report content (Subject Age); "
            "the header has none"
        )
    problems: list[Problem] = []
    if not reader.legs:
        problems.append(
            Problem(
                "ContentSequence (0040,A730)",
                "no vein measurement could be imported for a left or right leg"
                + (
                    f" ({len(reader.unmapped)} item(s) not imported: first "
                    f"{reader.unmapped[0].path}: {reader.unmapped[0].reason})"
                    if reader.unmapped
                    else ""
                ),
            )
        )
    if problems:
        raise InvalidInput(problems, WHAT)
    header.update(reader.patient_extra)
    info = dict(reader.exam_info)
    if date is not None:
        info["date"] = date
    for absent in ("purpose", "position"):
        if absent not in info:
            decisions.append(
                f"exam.{absent} is not in the SR (no standard code): left absent; set it by hand"
            )
    decisions.append(
        "legs.*.clinical (signs, symptoms, etiology) are not part of a TID 5100 report: left "
        "empty; enter them by hand before relying on CEAP"
    )
    doc = {
        "format": "venous-exam/1",
        "patient": header,
        "exam": info,
        "legs": {s: {"segments": segs} for s, segs in reader.legs.items()},
    }
    verifier = ds.get("VerifyingObserverSequence")
    if str(ds.get("VerificationFlag") or "") == "VERIFIED" and verifier:
        decisions.append(
            f"document verified by {_person(verifier[0].get('VerifyingObserverName', ''))} "
            f"at {verifier[0].get('VerificationDateTime', '')}"
        )
    exam: ExamDocument | None = None
    if not missing:
        try:
            exam = parse_exam_obj(doc)
        except InvalidInput as err:
            missing = [Problem(p.path, f"{p.message} (value from {name})") for p in err.problems]
    return SrImport(
        document=doc,
        exam_or_none=exam,
        missing=tuple(missing),
        unmapped=tuple(reader.unmapped),
        decisions=tuple(decisions + reader.decisions),
    )


def _has_age(header: Mapping[str, object]) -> bool:
    return "age_years" in header or "birth_date" in header


def _fills(key: str, problem: Problem) -> bool:
    if key == "id":
        return problem.path == "patient.id"
    return key in ("age_years", "birth_date") and problem.path in (
        "patient.age_years",
        "patient.birth_date",
    )


def import_sr(
    path: Path,
    local_codes: Mapping[str, object] | None = None,
    *,
    side: Side | None = None,
    plain_gsv: PlainGsvPolicy = "by-site",
    patient: Mapping[str, object] | None = None,
) -> SrImport:
    """Read a TID 5100 Comprehensive SR file as an exam document.

    `local_codes`: a lab's map `{"SCHEME:CODE": target}` on top of the shipped one.
    `side`: the leg for sections that state no laterality (else they are skipped, reported).
    `plain_gsv`: policy for a great saphenous vein code without thigh/calf (module docstring).
    `patient`: values for what the header lacks ("id", "age_years", "birth_date", "date");
    the file's own values win. Raises InvalidInput when the file is damaged, not an SR, or
    holds no vein measurement of a known leg; a file lacking a required header field gives a
    draft (`SrImport.document`, `missing`).
    """
    data = read_limited(path, LIMITS.upload_bytes, WHAT)
    return import_sr_bytes(
        data, local_codes, side=side, plain_gsv=plain_gsv, name=path.name, patient=patient
    )
