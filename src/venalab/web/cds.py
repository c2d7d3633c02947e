"""CDS Hooks 2.0 service (HL7 CDS Hooks; shared/reference/interop.md section 1).

- `GET /cds-services`: discovery.
- `POST /cds-services/venalab-patient-view` (hook `patient-view`): a patient with venous
  duplex Observations gets cards: thrombosis and reflux interpretation, CEAP, and the
  guideline recommendation with its source label and link.
- `POST /cds-services/venalab-order-select` (hook `order-select`): an anticoagulant ordered for
  isolated distal DVT or calf muscle vein thrombosis gets the surveillance-versus-
  anticoagulation guidance of the engine's pathway.

Every call (discovery included) carries `Authorization: Bearer <JWT>` signed by an
allow-listed CDS client; web/cds_clients.py checks it against the audience
`VENALAB_CDS_BASE_URL` + the endpoint's path (never the request's Host header).

The request body is read within the input limits and validated (hook, context, FHIR ids:
`[A-Za-z0-9-.]{1,64}`); a malformed body is a 400 naming the field. Prefetch: when absent, the
service fetches the Patient and its Observations from `fhirServer`, but only when that URL is
one of the calling client's `fhir_servers`: the client's access token is sent nowhere else,
no redirect is followed, and the answer is read within the limits. Otherwise, or when the
fetch fails in any way, the answer is 412 saying what the request lacks, never what a fetch
saw. The cards come from the same engine as every other interface (FHIR import -> exam
document -> assess).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from venalab.bounded import TooLarge, decode_json
from venalab.citations import CITATIONS
from venalab.engine import assess
from venalab.errors import InvalidInput, problems_from_validation
from venalab.evidence import Recommendation
from venalab.result import Result
from venalab.rules.pathways import pathway_params
from venalab.rules.thrombosis import sentence
from venalab.store.cds_replay import first_use_committed
from venalab.store.models import utcfromtimestamp
from venalab.web.cds_clients import (
    CdsAuthError,
    CdsClient,
    CdsConfig,
    FirstUse,
    bounded_body,
    verify_token,
)

__all__ = ["SERVICES", "CdsClient", "CdsConfig", "router"]

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])

ANTICOAGULANTS = (
    "rivaroxaban", "apixaban", "edoxaban", "dabigatran", "enoxaparin", "dalteparin",
    "tinzaparin", "nadroparin", "heparin", "fondaparinux", "warfarin", "acenocoumarol",
    "phenprocoumon",
)  # fmt: skip
OBSERVATION_QUERY = "Observation?patient={{context.patientId}}&_count=500"
OBSERVATION_COUNT = 500

SERVICES = [
    {
        "hook": "patient-view",
        "id": "venalab-patient-view",
        "title": "venalab venous duplex interpretation",
        "description": "Interprets a patient's lower-limb venous duplex Observations (reflux, "
        "thrombosis, CEAP) and shows the guideline recommendation with its source.",
        "prefetch": {"patient": "Patient/{{context.patientId}}", "observations": OBSERVATION_QUERY},
    },
    {
        "hook": "order-select",
        "id": "venalab-order-select",
        "title": "venalab calf DVT anticoagulation check",
        "description": "When an anticoagulant is selected for a patient whose duplex shows "
        "isolated distal (calf) DVT or calf muscle vein thrombosis, shows the "
        "surveillance-versus-anticoagulation guidance (CHEST 2021) for that patient.",
        "prefetch": {"patient": "Patient/{{context.patientId}}", "observations": OBSERVATION_QUERY},
    },
]

# --------------------------------------------------------------------------- request bodies

FhirId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]{1,64}$")]
_Token = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]{1,4096}$")]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class FhirAuthorization(_Open):
    access_token: _Token
    token_type: Literal["Bearer", "bearer"]
    expires_in: int | None = None
    scope: Annotated[str, Field(max_length=4096)] | None = None
    subject: Annotated[str, Field(max_length=1024)] | None = None


class HookContext(_Open):
    userId: Annotated[str, Field(max_length=256)] | None = None
    patientId: FhirId
    encounterId: FhirId | None = None
    selections: list[Annotated[str, Field(max_length=256)]] | None = None
    draftOrders: dict[str, Any] | None = None


class HookRequest(_Open):
    hook: Annotated[str, Field(max_length=64)]
    hookInstance: Annotated[str, Field(max_length=256)]
    fhirServer: Annotated[str, Field(max_length=2048)] | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: HookContext
    prefetch: dict[str, dict[str, Any] | None] | None = None


# --------------------------------------------------------------------------- answers


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "login", "diagnostics": reason}],
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _outcome(status: int, code: str, text: str, problems: list[str] | None = None) -> JSONResponse:
    issues = [{"severity": "error", "code": code, "diagnostics": text}]
    issues += [{"severity": "error", "code": code, "diagnostics": p} for p in problems or []]
    return JSONResponse({"resourceType": "OperationOutcome", "issue": issues}, status_code=status)


def _config(request: Request) -> CdsConfig:
    cfg: CdsConfig = request.app.state.cds
    return cfg


def _audience(request: Request, service_id: str | None) -> str:
    """This endpoint's URL under the configured base (create_app requires the base whenever
    clients are configured; without clients every token is refused anyway)."""
    base: str = request.app.state.venalab.settings.cds_base_url or "https://unconfigured.invalid"
    return f"{base}/cds-services" + (f"/{service_id}" if service_id else "")


def _first_use(factory: sessionmaker[Session]) -> FirstUse:
    def record(iss: str, jti: str, expires: float) -> bool:
        return first_use_committed(factory, iss, jti, utcfromtimestamp(expires))

    return record


@router.get("")
def discovery(request: Request) -> JSONResponse:  # sync: FastAPI runs it in a thread
    try:
        verify_token(
            _config(request),
            request.headers.get("authorization"),
            _audience(request, None),
            _first_use(request.app.state.venalab.session_factory),
        )
    except CdsAuthError as e:
        return _unauthorized(str(e))
    return JSONResponse({"services": SERVICES})


# --------------------------------------------------------------------------- data gathering


class PrefetchUnavailable(Exception):
    """The data is not in the request and may not or could not be fetched (HTTP 412)."""


def _entries(resource: Any) -> list[dict[str, Any]]:
    """Prefetch values are resources or Bundles (of a search); flatten to resources."""
    if not isinstance(resource, dict):
        return []
    if resource.get("resourceType") == "Bundle":
        entries = resource.get("entry")
        return [
            e["resource"]
            for e in (entries if isinstance(entries, list) else [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [resource]


def _fetch(
    base: str, auth: FhirAuthorization | None, path: str, params: dict[str, str] | None = None
) -> Any:
    headers = {"Accept": "application/fhir+json"}
    if auth is not None:
        headers["Authorization"] = f"Bearer {auth.access_token}"
    try:
        with httpx.stream(
            "GET",
            f"{base.rstrip('/')}/{path}",
            params=params,
            headers=headers,
            timeout=10.0,
            follow_redirects=False,
        ) as response:
            if response.status_code != 200:
                raise PrefetchUnavailable
            body = bounded_body(response)
        return decode_json(body, "FHIR server response")
    except (httpx.HTTPError, InvalidInput, ValueError):
        raise PrefetchUnavailable from None


def _patient_resources(req: HookRequest, client: CdsClient) -> list[dict[str, Any]]:
    """Patient and Observations from prefetch, else from an allow-listed FHIR server."""
    prefetch = req.prefetch or {}
    if prefetch.get("patient") is not None and prefetch.get("observations") is not None:
        return _entries(prefetch["patient"]) + _entries(prefetch["observations"])
    if not req.fhirServer:
        raise PrefetchUnavailable("prefetch data missing and no fhirServer to fetch it from")
    if not client.allows_fhir_server(req.fhirServer):
        raise PrefetchUnavailable(
            "prefetch data missing, and fhirServer is not a FHIR server configured for this "
            "client, so nothing was fetched"
        )
    pid = req.context.patientId
    try:
        patient = _fetch(req.fhirServer, req.fhirAuthorization, f"Patient/{pid}")
        observations = _fetch(
            req.fhirServer,
            req.fhirAuthorization,
            "Observation",
            {"patient": pid, "_count": str(OBSERVATION_COUNT)},
        )
    except PrefetchUnavailable:
        raise PrefetchUnavailable(
            "prefetch data missing and the FHIR server did not provide it"
        ) from None
    return _entries(patient) + _entries(observations)


def _interpret(resources: list[dict[str, Any]]) -> Result | None:
    """The engine's result for the duplex Observations, None when there are none or they do
    not make an exam document."""
    from venalab.interop.fhir_import import import_bundle

    if not any(r.get("resourceType") == "Observation" for r in resources):
        return None
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r} for r in resources],
    }
    try:
        imported = import_bundle(bundle)
    except InvalidInput:
        return None
    return assess(imported.exam)


# --------------------------------------------------------------------------- cards


def _source(sources: tuple[str, ...] | list[str]) -> dict[str, str]:
    cid = sources[0] if sources else "VENALAB"
    citation = CITATIONS.get(cid)
    label = f"venalab · {cid}" + (f": {citation.text[:90]}" if citation else "")
    out = {"label": label[:140]}
    if citation and citation.doi:
        out["url"] = f"https://doi.org/{citation.doi}"
    elif citation and citation.pmid:
        out["url"] = f"https://pubmed.ncbi.nlm.nih.gov/{citation.pmid}/"
    return out


def _card(
    summary: str,
    detail: str,
    indicator: str,
    sources: tuple[str, ...] | list[str],
    links: list[dict[str, str]] | None = None,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": str(uuid.uuid4()),
        "summary": summary[:139],
        "detail": detail,
        "indicator": indicator,
        "source": _source(sources),
    }
    if links:
        card["links"] = links
    return card


def _recommendation_card(rec: Recommendation, indicator: str = "info") -> dict[str, Any]:
    ev = rec.evidence
    flag = " (source unverified)" if ev.unverified else ""
    detail = (
        rec.text
        + (f"\n\nStrength: {rec.strength}." if rec.strength else "")
        + (f"\n\nSources: {', '.join(ev.sources)}{flag}.")
    )
    return _card(rec.text.split(";")[0].split(". ")[0], detail, indicator, list(ev.sources))


# Card indicator of a finding's importance (evidence.Importance: 1 urgent ... 4 informative).
_INDICATOR = {1: "critical", 2: "warning", 3: "info", 4: "info"}


def _indicator(result: Result, finding_id: str) -> str:
    """The card indicator the engine's finding of that id calls for: `critical` when the
    engine marks it critical (Result.critical), else by its importance."""
    finding = next((f for f in result.findings if f.id == finding_id), None)
    if finding is not None and finding.critical:
        return "critical"
    return _INDICATOR[finding.importance] if finding is not None else "info"


def patient_cards(result: Result) -> list[dict[str, Any]]:
    # Critical results first, each with the engine's criterion and reason (issue 18).
    cards: list[dict[str, Any]] = [
        _card(c.text, c.reason, "critical", list(c.evidence.sources)) for c in result.critical
    ]
    for side in ("left", "right"):
        leg = result.leg(side)
        if leg is None:
            continue
        t = leg.thrombosis
        if t.classification != "none":
            cards.append(
                _card(
                    f"{side.capitalize()} leg: {sentence(t.label)} ({', '.join(t.veins_involved)})",
                    f"{t.evidence.note}\n\nAge: {', '.join(t.ages)}.",
                    _indicator(result, f"thrombosis.{t.classification}.{side}"),
                    list(t.evidence.sources),
                )
            )
        if leg.reflux_patterns:
            patterns = ", ".join(f"{k} {v}" for k, v in leg.pattern_labels().items())
            abnormal = [
                f"{s.vein} {s.measured_ms:g} ms ({s.comparison} {s.threshold_ms:g})"
                for s in leg.segments
                if s.abnormal and s.measured_ms is not None
            ]
            cards.append(
                _card(
                    f"{side.capitalize()} leg: venous reflux ({patterns})",
                    "Reflux beyond the criteria of "
                    + result.criteria.id
                    + ": "
                    + "; ".join(abnormal),
                    "info",
                    list(result.criteria.sources),
                )
            )
        ceap = leg.ceap
        if ceap is None:  # not assessed (venalab.assembly): no class to show
            na = leg.ceap_not_assessed
            cards.append(
                _card(
                    f"{side.capitalize()} leg CEAP: not assessed",
                    (na.reason if na else "CEAP was not assessed.") + ".",
                    "info",
                    list(na.evidence.sources) if na else [],
                )
            )
            continue
        cards.append(
            _card(
                f"{side.capitalize()} leg CEAP: {ceap.basic}",
                f"Advanced: {ceap.advanced}."
                + (f"\n\nNot derivable: {'; '.join(ceap.ambiguities)}" if ceap.ambiguities else ""),
                "info",
                list(ceap.evidence.sources),
            )
        )
    for rec in result.recommendations[:3]:
        cards.append(_recommendation_card(rec))
    return cards


def _is_anticoagulant(resource: dict[str, Any]) -> bool:
    texts: list[str] = []
    med = resource.get("medicationCodeableConcept")
    med = med if isinstance(med, dict) else {}
    codings = med.get("coding")
    texts.append(str(med.get("text", "")))
    texts += [
        str(c.get("display", ""))
        for c in (codings if isinstance(codings, list) else [])
        if isinstance(c, dict)
    ]
    blob = " ".join(texts).lower()
    return any(name in blob for name in ANTICOAGULANTS)


def order_cards(result: Result | None, context: dict[str, Any]) -> list[dict[str, Any]]:
    """Cards for an order-select call; `context` is the hook's (validated) context."""
    selections = set(context.get("selections") or [])
    orders = _entries(context.get("draftOrders"))
    selected = [
        o
        for o in orders
        if f"{o.get('resourceType')}/{o.get('id')}" in selections or not selections
    ]
    if result is None or not any(_is_anticoagulant(o) for o in selected):
        return []
    cards = []
    params = pathway_params(result.options.pathways)  # the parameters the engine ran with
    for side in ("left", "right"):
        leg = result.leg(side)
        if leg is None or leg.thrombosis.classification not in ("distal-axial", "distal-muscular"):
            continue
        p = leg.pathway
        recs = list(p.recommendations)
        guidance = "\n".join(f"- {r.text}" for r in recs)
        missing = (
            f"\n\nFacts that would change the choice: {', '.join(p.missing)}." if p.missing else ""
        )
        cards.append(
            _card(
                f"Anticoagulant ordered for {leg.thrombosis.label} ({side}): weigh serial imaging",
                f"CHEST 2021: without severe symptoms or risk factors for extension, serial "
                f"ultrasound for {params.iddvt.serial_imaging_weeks} weeks is suggested over "
                f"anticoagulation; with them, anticoagulation for "
                f"{params.iddvt.anticoagulation_months} months."
                f"\n\nvenalab pathway for this patient: {p.decision}.\n{guidance}{missing}",
                "warning" if p.decision == "serial-imaging" else "info",
                list(recs[0].evidence.sources) if recs else ["STE21"],
            )
        )
    return cards


@router.post("/{service_id}")
async def call_service(service_id: str, request: Request) -> JSONResponse:
    raw = await request.body()
    # Key fetching, FHIR queries and the engine block: run them off the event loop.
    return await run_in_threadpool(
        _answer,
        service_id,
        raw,
        _config(request),
        request.headers.get("authorization"),
        _audience(request, service_id),
        _first_use(request.app.state.venalab.session_factory),
    )


def _answer(
    service_id: str,
    raw: bytes,
    config: CdsConfig,
    authorization: str | None,
    audience: str,
    first_use: FirstUse,
) -> JSONResponse:
    try:
        claims = verify_token(config, authorization, audience, first_use)
    except CdsAuthError as e:
        return _unauthorized(str(e))
    client = config.clients[str(claims["iss"])]
    service = next((s for s in SERVICES if s["id"] == service_id), None)
    if service is None:
        return _outcome(404, "not-found", f"no CDS service {service_id[:64]!r}")
    try:
        body = decode_json(raw, "CDS Hooks request")
    except TooLarge as e:
        return _outcome(413, "too-costly", str(e.problems[0].message))
    except InvalidInput as e:
        return _outcome(
            400, "invalid", "request body is not acceptable JSON", [str(p) for p in e.problems]
        )
    if not isinstance(body, dict) or body.get("hook") != service["hook"]:
        return _outcome(400, "invalid", f"this service answers the {service['hook']!r} hook")
    try:
        req = HookRequest.model_validate(body)
    except ValidationError as err:
        problems = [str(p) for p in problems_from_validation(err)]
        return _outcome(400, "invalid", "the request does not fit the hook", problems)
    if req.fhirAuthorization is not None and not req.fhirServer:
        return _outcome(400, "invalid", "fhirAuthorization without fhirServer (cds-r-1)")
    try:
        resources = _patient_resources(req, client)
    except PrefetchUnavailable as e:
        return _outcome(412, "not-found", str(e))
    result = _interpret(resources)
    if service["hook"] == "patient-view":
        cards = patient_cards(result) if result else []
    else:
        cards = order_cards(result, req.context.model_dump())
    return JSONResponse({"cards": cards})
