"""Hypothesis strategies for valid exam documents, generated from the exam model's JSON schema.

Every property of `ExamDocument.model_json_schema()` can appear (a field added to the model is
generated without touching this file), with values inside the schema's bounds: floats of any
magnitude the bounds allow, free text with spaces at either end, line breaks where the model
allows them and characters HTML cares about, lists with repeated choices, maps such as
`scores.vcss.<side>.at_least`, thrombi without any detail (`{}`). Cross-field rules the schema
cannot express are met by small repairs (`_repair`) and the rest filtered by the model itself,
so only documents `parse_exam_obj` accepts come out.
"""

from __future__ import annotations

import copy
import datetime as dt
import string
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

from venalab.errors import InvalidInput
from venalab.exam import PERFORATOR_VEINS, ExamDocument, parse_exam_obj
from venalab.units import LAB_UNITS

SCHEMA = ExamDocument.model_json_schema()
DEFS: dict[str, Any] = SCHEMA["$defs"]

_ID_CHARS = string.ascii_letters + string.digits + "-_./"
# Letters, digits, punctuation HTML cares about, accents, a CJK character and an emoji.
_TEXT_CHARS = string.ascii_letters + string.digits + " <>&'\"/=;:,.()[]{}-_éüßøΩ中😀"


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str):
        return _resolve(DEFS[ref.rsplit("/", 1)[-1]])
    return node


def _number(node: dict[str, Any], integer: bool) -> st.SearchStrategy[Any]:
    low = node.get("minimum", node.get("exclusiveMinimum"))
    high = node.get("maximum", node.get("exclusiveMaximum"))
    if integer:
        return st.integers(
            min_value=int(low) if low is not None else -1000,
            max_value=int(high) if high is not None else 1000,
        )
    low = -1e6 if low is None else low
    high = 1e6 if high is None else high
    return st.floats(
        min_value=low,
        max_value=high,
        exclude_min="exclusiveMinimum" in node,
        exclude_max="exclusiveMaximum" in node,
        allow_nan=False,
        allow_infinity=False,
    )


def _string(node: dict[str, Any], path: str) -> st.SearchStrategy[str]:
    if node.get("format") == "date":
        if path.endswith("birth_date"):
            low, high = dt.date(1900, 1, 1), dt.date(1999, 12, 31)
        else:
            low, high = dt.date(2000, 1, 1), dt.date(2030, 12, 31)
        return st.dates(min_value=low, max_value=high).map(dt.date.isoformat)
    size = min(int(node.get("maxLength", 40)), 40)
    if path == "patient.id":
        return st.text(_ID_CHARS, min_size=1, max_size=min(size, 20))
    chars = _TEXT_CHARS + ("\n\t" if int(node.get("maxLength", 0)) > 200 else "")
    return st.text(chars, max_size=size)


def strategy(node: dict[str, Any], path: str = "") -> st.SearchStrategy[Any]:
    """Values valid by the schema `node` (at `path`, which picks a few realistic ranges)."""
    node = _resolve(node)
    if "anyOf" in node:
        real = [a for a in node["anyOf"] if a.get("type") != "null"]
        return st.one_of(*[strategy(a, path) for a in real])
    if "const" in node:
        return st.just(node["const"])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object" and "properties" in node:
        return _object(node, path)
    if kind == "object":  # a map (e.g. at_least): keys from propertyNames
        keys = _resolve(node.get("propertyNames", {}))
        return st.dictionaries(
            strategy(keys, path), strategy(node.get("additionalProperties", {}), path), max_size=3
        )
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        return _number(node, kind == "integer")
    if kind == "string":
        return _string(node, path)
    if kind == "array":
        cap = 6 if path.endswith("segments") else 4
        return st.lists(strategy(node["items"], path), max_size=min(node.get("maxItems", cap), cap))
    raise AssertionError(f"no strategy for {path}: {node}")


def _object(node: dict[str, Any], path: str) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = node["properties"]
    required = set(node.get("required", ()))
    if path.startswith("labs.") and set(props) == {"value", "unit"}:
        spec = LAB_UNITS[path.split(".")[1]]
        low, high = spec.plausible
        return st.fixed_dictionaries(
            {
                "value": st.floats(min_value=low, max_value=high, allow_nan=False),
                "unit": st.just(spec.conventional),
            }
        )
    sub = {k: strategy(v, f"{path}.{k}" if path else k) for k, v in props.items()}
    return st.fixed_dictionaries(
        {k: s for k, s in sub.items() if k in required},
        optional={k: s for k, s in sub.items() if k not in required},
    )


def _repair(doc: dict[str, Any]) -> dict[str, Any]:
    """Meet the cross-field rules the schema cannot state (one age, recurrences with their
    signs, perforator-only fields); what remains invalid is filtered out."""
    doc = copy.deepcopy(doc)
    patient = doc["patient"]
    if ("birth_date" in patient) == ("age_years" in patient):
        patient.pop("birth_date", None)
        patient["age_years"] = 60
    for leg in doc["legs"].values():
        clinical = leg.get("clinical", {})
        signs = clinical.get("signs", [])
        if "varicose" in clinical.get("recurrent", []) and "varicose" not in signs:
            clinical["signs"] = [*signs, "varicose"]
        if "ulcer" in clinical.get("recurrent", []) and "ulcer-active" not in clinical.get(
            "signs", []
        ):
            clinical["signs"] = [*clinical.get("signs", []), "ulcer-active"]
        for seg in leg.get("segments", []):
            if seg["vein"] not in PERFORATOR_VEINS:
                seg.pop("beneath_ulcer", None)
    return doc


def _valid(doc: dict[str, Any]) -> bool:
    try:
        parse_exam_obj(doc)
    except InvalidInput:
        return False
    return True


@st.composite
def exam_documents(draw: st.DrawFn) -> dict[str, Any]:
    """A valid exam document (as JSON-ready dict) using any field of the model."""
    doc = _repair(draw(strategy(SCHEMA)))
    if not doc["legs"]:
        doc["legs"]["left"] = draw(strategy(DEFS["Leg"], "legs.left"))
        doc = _repair(doc)
    assume(_valid(doc))
    return doc


def normalised(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as the store keeps it: validated by the model and dumped canonically."""
    import json

    result: dict[str, Any] = json.loads(parse_exam_obj(doc).to_json())
    return result
