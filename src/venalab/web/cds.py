"""CDS Hooks 2.0 service (HL7 CDS Hooks; shared/reference/interop.md section 1).

- `GET /cds-services`: discovery.
- `POST /cds-services/venalab-patient-view` (hook `patient-view`): a patient with venous
  duplex Observations gets cards: thrombosis and reflux interpretation, CEAP, and the
  guideline recommendation with its source label and link.
- `POST /cds-services/venalab-order-select` (hook `order-select`): an anticoagulant ordered for
  isolated distal DVT or calf muscle vein thrombosis gets the surveillance-versus-
  anticoagulation guidance of the engine's pathway.

Every call (discovery included) carries `Authorization: Bearer <JWT>` signed by a CDS client
whose issuer is on the allow-list; the signature is checked with the client's published keys
(JWKS URL, or an allow-listed `jku`), with `aud` = this endpoint's URL, `exp`, `iat` and a
`jti` that is never accepted twice. `none` and HMAC algorithms are refused. Prefetch: when
absent, the service fetches from the given FHIR server with the given authorization, or
answers 412 as the specification says. The cards come from the same engine as every other
interface (FHIR import -> exam document -> assess).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from venalab.citations import CITATIONS
from venalab.engine import assess
from venalab.errors import InvalidInput
from venalab.evidence import Recommendation
from venalab.result import Result
from venalab.rules.pathways import pathway_params
from venalab.rules.thrombosis import sentence

router = APIRouter(prefix="/cds-services", tags=["cds-hooks"])

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384")
ANTICOAGULANTS = (
    "rivaroxaban", "apixaban", "edoxaban", "dabigatran", "enoxaparin", "dalteparin",
    "tinzaparin", "nadroparin", "heparin", "fondaparinux", "warfarin", "acenocoumarol",
    "phenprocoumon",
)  # fmt: skip
OBSERVATION_QUERY = "Observation?patient={{context.patientId}}&_count=500"

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


@dataclass(frozen=True)
class CdsClient:
    """An allow-listed CDS client: its issuer and where its public keys are published."""

    iss: str
    jwks_url: str | None = None
    jku_allowed: tuple[str, ...] = ()


@dataclass
class CdsConfig:
    clients: dict[str, CdsClient] = field(default_factory=dict)
    jwks_ttl_s: float = 300.0
    _jwks: dict[str, tuple[float, jwt.PyJWKSet]] = field(default_factory=dict)
    _seen_jti: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_file(cls, path: Path | None) -> CdsConfig:
        """The clients listed in a JSON file (`VENALAB_CDS_CLIENTS`):
        `[{"iss": ..., "jwks_url": ..., "jku_allowed": [...]}]`; none when `path` is None."""
        if path is None:
            return cls()
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls.of(
            [
                CdsClient(
                    iss=c["iss"],
                    jwks_url=c.get("jwks_url"),
                    jku_allowed=tuple(c.get("jku_allowed", ())),
                )
                for c in raw
            ]
        )

    @classmethod
    def of(cls, clients: list[CdsClient]) -> CdsConfig:
        return cls(clients={c.iss: c for c in clients})

    def keys(self, url: str) -> jwt.PyJWKSet:
        now = time.monotonic()
        with self._lock:
            cached = self._jwks.get(url)
            if cached and now - cached[0] < self.jwks_ttl_s:
                return cached[1]
        response = httpx.get(url, timeout=5.0, follow_redirects=False)
        response.raise_for_status()
        keyset = jwt.PyJWKSet.from_dict(response.json())
        with self._lock:
            self._jwks[url] = (now, keyset)
        return keyset

    def first_use_of(self, jti: str, exp: float) -> bool:
        """Record a token id; False when it was seen before (replay)."""
        now = time.time()
        with self._lock:
            for old in [k for k, e in self._seen_jti.items() if e < now]:
                del self._seen_jti[old]
            if jti in self._seen_jti:
                return False
            self._seen_jti[jti] = exp
            return True


class CdsAuthError(Exception):
    pass


def verify_token(config: CdsConfig, authorization: str | None, audience: str) -> dict[str, Any]:
    """The verified JWT claims of a CDS client call, or CdsAuthError saying why not."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise CdsAuthError("missing bearer token")
    token = authorization[7:].strip()
    try:
        header = jwt.get_unverified_header(token)
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as e:
        raise CdsAuthError(f"malformed token: {e}") from None
    alg = header.get("alg")
    if alg not in ALLOWED_ALGORITHMS:
        raise CdsAuthError(f"algorithm {alg!r} is not accepted")
    client = config.clients.get(str(unverified.get("iss")))
    if client is None:
        raise CdsAuthError("issuer is not on the allow-list")
    jku = header.get("jku")
    if jku is not None and jku not in client.jku_allowed:
        raise CdsAuthError("jku is not on the issuer's allow-list")
    url = jku or client.jwks_url
    if url is None:
        raise CdsAuthError("no published keys for this issuer")
    try:
        keyset = config.keys(url)
        key = next((k for k in keyset.keys if k.key_id == header.get("kid")), None)
        if key is None:
            raise CdsAuthError("no published key matches the token's kid")
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=audience,
            issuer=client.iss,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            leeway=30,
        )
    except httpx.HTTPError as e:
        raise CdsAuthError(f"could not fetch the issuer's keys: {e}") from None
    except jwt.PyJWTError as e:
        raise CdsAuthError(f"token rejected: {e}") from None
    if not config.first_use_of(str(claims["jti"]), float(claims["exp"])):
        raise CdsAuthError("token already used (jti replay)")
    return claims


def _config(request: Request) -> CdsConfig:
    cfg: CdsConfig = request.app.state.cds
    return cfg


def _unauthorized(reason: str) -> JSONResponse:
    return JSONResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "login", "diagnostics": reason}],
        },
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def _outcome(status: int, code: str, text: str) -> JSONResponse:
    return JSONResponse(
        {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": code, "diagnostics": text}],
        },
        status_code=status,
    )


def _endpoint_url(request: Request) -> str:
    base: str | None = request.app.state.venalab.settings.cds_base_url
    if base:
        return base.rstrip("/") + request.url.path
    return str(request.url.replace(query=""))


@router.get("")
def discovery(request: Request) -> JSONResponse:  # sync: FastAPI runs it in a thread
    try:
        verify_token(_config(request), request.headers.get("authorization"), _endpoint_url(request))
    except CdsAuthError as e:
        return _unauthorized(str(e))
    return JSONResponse({"services": SERVICES})


# --------------------------------------------------------------------------- data gathering


def _entries(resource: Any) -> list[dict[str, Any]]:
    """Prefetch values are resources or Bundles (of a search); flatten to resources."""
    if not isinstance(resource, dict):
        return []
    if resource.get("resourceType") == "Bundle":
        return [
            e["resource"]
            for e in resource.get("entry", [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [resource]


def _fetch(fhir_server: str, auth: dict[str, Any] | None, path: str) -> Any:
    headers = {"Accept": "application/fhir+json"}
    if auth and auth.get("access_token"):
        headers["Authorization"] = f"{auth.get('token_type', 'Bearer')} {auth['access_token']}"
    response = httpx.get(f"{fhir_server.rstrip('/')}/{path}", headers=headers, timeout=10.0)
    response.raise_for_status()
    return response.json()


def _patient_resources(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Patient and Observations from prefetch, else from the FHIR server; None = cannot."""
    context = body.get("context") or {}
    patient_id = context.get("patientId")
    prefetch = body.get("prefetch") or {}
    if "patient" in prefetch and "observations" in prefetch:
        return _entries(prefetch["patient"]) + _entries(prefetch["observations"])
    server = body.get("fhirServer")
    if not server or not patient_id:
        return None
    auth = body.get("fhirAuthorization")
    return _entries(_fetch(server, auth, f"Patient/{patient_id}")) + _entries(
        _fetch(server, auth, f"Observation?patient={patient_id}&_count=500")
    )


def _interpret(resources: list[dict[str, Any]]) -> Result | None:
    """The engine's result for the duplex Observations, None when there are none."""
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
        cards.append(
            _card(
                f"{side.capitalize()} leg CEAP: {leg.ceap.basic}",
                f"Advanced: {leg.ceap.advanced}."
                + (
                    f"\n\nNot derivable: {'; '.join(leg.ceap.ambiguities)}"
                    if leg.ceap.ambiguities
                    else ""
                ),
                "info",
                list(leg.ceap.evidence.sources),
            )
        )
    for rec in result.recommendations[:3]:
        cards.append(_recommendation_card(rec))
    return cards


def _is_anticoagulant(resource: dict[str, Any]) -> bool:
    texts: list[str] = []
    med = resource.get("medicationCodeableConcept") or {}
    texts.append(str(med.get("text", "")))
    texts += [str(c.get("display", "")) for c in med.get("coding", []) if isinstance(c, dict)]
    blob = " ".join(texts).lower()
    return any(name in blob for name in ANTICOAGULANTS)


def order_cards(result: Result | None, body: dict[str, Any]) -> list[dict[str, Any]]:
    context = body.get("context") or {}
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
        _endpoint_url(request),
    )


def _answer(
    service_id: str, raw: bytes, config: CdsConfig, authorization: str | None, audience: str
) -> JSONResponse:
    try:
        verify_token(config, authorization, audience)
    except CdsAuthError as e:
        return _unauthorized(str(e))
    service = next((s for s in SERVICES if s["id"] == service_id), None)
    if service is None:
        return _outcome(404, "not-found", f"no CDS service {service_id!r}")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _outcome(400, "invalid", "request body is not JSON")
    if not isinstance(body, dict) or body.get("hook") != service["hook"]:
        return _outcome(400, "invalid", f"this service answers the {service['hook']!r} hook")
    if body.get("fhirAuthorization") and not body.get("fhirServer"):
        return _outcome(400, "invalid", "fhirAuthorization without fhirServer (cds-r-1)")
    try:
        resources = _patient_resources(body)
    except httpx.HTTPError as e:
        return _outcome(412, "not-found", f"prefetch missing and the FHIR server failed: {e}")
    if resources is None:
        return _outcome(412, "not-found", "prefetch data missing and no FHIR server to fetch it")
    result = _interpret(resources)
    if service["hook"] == "patient-view":
        cards = patient_cards(result) if result else []
    else:
        cards = order_cards(result, body)
    return JSONResponse({"cards": cards})
