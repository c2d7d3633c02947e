"""CEAP (CEAP 2020 update, Lurie et al.; CEAP20): vocabulary, derivation per leg, notation.

    vocabulary.py   `data/ceap.toml` schema, loader and cross-checks; class and segment tables
    derivation.py   `derive_ceap` of one leg, one builder per part (C, S/A, E, A/P)
    notation.py     rendering to strings and `parse_ceap` (2004 and 2020 styles)

Imports run one way: vocabulary <- notation <- derivation. The names below are the public
API; import them from `venalab.rules.ceap`.
"""

from __future__ import annotations

from venalab.rules.ceap.derivation import (
    CeapResult,
    CeapSegment,
    CeapSegmentList,
    ceap_findings,
    clinical_classes,
    derive_ceap,
)
from venalab.rules.ceap.notation import (
    ParsedCeap,
    ParsedSegments,
    parse_ceap,
    vcss_delta,
    vcss_deltas,
)
from venalab.rules.ceap.vocabulary import (
    C_ORDER,
    CEAP,
    CLASS_ORDER,
    ETIOLOGY_CODES,
    LEVELS,
    RECURRENCE,
    SEGMENT_ORDER,
    SEGMENTS,
    SIGN_CLASS,
    CeapSegmentInfo,
    abbreviations_of,
    has_ulcer_class,
    highest_class,
    legacy_classes,
    legacy_numbers_of,
)

__all__ = [
    "CEAP",
    "CLASS_ORDER",
    "C_ORDER",
    "ETIOLOGY_CODES",
    "LEVELS",
    "RECURRENCE",
    "SEGMENTS",
    "SEGMENT_ORDER",
    "SIGN_CLASS",
    "CeapResult",
    "CeapSegment",
    "CeapSegmentInfo",
    "CeapSegmentList",
    "ParsedCeap",
    "ParsedSegments",
    "abbreviations_of",
    "ceap_findings",
    "clinical_classes",
    "derive_ceap",
    "has_ulcer_class",
    "highest_class",
    "legacy_classes",
    "legacy_numbers_of",
    "parse_ceap",
    "vcss_delta",
    "vcss_deltas",
]
