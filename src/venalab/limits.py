"""Input limits: how large, deep and long any input may be, in one table.

Applied at every edge that reads input: the CLI (exam files, FHIR bundles, DICOM SR, score
items), the API and the pages (request bodies, uploads, URLs, form fields), CDS Hooks calls
and the responses of FHIR servers they fetch from. Anything beyond a limit is refused with
the usual error shape (API: 413 for size, 422 with the JSON path otherwise; CLI: exit 2 with
the path), never a server error or a traceback. The README's Security section lists them.

The numbers are far above what a real exam needs (one leg has tens of segments; an exam
document nests 6 levels) and low enough that one request cannot hold a worker for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

MIB: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    #: JSON request body, exam file (JSON/YAML), CDS Hooks call, FHIR server response.
    body_bytes: int = 2 * MIB
    #: Uploaded or imported file: DICOM SR, FHIR Bundle (page upload and CLI import).
    upload_bytes: int = 20 * MIB
    #: Nesting of arrays and objects (JSON, YAML); an exam document nests 6 levels.
    depth: int = 32
    #: Digits of an integer (JSON, YAML); Python refuses more than 4,300 at all.
    integer_digits: int = 30
    #: Characters of one string anywhere in a JSON/YAML document (exam fields have
    #: their own, smaller limits: 64 for the patient id, 2,000 for the indication).
    string_chars: int = 100_000
    #: Elements of one array, or keys of one object.
    items: int = 10_000
    #: Measurement rows (segments) in one leg of an exam document.
    segments_per_leg: int = 1_000
    #: YAML aliases (`*name`) in one document, and the nodes after expanding them
    #: ("billion laughs" documents are refused, not expanded).
    yaml_aliases: int = 100
    yaml_nodes: int = 200_000
    #: Nesting of DICOM sequences, and sequence items in one DICOM file.
    dicom_depth: int = 24
    dicom_items: int = 200_000
    #: A deflated DICOM data set, once inflated.
    dicom_inflated_bytes: int = 64 * MIB


LIMITS: Final = Limits()


def describe_bytes(n: int) -> str:
    """`2 MiB`, `512 KiB`, `100 bytes`: how the limits are printed in messages."""
    if n >= MIB and n % MIB == 0:
        return f"{n // MIB} MiB"
    if n >= 1024 and n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n:,} bytes"
