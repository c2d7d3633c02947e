"""HL7 v2 messages (hl7apy): orders in (ORM^O01, OMG^O19), ACKs, results out (ORU^R01).

Orders. Read leniently (hl7apy's tolerant parser; many senders omit groups the standard
requires), each field bounded and checked:
- patient: PID-3 (first identifier; required), PID-5 name, PID-7 birth date, PID-8 sex;
- accession number: OBR-18 (placer field 1, where radiology systems send it), else the
  filler order number (ORC-3 / OBR-3), else the placer order number (ORC-2 / OBR-2); one is
  required;
- order control ORC-1: NW / XO / SC create or update the scheduled exam, CA / OC / DC
  cancel it;
- indication: OBR-31 reason for study (text or coded text), else OBR-13;
- referring physician: OBR-16 ordering provider, else PV1-8, else ORC-12;
- procedure: OBR-4 text; scheduled date: TQ1-7, else OBR-36, else ORC-7 component 4.
A message that is not HL7, not an order, or lacks what an exam needs gets an ACK with
MSA-1 AR (rejected: not processable) or AE (error: fix and resend) and an ERR segment; the
listener never crashes on input.

Results. `build_oru` writes one ORU^R01 (v2.5) for a signed exam version: PID, ORC/OBR (the
order's accession when the exam came from an order), then OBX segments: the conclusion
(`findings.report_conclusion`), each coded diagnosis (SNOMED CT and ICD-10-CM with the leg as
observation site), each segment's measurements with their codes (the SR export's: LOINC,
SNOMED CT, DCM, else venalab's 99VENALAB codes), and the clinician report PDF as an
embedded document (ED, Base64). The message is validated with hl7apy (strict) before it is
written.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.exceptions import HL7apyException
from hl7apy.parser import parse_message

from venalab.exam import PERFORATOR_VEINS, ExamDocument, Segment, Side
from venalab.interop import fhir_codes as fc
from venalab.interop import sr_codes as C
from venalab.interop.findings import coded_findings, report_conclusion
from venalab.result import Result
from venalab.store.interop import OrderIn
from venalab.text_rules import check_identifier, multi_line, single_line

HL7_VERSION = "2.5"
ORDER_TYPES = ("ORM_O01", "OMG_O19")
MAX_MESSAGE_BYTES = 1024 * 1024
_CANCEL = frozenset({"CA", "OC", "DC", "OD"})
_CREATE = frozenset({"NW", "XO", "SC", "", "RP", "XX"})
_SEX = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other", "N": "unknown"}
_SEX_OUT = {"male": "M", "female": "F", "other": "O", "unknown": "U"}


class OrderError(ValueError):
    """An order message venalab cannot use; `code` is the ACK code (AE or AR)."""

    def __init__(self, code: str, message: str, location: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.location = location


@dataclass(frozen=True)
class ParsedOrder:
    control_id: str
    sending: str
    version: str
    message_type: str
    order: OrderIn


def escape(text: str) -> str:
    """HL7 v2 escaping of a text value (default delimiters |^~\\&); line breaks as \\.br\\."""
    out = (
        text.replace("\\", "\\E\\")
        .replace("|", "\\F\\")
        .replace("^", "\\S\\")
        .replace("~", "\\R\\")
        .replace("&", "\\T\\")
    )
    out = re.sub(r"\r\n|\r|\n", "\\\\.br\\\\", out)
    return "".join(ch for ch in out if ch == "\t" or ch >= " ")


def unescape(text: str) -> str:
    table = {"\\F\\": "|", "\\S\\": "^", "\\R\\": "~", "\\T\\": "&", "\\E\\": "\\", "\\.br\\": "\n"}
    return re.sub(r"\\(F|S|R|T|E|\.br)\\", lambda m: table[m.group(0)], text)


def _segments(text: str) -> list[list[str]]:
    return [seg.split("|") for seg in re.split(r"\r\n|\r|\n", text) if seg.strip()]


def _field(segment: Any, number: int) -> str:
    name = f"{segment.name.lower()}_{number}"
    try:
        value = getattr(segment, name).to_er7()
    except (HL7apyException, AttributeError, IndexError, ValueError):
        return ""
    return str(value).split("~")[0]


def _component(value: str, index: int = 1) -> str:
    parts = value.split("^")
    return unescape(parts[index - 1]).strip() if len(parts) >= index else ""


def _date(raw: str, where: str) -> dt.date | None:
    digits = raw.strip()[:8]
    if not digits:
        return None
    try:
        return dt.datetime.strptime(digits, "%Y%m%d").date()
    except ValueError:
        raise OrderError("AE", f"{where} is not a date (YYYYMMDD): {raw[:20]!r}", where) from None


def _person(value: str) -> str | None:
    """XCN/XPN as 'Given Family' text (id first for XCN: 'Dr John Smith (1234)')."""
    comps = [unescape(c).strip() for c in value.split("^")]
    if not any(comps):
        return None
    if len(comps) > 1 and comps[0] and not comps[0].isalpha():  # XCN: id^family^given^...
        ident, comps = comps[0], comps[1:]
    else:
        ident = ""
    family, given = [*comps, "", ""][:2]
    prefix = comps[4] if len(comps) > 4 else ""
    name = " ".join(p for p in (prefix, given, family) if p)
    if ident:
        name = f"{name} ({ident})" if name else ident
    return name[:200] or None


def _text(value: str, limit: int) -> str | None:
    # CWE/CE: the text (2nd component) when coded, else the whole field as text.
    text = _component(value, 2) if "^" in value else unescape(value).strip()
    return text[:limit] or None


def parse_order(text: str) -> ParsedOrder:
    """Read an ORM^O01 / OMG^O19; OrderError (with its ACK code) when it cannot be used."""
    if len(text.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
        raise OrderError("AR", f"message larger than {MAX_MESSAGE_BYTES} bytes")
    raw = _segments(text)
    if not raw or raw[0][0] != "MSH" or len(raw[0]) < 12:
        raise OrderError("AR", "not an HL7 v2 message (no MSH segment with 12 fields)", "MSH")
    msh = raw[0]
    control_id = msh[9][:64]
    message_type = msh[8].replace("^", "_")
    event = "_".join(message_type.split("_")[:2])
    if event not in ORDER_TYPES:
        raise OrderError(
            "AR", f"message type {msh[8][:20]!r} is not an order (ORM^O01 or OMG^O19)", "MSH-9"
        )
    version = msh[11].split("^")[0] or HL7_VERSION
    try:
        msg = parse_message(
            text.replace("\n", "\r"),
            find_groups=False,
            validation_level=VALIDATION_LEVEL.TOLERANT,
        )
    except (HL7apyException, ValueError, KeyError, IndexError, TypeError) as err:
        raise OrderError("AR", f"the message cannot be parsed: {err}"[:300], "MSH") from None
    segs: dict[str, Any] = {}
    for seg in msg.children:
        segs.setdefault(seg.name, seg)
    for needed in ("PID", "ORC", "OBR"):
        if needed not in segs and not (needed == "ORC" and "OBR" in segs):
            raise OrderError("AE", f"the order has no {needed} segment", needed)
    pid, obr = segs["PID"], segs["OBR"]
    orc, pv1, tq1 = segs.get("ORC"), segs.get("PV1"), segs.get("TQ1")
    patient_id = _component(_field(pid, 3))[:64]
    if not patient_id:
        raise OrderError("AE", "PID-3 (patient identifier) is empty", "PID-3")
    accession = next(
        (
            v
            for v in (
                _component(_field(obr, 18)),
                _component(_field(orc, 3)) if orc is not None else "",
                _component(_field(obr, 3)),
                _component(_field(orc, 2)) if orc is not None else "",
                _component(_field(obr, 2)),
            )
            if v
        ),
        "",
    )[:64]
    if not accession:
        raise OrderError(
            "AE", "no accession or order number (OBR-18, ORC-3/OBR-3 or ORC-2/OBR-2)", "OBR-18"
        )
    control = _component(_field(orc, 1)).upper() if orc is not None else "NW"
    if control not in _CANCEL | _CREATE:
        raise OrderError("AE", f"order control {control!r} is not supported", "ORC-1")
    scheduled = None
    if tq1 is not None:
        scheduled = _date(_component(_field(tq1, 7)), "TQ1-7")
    scheduled = scheduled or _date(_component(_field(obr, 36)), "OBR-36")
    if scheduled is None and orc is not None:
        scheduled = _date(_component(_field(orc, 7), 4), "ORC-7.4")
    referring = _person(_field(obr, 16)) or (_person(_field(pv1, 8)) if pv1 is not None else None)
    if referring is None and orc is not None:
        referring = _person(_field(orc, 12))
    order = OrderIn(
        accession=accession,
        patient_local_id=patient_id,
        placer_order=(_component(_field(orc, 2)) if orc is not None else "")[:64]
        or _component(_field(obr, 2))[:64]
        or None,
        patient_name=_person(_field(pid, 5)),
        sex=_SEX.get(_component(_field(pid, 8)).upper(), "unknown"),
        birth_date=_date(_component(_field(pid, 7)), "PID-7"),
        indication=_text(_field(obr, 31), 2000) or _text(_field(obr, 13), 2000),
        referring_physician=referring,
        procedure=_text(_field(obr, 4), 200),
        scheduled_date=scheduled,
        cancel=control in _CANCEL,
    )
    _check_text(order)
    sending = "^".join(p for p in (msh[2], msh[3]) if p)[:64] or "unknown"
    return ParsedOrder(control_id, sending, version, event, order)


#: Where each text of an order comes from, for the ACK's error location.
_ORDER_FIELDS = {
    "accession": "OBR-18",
    "placer_order": "ORC-2",
    "patient_name": "PID-5",
    "indication": "OBR-31/OBR-13",
    "referring_physician": "OBR-16",
    "procedure": "OBR-4",
}


def _check_text(order: OrderIn) -> None:
    """The order's texts follow venalab.text_rules (HL7 escapes such as \\X00\\ can carry
    control characters, and NUL cannot be stored on PostgreSQL): the patient id as an
    identifier (NFC, no control or invisible characters), the other texts without control
    characters. OrderError AE names the field."""
    try:
        check_identifier(order.patient_local_id)
    except ValueError as err:
        raise OrderError("AE", f"PID-3 (patient identifier) {err}", "PID-3") from None
    for name, where in _ORDER_FIELDS.items():
        value = getattr(order, name)
        if value is None:
            continue
        try:
            multi_line(value) if name == "indication" else single_line(value)
        except ValueError as err:
            raise OrderError("AE", f"{where} {err}", where) from None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")


def ack(
    text: str, code: str, message: str = "", *, facility: str = "VENALAB", location: str = ""
) -> str:
    """An ACK for `text` (which may be garbage): MSA-1 `code`, ERR when not AA."""
    raw = _segments(text)
    msh = raw[0] if raw and raw[0] and raw[0][0] == "MSH" else []

    def f(i: int) -> str:
        return msh[i] if len(msh) > i else ""

    version = (f(11).split("^")[0] or HL7_VERSION)[:8]
    trigger = [*f(8).split("^"), ""][1][:3]
    lines = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                escape(facility),
                escape(facility),
                f(2)[:180],
                f(3)[:180],
                _now(),
                "",
                f"ACK^{trigger}^ACK" if trigger else "ACK",
                f"ACK{_now()}"[:20],
                f(10)[:3] or "P",
                version,
            ]
        ),
        f"MSA|{code}|{f(9)[:64]}" + (f"|{escape(message[:80])}" if message else ""),
    ]
    if code != "AA":
        severity = "E"
        where = escape(location.replace("-", "^"))[:60]
        hl7_code = "207" if code == "AR" else "101"
        lines.append(f"ERR||{where}|{hl7_code}|{severity}||||{escape(message[:250])}")
    return "\r".join(lines) + "\r"


# --------------------------------------------------------------------------------- ORU^R01


@dataclass(frozen=True)
class OruContext:
    """What the result message says besides the exam: identifiers, the order, the signer."""

    control_id: str
    exam_id: int
    version: int
    signed_by: str
    signed_at: dt.datetime
    facility: str = "VENALAB"
    accession: str | None = None
    placer_order: str | None = None
    procedure: str | None = None
    referring_physician: str | None = None
    patient_name: str | None = None
    corrected: bool = False


def _cwe(code: str, text: str, system: str, alt: tuple[str, str, str] | None = None) -> str:
    out = f"{escape(code)}^{escape(text[:199])}^{escape(system)}"
    if alt is not None:
        out += f"^{escape(alt[0])}^{escape(alt[1][:199])}^{escape(alt[2])}"
    return out


_HL7_SCHEMES = {"SCT": "SCT", "LN": "LN", "DCM": "DCM", "UCUM": "UCUM", "NCIt": "NCIT"}


def _sr_cwe(code: C.SrCode) -> str:
    return _cwe(code.value, code.meaning, _HL7_SCHEMES.get(code.scheme, code.scheme))


def _side_cwe(side: Side) -> str:
    return _sr_cwe(C.LEFT if side == "left" else C.RIGHT)


def _segment_obx(seg: Segment) -> list[tuple[str, str, str, str]]:
    """(value type, OBX-3, OBX-5, OBX-6 units) of one segment's measurements."""
    rows: list[tuple[str, str, str, str]] = []

    def num(code: C.SrCode, value: float, unit: str) -> None:
        rows.append(("NM", _sr_cwe(code), f"{value:g}", _cwe(unit, C.UCUM_MEANINGS[unit], "UCUM")))

    def cwe(code: C.SrCode, value: C.SrCode) -> None:
        rows.append(("CWE", _sr_cwe(code), _sr_cwe(value), ""))

    if seg.site is not None:
        cwe(C.TOPOGRAPHICAL_MODIFIER, C.SITE_CODES[seg.site])
    if seg.reflux_ms is not None:
        target = "outward_flow_ms" if seg.vein in PERFORATOR_VEINS else "reflux_ms"
        num(C.export_code(target), seg.reflux_ms, "ms")
    if seg.diameter_mm is not None:
        num(C.VESSEL_LUMEN_DIAMETER, seg.diameter_mm, "mm")
    if seg.peak_reflux_velocity_cm_s is not None:
        num(C.PEAK_BLOOD_VELOCITY, seg.peak_reflux_velocity_cm_s, "cm/s")
    if seg.position_cm is not None:
        num(C.export_code("position_cm"), seg.position_cm, "cm")
    if seg.compressibility is not None:
        cwe(
            C.export_code("compressibility"),
            C.export_code(f"compressibility={seg.compressibility}"),
        )
    if seg.obstruction is not None:
        cwe(C.OBSTRUCTION, C.YES if seg.obstruction else C.NO)
    if seg.beneath_ulcer is not None:
        cwe(C.export_code("beneath_ulcer"), C.YES if seg.beneath_ulcer else C.NO)
    if seg.label is not None:
        rows.append(("ST", _sr_cwe(C.TRACKING_IDENTIFIER), escape(seg.label), ""))
    if seg.thrombus is not None:
        t = seg.thrombus
        cwe(C.THROMBUS, C.DEFINITE_THROMBUS)
        if t.age is not None:
            cwe(
                C.export_code("thrombus.age"),
                C.THROMBUS_AGE_CODES.get(t.age) or C.export_code(f"thrombus.age={t.age}"),
            )
        if t.occlusive is not None:
            cwe(C.OCCLUSION, C.YES if t.occlusive else C.NO)
        if t.length_cm is not None:
            num(C.LENGTH, t.length_cm, "cm")
        if t.distance_to_junction_cm is not None:
            num(C.export_code("thrombus.distance_to_junction_cm"), t.distance_to_junction_cm, "cm")
    return rows


def _ndl(name: str) -> str:
    """OBR-32 (NDL): the interpreter's name as CNN subcomponents (&family&given)."""
    family, _, given = name.partition("^") if "^" in name else (name, "", "")
    return f"&{escape(family.strip())}&{escape(given.split('^')[0].strip())}".rstrip("&")


def build_oru(exam: ExamDocument, result: Result, ctx: OruContext, pdf: bytes | None) -> str:
    """The ORU^R01 (v2.5, ER7 with CR separators), validated with hl7apy."""
    status = "C" if ctx.corrected else "F"
    p = exam.patient
    sex = _SEX_OUT[p.sex]
    birth = p.birth_date.strftime("%Y%m%d") if p.birth_date else ""
    name = escape(ctx.patient_name) if ctx.patient_name else "UNKNOWN^^^^^^U"
    exam_date = exam.exam.date.strftime("%Y%m%d")
    signed = ctx.signed_at.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")
    legs = [side for side, _ in exam.legs.items()]
    report = fc.REPORT_CODE[legs[0] if len(legs) == 1 else "bilateral"]
    service = (
        _cwe("", ctx.procedure, "")
        if ctx.procedure
        else _cwe(report.code, report.display or "", "LN")
    )
    placer = escape(ctx.placer_order or f"VL{ctx.exam_id}")
    filler = escape(ctx.accession or f"{ctx.exam_id}-{ctx.version}")
    lines = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                escape(ctx.facility),
                escape(ctx.facility),
                "",
                "",
                _now(),
                "",
                "ORU^R01^ORU_R01",
                escape(ctx.control_id),
                "P",
                HL7_VERSION,
            ]
        ),
        f"PID|1||{escape(p.id)}^^^{escape(ctx.facility)}^MR||{name}||{birth}|{sex}",
        f"ORC|RE|{placer}|{filler}||CM",
        "|".join(
            [
                "OBR",
                "1",
                placer,
                filler,
                service,
                "",
                "",
                exam_date,
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                "",
                escape(ctx.referring_physician or ""),
                "",
                escape(ctx.accession or ""),
                "",
                "",
                "",
                signed,
                "",
                "US",
                status,
                "",
                "",
                "",
                "",
                "",
                "",
                _ndl(ctx.signed_by),
            ]
        ),
    ]
    obx: list[str] = []

    def add(vtype: str, code: str, value: str, units: str = "", sub: str = "") -> None:
        # v2.5 has no OBX-20 (observation site): the site and side of a finding are OBX of
        # their own (Finding Site, Laterality) sharing its sub-ID (OBX-4).
        n = len(obx) + 1
        fields = ["OBX", str(n), vtype, code, sub, value, units, "", "", "", "", status]
        fields += ["", "", exam_date]
        obx.append("|".join(fields))

    add(
        "TX",
        _sr_cwe(C.CONCLUSION),
        "~".join(escape(line) for line in _lines(report_conclusion(exam, result))),
    )
    for i, finding in enumerate(coded_findings(exam, result), start=1):
        sct, icd = finding.coding(fc.SCT), finding.coding(fc.ICD10CM)
        first = sct or icd
        if first is None:
            continue
        alt = (icd.code, icd.display or "", "I10") if sct is not None and icd is not None else None
        value = _cwe(first.code, first.display or "", "SCT" if first is sct else "I10", alt)
        add("CWE", _sr_cwe(C.FINDING), value, sub=f"dx{i}")
        for side in finding.sides:
            add("CWE", _sr_cwe(C.LATERALITY), _side_cwe(side), sub=f"dx{i}")
    for side, leg in exam.legs.items():
        for i, seg in enumerate(leg.segments, start=1):
            sub = f"{side[0].upper()}{i}"
            add("CWE", _sr_cwe(C.FINDING_SITE), _sr_cwe(C.EXPORT_VEIN_CODE[seg.vein]), sub=sub)
            add("CWE", _sr_cwe(C.LATERALITY), _side_cwe(side), sub=sub)
            for vtype, code, value, units in _segment_obx(seg):
                add(vtype, code, value, units, sub=sub)
    if pdf is not None:
        data = base64.b64encode(pdf).decode("ascii")
        add(
            "ED",
            _cwe("REPORT-PDF", "Clinician report (PDF)", C.LOCAL_SCHEME),
            f"VENALAB^AP^PDF^Base64^{data}",
        )
    text = "\r".join(lines + obx) + "\r"
    validate(text)
    return text


_ED = re.compile(
    r"^(OBX\|[^|]*\|ED\|[^|]*\|[^|]*\|[^^|]*\^[^^|]*\^[^^|]*\^Base64\^)([A-Za-z0-9+/=]*)(\|.*)?$"
)


def validate(text: str) -> None:
    """Parse with hl7apy (groups found) and validate strictly; raises HL7apyException or
    ValueError.

    hl7apy checks every OBX-5 component as ST (at most 199 characters) whatever OBX-2 says,
    so an embedded document's Base64 data is checked here instead (alphabet, padding,
    decodable) and replaced by a short stand-in for hl7apy's check of the rest."""
    lines = []
    for line in re.split(r"\r\n|\r|\n", text.strip()):
        m = _ED.match(line)
        if m is not None:
            base64.b64decode(m.group(2), validate=True)
            line = m.group(1) + "AA==" + (m.group(3) or "")
        lines.append(line)
    msg = parse_message(
        "\r".join(lines), find_groups=True, validation_level=VALIDATION_LEVEL.STRICT
    )
    msg.validate()


def _lines(text: str, width: int = 190) -> list[str]:
    """Text as TX repetitions of at most `width` characters (after escaping), split at
    spaces; each line of the text starts a repetition (blank lines are left out)."""
    lines = [line for source in text.splitlines() for line in _wrapped(source, width) if line]
    return lines or [""]


def _wrapped(text: str, width: int) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        candidate = f"{line} {word}" if line else word
        if len(escape(candidate)) <= width:
            line = candidate
            continue
        if line:
            out.append(line)
        while len(escape(word)) > width:
            out.append(word[: width // 2])
            word = word[width // 2 :]
        line = word
    if line:
        out.append(line)
    return out or [""]


def ack_code(text: str) -> str:
    """MSA-1 of an acknowledgement ('' when there is none)."""
    for seg in _segments(text):
        if seg[0] == "MSA" and len(seg) > 1:
            return seg[1].strip()
    return ""


def message_type(text: str) -> str:
    raw = _segments(text)
    return raw[0][8] if raw and raw[0][0] == "MSH" and len(raw[0]) > 8 else ""


def parse_tolerant(text: str) -> Message:
    return parse_message(text, find_groups=False, validation_level=VALIDATION_LEVEL.TOLERANT)
