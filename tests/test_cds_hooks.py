"""CDS Hooks 2.0 service end to end over loopback: signed client JWTs (ES384) verified with keys
published by a real HTTP server, prefetch and FHIR-server fetch, cards from the engine."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec

from helpers import EXAMPLES, leg, make_exam
from venalab.engine import assess
from venalab.exam import load_exam
from venalab.interop.fhir_export import export_bundle
from venalab.web.app import create_app
from venalab.web.cds import CdsClient, CdsConfig
from venalab.web.settings import Settings

ISSUER = "https://ehr.test.invalid"
#: The service's public URL (as behind a reverse proxy): token audiences name it, whatever
#: address the request reached.
PUBLIC_BASE = "https://cds.venalab.test.invalid"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Published:
    """A loopback HTTP server publishing the client's JWKS and a tiny FHIR server."""

    def __init__(self, jwks: dict[str, Any], resources: list[dict[str, Any]]) -> None:
        self.jwks, self.resources, self.requests = jwks, resources, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append((self.path, self.headers.get("Authorization")))
                if self.path.startswith("/fhir-text/"):
                    data = b"<html>internal admin console</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if self.path.startswith("/fhir-redirect/"):
                    self.send_response(302)
                    self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/jwks.json":
                    body: Any = outer.jwks
                elif self.path.startswith("/fhir/Patient/"):
                    body = next(r for r in outer.resources if r["resourceType"] == "Patient")
                elif self.path.startswith("/fhir/Observation?"):
                    body = {
                        "resourceType": "Bundle",
                        "type": "searchset",
                        "entry": [
                            {"resource": r}
                            for r in outer.resources
                            if r["resourceType"] == "Observation"
                        ],
                    }
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


class Env:
    def __init__(self, tmp: Path) -> None:
        self.key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": "k1", "use": "sig", "alg": "ES384"})
        exam = load_exam(EXAMPLES / "calf-dvt.json")
        bundle = export_bundle(exam, assess(exam))
        self.resources = [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] in ("Patient", "Observation")
        ]
        self.patient_id = next(r["id"] for r in self.resources if r["resourceType"] == "Patient")
        self.published = _Published({"keys": [jwk]}, self.resources)
        self.fhir_base = f"{self.published.base}/fhir"
        self.config = CdsConfig.of(
            [
                CdsClient(
                    iss=ISSUER,
                    jwks_url=f"{self.published.base}/jwks.json",
                    fhir_servers=(
                        self.fhir_base,
                        f"{self.published.base}/fhir-text",
                        f"{self.published.base}/fhir-redirect",
                        f"http://127.0.0.1:{_free_port()}/fhir",  # nothing listens there
                    ),
                )
            ]
        )
        self.db_url = f"sqlite:///{tmp / 'cds.db'}"
        self.tmp = tmp
        self.server, self.port = self.start_server()
        self.base = f"http://127.0.0.1:{self.port}/cds-services"

    def start_server(self) -> tuple[uvicorn.Server, int]:
        """One more server process-alike on the same database (a second worker)."""
        settings = Settings(database_url=self.db_url, var_dir=self.tmp, cds_base_url=PUBLIC_BASE)
        app = create_app(settings=settings, cds_config=self.config)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        deadline = time.time() + 20
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        return server, port

    def token(self, aud: str, **override: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": aud,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
            **override,
        }
        return jwt.encode(claims, self.key, algorithm="ES384", headers={"kid": "k1", "typ": "JWT"})

    def audience(self, service: str) -> str:
        return f"{PUBLIC_BASE}/cds-services" + (f"/{service}" if service else "")

    def call(
        self,
        service: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        base: str | None = None,
    ) -> httpx.Response:
        base = base or self.base
        url = f"{base}/{service}" if service else base
        headers = {"Authorization": f"Bearer {token or self.token(self.audience(service))}"}
        if body is None:
            return httpx.get(url, headers=headers, timeout=30)
        return httpx.post(url, json=body, headers=headers, timeout=30)

    def prefetch(self) -> dict[str, Any]:
        patient = next(r for r in self.resources if r["resourceType"] == "Patient")
        return {
            "patient": patient,
            "observations": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [
                    {"resource": r} for r in self.resources if r["resourceType"] == "Observation"
                ],
            },
        }


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    e = Env(tmp_path_factory.mktemp("cds"))
    yield e
    e.server.should_exit = True
    e.published.server.shutdown()


def _patient_view(env: Env, **extra: Any) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": env.patient_id},
        **extra,
    }


def test_discovery_requires_and_accepts_a_signed_token(env: Env) -> None:
    r = env.call("")
    assert r.status_code == 200
    ids = {s["id"]: s for s in r.json()["services"]}
    assert ids["venalab-patient-view"]["hook"] == "patient-view"
    assert ids["venalab-order-select"]["prefetch"]["patient"] == "Patient/{{context.patientId}}"
    assert httpx.get(env.base, timeout=10).status_code == 401


def test_patient_view_cards_from_prefetch(env: Env) -> None:
    r = env.call("venalab-patient-view", _patient_view(env, prefetch=env.prefetch()))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    dvt = next(c for c in cards if "Isolated distal deep vein thrombosis" in c["summary"])
    assert dvt["indicator"] == "warning" and "PRV" in dvt["summary"]
    assert dvt["source"]["label"].startswith("venalab")
    assert any(c["summary"].startswith("Right leg CEAP") for c in cards)
    recs = [c for c in cards if "url" in c["source"]]
    assert recs and all(c["source"]["url"].startswith("https://") for c in recs)
    for c in cards:
        assert len(c["summary"]) < 140 and c["indicator"] in ("info", "warning", "critical")


def test_missing_prefetch_fetches_from_the_fhir_server(env: Env) -> None:
    body = _patient_view(
        env,
        fhirServer=env.fhir_base,
        fhirAuthorization={
            "access_token": "abc",
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds",
        },
    )
    r = env.call("venalab-patient-view", body)
    assert r.status_code == 200 and any(
        "deep vein thrombosis" in c["summary"] for c in r.json()["cards"]
    )
    assert ("/fhir/Patient/" + env.patient_id, "Bearer abc") in env.published.requests
    r = env.call("venalab-patient-view", _patient_view(env))
    assert r.status_code == 412  # no prefetch and no server: as the specification says


def test_order_select_anticoagulant_for_calf_dvt(env: Env) -> None:
    order = {
        "resourceType": "MedicationRequest",
        "id": "rx1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{env.patient_id}"},
        "medicationCodeableConcept": {"text": "Rivaroxaban 15 mg tablet"},
    }
    body = {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": env.patient_id,
            "selections": ["MedicationRequest/rx1"],
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order}],
            },
        },
        "prefetch": env.prefetch(),
    }
    r = env.call("venalab-order-select", body)
    assert r.status_code == 200
    cards = r.json()["cards"]
    assert len(cards) == 1 and "serial imaging" in cards[0]["summary"]
    assert "3 months" in cards[0]["detail"]
    order["medicationCodeableConcept"] = {"text": "Paracetamol 500 mg"}
    assert env.call("venalab-order-select", body).json()["cards"] == []


def test_bad_tokens_get_401(env: Env) -> None:
    url = env.audience("venalab-patient-view")
    body = _patient_view(env, prefetch=env.prefetch())
    good = env.token(url)
    head, payload, sig = good.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["iss"] = ISSUER  # same claims, one changed below: signature no longer matches
    claims["exp"] += 3600
    tampered = ".".join(
        [head, jwt.utils.base64url_encode(json.dumps(claims).encode()).decode(), sig]
    )
    other_key = ec.generate_private_key(ec.SECP384R1())
    cases = {
        "tampered": tampered,
        "expired": env.token(url, exp=int(time.time()) - 120, iat=int(time.time()) - 600),
        "wrong audience": env.token(env.audience("venalab-order-select")),
        "unknown issuer": env.token(url, iss="https://evil.invalid"),
        "foreign key": jwt.encode(
            {
                "iss": ISSUER,
                "aud": url,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "jti": "x1",
            },
            other_key,
            algorithm="ES384",
            headers={"kid": "k1"},
        ),
        "hmac": jwt.encode(
            {
                "iss": ISSUER,
                "aud": url,
                "iat": int(time.time()),
                "exp": int(time.time()) + 60,
                "jti": "x2",
            },
            "secret" * 6,
            algorithm="HS256",
            headers={"kid": "k1"},
        ),
        "no jti": jwt.encode(
            {"iss": ISSUER, "aud": url, "iat": int(time.time()), "exp": int(time.time()) + 60},
            env.key,
            algorithm="ES384",
            headers={"kid": "k1"},
        ),
    }
    for name, token in cases.items():
        r = env.call("venalab-patient-view", body, token=token)
        assert r.status_code == 401, name
        assert r.json()["resourceType"] == "OperationOutcome"
    assert env.call("venalab-patient-view", body, token=good).status_code == 200
    replay = env.call("venalab-patient-view", body, token=good)
    assert replay.status_code == 401 and "replay" in replay.text


ANTICOAGULANT_ORDER: dict[str, Any] = {
    "context": {
        "draftOrders": {
            "resourceType": "Bundle",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "id": "rx1",
                        "medicationCodeableConcept": {"text": "Apixaban 5 mg"},
                    }
                }
            ],
        }
    }
}


def test_order_card_prints_the_pathway_parameters_the_engine_ran_with() -> None:
    from venalab.result import EngineOptions
    from venalab.web.cds import order_cards

    exam = load_exam(EXAMPLES / "calf-dvt.json")
    default = order_cards(assess(exam), ANTICOAGULANT_ORDER["context"])
    assert len(default) == 1
    assert "for 2 weeks" in default[0]["detail"] and "for 3 months" in default[0]["detail"]
    configured = assess(
        exam,
        options=EngineOptions(
            pathways={"iddvt": {"serial_imaging_weeks": 3, "anticoagulation_months": 6}}
        ),
    )
    (card,) = order_cards(configured, ANTICOAGULANT_ORDER["context"])
    assert "for 3 weeks" in card["detail"] and "for 6 months" in card["detail"]
    assert "2 weeks" not in card["detail"] and "3 months" not in card["detail"]


def test_thrombosis_card_indicator_follows_the_finding_importance() -> None:
    from venalab.web.cds import patient_cards

    result = assess(load_exam(EXAMPLES / "calf-dvt.json"))
    (leg_side,) = [s for s in ("left", "right") if (lr := result.leg(s)) and lr.thrombosis.deep]
    t = result.leg(leg_side).thrombosis  # type: ignore[union-attr]
    finding = next(
        f for f in result.findings if f.id == f"thrombosis.{t.classification}.{leg_side}"
    )
    card = next(c for c in patient_cards(result) if t.label in c["summary"].lower())
    assert card["indicator"] == {1: "critical", 2: "warning"}.get(finding.importance, "info")
    assert card["summary"].startswith(f"{leg_side.capitalize()} leg: Isolated distal deep vein")


def test_critical_results_give_critical_cards_first() -> None:
    # Issue 18: the card indicator of a critical result is `critical`, from the engine's mark.
    from venalab.web.cds import patient_cards

    svt = {
        "vein": "GSVa",
        "compressibility": "none",
        "thrombus": {"age": "acute", "length_cm": 8, "distance_to_junction_cm": 2.0},
    }
    fv = {"vein": "FV", "compressibility": "none", "thrombus": {"age": "acute"}}
    result = assess(make_exam(left=leg(svt), right=leg(fv)))
    assert [c.criterion for c in result.critical] == ["svt-near-junction", "proximal-dvt"]
    cards = patient_cards(result)
    assert [c["indicator"] for c in cards[:2]] == ["critical", "critical"]
    assert "superficial vein thrombosis" in cards[0]["summary"] and cards[0]["detail"]
    dvt = next(c for c in cards[2:] if "Proximal" in c["summary"] or "proximal" in c["summary"])
    assert dvt["indicator"] == "critical"
    assert all(
        c["indicator"] != "critical"
        for c in patient_cards(assess(load_exam(EXAMPLES / "calf-dvt.json")))
    )


# --------------------------------------------------------------------------- security (issue 13)


@pytest.fixture
def internal() -> Iterator[_Published]:
    """A server the CDS service must never be made to call (an internal host)."""
    server = _Published({"keys": []}, [])
    yield server
    server.server.shutdown()


def test_fhir_server_not_on_the_clients_list_is_never_fetched(
    env: Env, internal: _Published
) -> None:
    for server in (
        f"{internal.base}/fhir",
        f"{env.published.base}/fhir/../fhir-text",
        "http://127.0.0.1:1/fhir",
    ):
        body = _patient_view(
            env,
            fhirServer=server,
            fhirAuthorization={
                "access_token": "secret-abc",
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "cds",
            },
        )
        r = env.call("venalab-patient-view", body)
        assert r.status_code == 412, r.text
        assert "not a FHIR server configured for this client" in r.text
    assert internal.requests == []  # not fetched, and the token went nowhere
    assert not any(auth == "Bearer secret-abc" for _, auth in env.published.requests)


def test_a_failing_fhir_server_gets_one_412_that_reveals_nothing(env: Env) -> None:
    texts = set()
    for server in env.config.clients[ISSUER].fhir_servers[1:]:  # html, redirect, closed port
        r = env.call("venalab-patient-view", _patient_view(env, fhirServer=server))
        assert r.status_code == 412, (server, r.text)
        texts.add(r.json()["issue"][0]["diagnostics"])
    assert texts == {"prefetch data missing and the FHIR server did not provide it"}


@pytest.mark.parametrize("patient_id", ["../../x", "a/b", "x?_count=1", "a" * 65, "", "\u00e9"])
def test_patient_id_must_be_a_fhir_id(env: Env, patient_id: str) -> None:
    body = _patient_view(env, fhirServer=env.fhir_base)
    body["context"]["patientId"] = patient_id
    before = len(env.published.requests)
    r = env.call("venalab-patient-view", body)
    assert r.status_code == 400 and "context.patientId" in r.text
    assert len(env.published.requests) == before  # no FHIR query (keys are cached)


def test_audience_is_the_configured_url_not_the_host_header(env: Env) -> None:
    body = _patient_view(env, prefetch=env.prefetch())
    direct = f"{env.base}/venalab-patient-view"  # the address the request really reached
    r = env.call("venalab-patient-view", body, token=env.token(direct))
    assert r.status_code == 401 and "audience" in r.text.lower()
    spoofed = "http://attacker.invalid/cds-services/venalab-patient-view"
    r = httpx.post(
        direct,
        json=body,
        headers={"Authorization": f"Bearer {env.token(spoofed)}", "Host": "attacker.invalid"},
        timeout=30,
    )
    assert r.status_code == 401


def test_tokens_living_longer_than_five_minutes_are_refused(env: Env) -> None:
    aud = env.audience("venalab-patient-view")
    body = _patient_view(env, prefetch=env.prefetch())
    now = int(time.time())
    year = env.token(aud, iat=now, exp=now + 365 * 86400)
    r = env.call("venalab-patient-view", body, token=year)
    assert r.status_code == 401 and "at most 300 s" in r.text
    assert (
        env.call("venalab-patient-view", body, token=env.token(aud, exp=now + 300)).status_code
        == 200
    )
    future = env.token(aud, iat=now + 3600, exp=now + 3700)
    assert env.call("venalab-patient-view", body, token=future).status_code == 401


def test_a_token_is_accepted_once_across_workers(env: Env) -> None:
    second, port = env.start_server()  # another worker on the same database
    try:
        body = _patient_view(env, prefetch=env.prefetch())
        token = env.token(env.audience("venalab-patient-view"))
        other = f"http://127.0.0.1:{port}/cds-services"
        assert env.call("venalab-patient-view", body, token=token, base=other).status_code == 200
        replay = env.call("venalab-patient-view", body, token=token)
        assert replay.status_code == 401 and "replay" in replay.text
    finally:
        second.should_exit = True


MALFORMED: dict[str, Any] = {
    "not json": b"{not json",
    "a list": [],
    "deep": None,  # filled in below
    "context a string": {"hook": "patient-view", "hookInstance": "1", "context": "x"},
    "prefetch a list": {
        "hook": "patient-view",
        "hookInstance": "1",
        "context": {"patientId": "p1"},
        "prefetch": [],
    },
    "prefetch values strings": {
        "hook": "patient-view",
        "hookInstance": "1",
        "context": {"patientId": "p1"},
        "prefetch": {"patient": "x", "observations": "y"},
    },
    "fhirAuthorization a string": {
        "hook": "patient-view",
        "hookInstance": "1",
        "context": {"patientId": "p1"},
        "fhirServer": "https://x.invalid",
        "fhirAuthorization": "abc",
    },
    "token with a line break": {
        "hook": "patient-view",
        "hookInstance": "1",
        "context": {"patientId": "p1"},
        "fhirServer": "https://x.invalid",
        "fhirAuthorization": {"access_token": "a\r\nX-Evil: 1", "token_type": "Bearer"},
    },
    "no hookInstance": {"hook": "patient-view", "context": {"patientId": "p1"}},
    "huge number": None,
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_bodies_get_a_4xx(env: Env, name: str) -> None:
    url = f"{env.base}/venalab-patient-view"
    body = MALFORMED[name]
    if name == "deep":
        data = ('{"hook": "patient-view", "x": ' + "[" * 5000 + "]" * 5000 + "}").encode()
    elif name == "huge number":
        data = ('{"hook": "patient-view", "x": ' + "9" * 5000 + "}").encode()
    else:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
    token = env.token(env.audience("venalab-patient-view"))
    r = httpx.post(
        url,
        content=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert 400 <= r.status_code < 500, (name, r.status_code, r.text)
    assert r.json()["resourceType"] == "OperationOutcome"


def test_order_select_with_odd_orders_is_not_a_server_error(env: Env) -> None:
    body = {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": env.patient_id,
            "selections": ["MedicationRequest/rx1"],
            "draftOrders": {
                "resourceType": "Bundle",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "MedicationRequest",
                            "id": "rx1",
                            "medicationCodeableConcept": "rivaroxaban",
                        }
                    },
                    5,
                    {"resource": []},
                ],
            },
        },
        "prefetch": env.prefetch(),
    }
    r = env.call("venalab-order-select", body)
    assert r.status_code == 200 and r.json()["cards"] == []


def test_cds_clients_need_the_base_url(tmp_path: Path) -> None:
    from venalab.errors import InvalidInput

    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps([{"iss": ISSUER, "jwks_url": "https://ehr.test.invalid/k.json"}]))
    with pytest.raises(InvalidInput) as err:
        Settings.from_env({"VENALAB_CDS_CLIENTS": str(clients), "VENALAB_VAR": str(tmp_path)})
    assert err.value.problems[0].path == "VENALAB_CDS_BASE_URL"
    config = CdsConfig.from_file(clients)
    with pytest.raises(InvalidInput, match="VENALAB_CDS_BASE_URL"):
        create_app(
            settings=Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", var_dir=tmp_path),
            cds_config=config,
        )
    clients.write_text(json.dumps([{"iss": ISSUER, "fhir_servers": ["http://fhir.internal/r4"]}]))
    with pytest.raises(InvalidInput) as bad:
        CdsConfig.from_file(clients)
    assert (
        bad.value.problems[0].path == "[0].fhir_servers[0]"
        and "https" in bad.value.problems[0].message
    )


def test_serve_refuses_to_start_without_the_base_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from venalab.cli import app

    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps([{"iss": ISSUER, "jwks_url": "https://ehr.test.invalid/k"}]))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 's.db'}")
    monkeypatch.setenv("VENALAB_VAR", str(tmp_path))
    monkeypatch.setenv("VENALAB_CDS_CLIENTS", str(clients))
    monkeypatch.delenv("VENALAB_CDS_BASE_URL", raising=False)
    res = CliRunner().invoke(app, ["serve", "--no-examples"])
    assert res.exit_code == 2 and "VENALAB_CDS_BASE_URL" in res.stderr
    assert "one-time password" not in res.output  # stopped before anything else
