"""The official FHIR R4 JSON schema (vendored, tests/data/README.md) and the validators the
FHIR tests share: jsonschema Draft 6 per resource (precise messages) and for the whole Bundle,
plus a FHIR model library (fhir.resources R4B: there is no pure R4 module since 7.0, and R4B
reads R4 wire data for these resources; fhirclient's true R4 models are not installed)."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fhir.resources.R4B.bundle import Bundle

SCHEMA_FILE = Path(__file__).parent / "data" / "fhir.schema.json.gz"


@cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress(SCHEMA_FILE.read_bytes()))
    return data


@cache
def _bundle_validator() -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(schema())


@cache
def _resource_validator(resource_type: str) -> jsonschema.Draft6Validator:
    return jsonschema.Draft6Validator(
        {"$ref": f"#/definitions/{resource_type}", "definitions": schema()["definitions"]}
    )


def schema_errors(bundle: dict[str, Any], *, whole: bool = True) -> list[str]:
    """Every schema error, per resource with its path; then the whole Bundle (which only
    says that an entry failed its oneOf, hence the per-resource pass first)."""
    out = []
    for i, entry in enumerate(bundle.get("entry", [])):
        res = entry["resource"]
        for e in _resource_validator(res["resourceType"]).iter_errors(res):
            where = "/".join(str(p) for p in e.absolute_path)
            out.append(f"entry[{i}] {res['resourceType']}/{where}: {e.message[:200]}")
    if whole:
        out += [f"Bundle: {e.message[:200]}" for e in _bundle_validator().iter_errors(bundle)]
    return out


def model_parse(bundle: dict[str, Any]) -> Bundle:
    """Parse with fhir.resources' R4B models (rejects unknown and missing required elements)."""
    return Bundle.model_validate(bundle)


def assert_valid_r4(bundle: dict[str, Any], *, whole: bool = True) -> None:
    errors = schema_errors(bundle, whole=whole)
    assert not errors, "\n".join(errors)
    parsed = model_parse(bundle)
    assert parsed.entry is not None and len(parsed.entry) == len(bundle["entry"])


# --- the schema file itself and the validators catch what they should ----------------------


def test_vendored_schema_is_the_official_r4_schema() -> None:
    digest = hashlib.sha256(gzip.decompress(SCHEMA_FILE.read_bytes())).hexdigest()
    readme = (SCHEMA_FILE.parent / "README.md").read_text(encoding="utf-8")
    assert digest in readme  # the file is the one the README says where it came from
    s = schema()
    assert s["id"] == "http://hl7.org/fhir/json-schema/4.0"
    assert s["$schema"] == "http://json-schema.org/draft-06/schema#"
    assert len(s["definitions"]) == 680
    jsonschema.Draft6Validator.check_schema(s)


def _minimal() -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b6a6d4e-0000-4000-8000-000000000001",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": "http://loinc.org", "code": "39420-5"}]},
                },
            }
        ],
    }


def test_validators_accept_a_minimal_bundle() -> None:
    assert_valid_r4(_minimal())


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda r: r.update(status="notastatus"), "status"),  # fhir.resources misses this one
        (lambda r: r.pop("code"), "code"),
        (lambda r: r.update(valueQuantity={"value": "12"}), "valueQuantity/value"),
        (lambda r: r.update(bodyStructure={"reference": "x"}), "Additional properties"),
        (lambda r: r.update(effectiveDateTime="10/02/2025"), "effectiveDateTime"),
    ],
)
def test_schema_catches_bad_resources_with_precise_paths(change: Any, where: str) -> None:
    bad = copy.deepcopy(_minimal())
    change(bad["entry"][0]["resource"])
    errors = schema_errors(bad, whole=False)
    assert errors and any(where in e for e in errors), errors
    assert schema_errors(bad, whole=True)[-1].startswith("Bundle:")
