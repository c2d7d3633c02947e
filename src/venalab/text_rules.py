"""What text people type may contain: identifiers and free text (security issue, item 6).

Identifiers (the patient id) are compared by eye and by machines, so they must look like
what they are:
- stored in Unicode NFC (canonically equal spellings are one id);
- no control characters (NUL breaks PostgreSQL), no invisible format characters (zero-width
  spaces and joiners, bidirectional overrides and marks: Unicode category Cf), no line or
  paragraph separators, no private-use, surrogate or unassigned code points;
- no whitespace but the plain space, not at either end and never two in a row.
Look-alike ids, those equal once compatibility forms (NFKC), case, dashes and spacing are
folded (`match_key`), name the same patient: the store refuses a new patient whose id only
looks like an existing one and names the existing id instead of silently creating a second
record for the same person.

Free text (indication, operator, segment labels, amendment reasons) keeps its spelling but
refuses control characters (tab, line feed and carriage return allowed where several lines
make sense) and the bidirectional embedding, override and isolate controls that can make
text display differently from what it stores ("Trojan source").
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Final

#: Categories refused in identifiers: controls, format characters (zero-width, bidi),
#: surrogates, private use, unassigned, line and paragraph separators.
_ID_REFUSED: Final = {
    "Cc": "a control character",
    "Cf": "an invisible formatting character (zero-width or bidirectional)",
    "Cs": "a surrogate code point",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
}
#: Bidirectional embedding, override and isolate controls (Unicode TR9).
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Identifiers that pass every check below without looking at each character: visible
#: ASCII (letters, digits, punctuation) in runs joined by single plain spaces. ASCII is its
#: own NFC form and has no other whitespace, format or unassigned code points.
_PLAIN_ASCII_ID = re.compile(r"[!-~]+(?: [!-~]+)*")
_DASHES = re.compile("[\u2010-\u2015\u2212\u2e3a\u2e3b\ufe58\ufe63\uff0d]")


def _code(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return f"U+{ord(ch):04X}" + (f" {name}" if name else "")


def check_identifier(value: str) -> str:
    """The NFC form of an identifier; ValueError saying what is wrong and what is allowed."""
    if _PLAIN_ASCII_ID.fullmatch(value):
        return value  # the common case, decided in one step (every exam parse asks)
    return _check_each_character(value)


def _check_each_character(value: str) -> str:
    """`check_identifier` character by character (any identifier; the fast path agrees)."""
    text = unicodedata.normalize("NFC", value)
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        what = _ID_REFUSED.get(category)
        if what is None and category == "Zs" and ch != " ":
            what = "whitespace other than a plain space"
        if what is not None:
            raise ValueError(
                f"contains {what} ({_code(ch)}) at position {i + 1}; identifiers allow "
                "visible characters and single plain spaces"
            )
    if text != text.strip(" "):
        raise ValueError("starts or ends with a space; remove it")
    if "  " in text:
        raise ValueError("contains two spaces in a row; use one")
    return text


def match_key(identifier: str) -> str:
    """What look-alike identifiers share (SHA-256 hex of the folded form): NFKC
    compatibility forms, case, dash variants and whitespace runs are folded."""
    text = unicodedata.normalize("NFKC", identifier)
    text = unicodedata.normalize("NFKC", text.casefold())
    text = _DASHES.sub("-", text)
    text = " ".join(text.split())
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def check_free_text(value: str, *, multiline: bool) -> str:
    """`value` unchanged, or ValueError naming a refused character: control characters
    (tab, line feed and carriage return pass when `multiline`) and bidi controls."""
    allowed = "\t\n\r" if multiline else ""
    for i, ch in enumerate(value):
        if ch in _BIDI_CONTROLS:
            raise ValueError(
                f"contains a bidirectional control character ({_code(ch)}) at position "
                f"{i + 1}, which can make text display differently from what is stored"
            )
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            kinds = "line breaks and tabs are allowed" if multiline else "use a single line"
            raise ValueError(
                f"contains a control character ({_code(ch)}) at position {i + 1}; {kinds}"
            )
    return value


def strip_controls(value: str) -> str:
    """`value` without control characters: for metadata copied from a machine's message
    (a DICOM header) that is only matched and shown, never refused for them."""
    return "".join(ch for ch in value if unicodedata.category(ch) != "Cc")


def single_line(value: str) -> str:
    return check_free_text(value, multiline=False)


def multi_line(value: str) -> str:
    return check_free_text(value, multiline=True)
