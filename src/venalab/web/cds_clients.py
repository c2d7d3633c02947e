"""Who may call the CDS Hooks service, and the check of their signed tokens (CDS Hooks 2.0,
"Trusting CDS Clients"; shared/reference/interop.md section 1.1).

The clients file (`VENALAB_CDS_CLIENTS`) lists each allowed client:

    [{"iss": "https://ehr.example.org",
      "jwks_url": "https://ehr.example.org/.well-known/jwks.json",
      "jku_allowed": ["https://ehr.example.org/keys/2026.json"],
      "fhir_servers": ["https://ehr.example.org/fhir/r4"]}]

`fhir_servers` are the only FHIR base URLs the service fetches from for that client (and the
only places its access token is sent); a call naming another `fhirServer` is not fetched.
URLs are https; plain http only for loopback hosts (development, tests).

A token is accepted when: its algorithm is asymmetric (never `none` or HMAC), its issuer is
listed, its `kid` names a key the issuer publishes (`jwks_url`, or an allow-listed `jku`), the
signature verifies, `aud` is this service's endpoint under `VENALAB_CDS_BASE_URL` (never taken
from the request), `exp` is in the future, `iat` not in the future, `exp - iat` is at most 5
minutes, and its `jti` was never accepted before (kept in the database: store/cds_replay.py).
Published keys are cached per process for `jwks_ttl_s`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from venalab.bounded import decode_json, read_limited
from venalab.errors import InvalidInput, Problem, problems_from_validation
from venalab.limits import LIMITS

ALLOWED_ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS384")
MAX_LIFETIME_S = 300  # CDS Hooks 2.0: exp no more than 5 minutes after iat
LEEWAY_S = 30
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

#: Records a token id: (iss, jti, expires at epoch seconds) -> False when seen before.
FirstUse = Callable[[str, str, float], bool]


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a key or FHIR base URL, or None: absolute https (http for
    loopback), no user info, query or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "give an absolute https:// URL"
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK:
        return "plain http is only accepted for loopback hosts; use https"
    if parts.username or parts.password or parts.query or parts.fragment:
        return "no user info, query or fragment"
    return None


def normalize_base(url: str) -> str:
    return url.strip().rstrip("/")


class _ClientEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    iss: Annotated[str, Field(min_length=1, max_length=255)]
    jwks_url: str | None = None
    jku_allowed: list[str] = []
    fhir_servers: list[str] = []


@dataclass(frozen=True)
class CdsClient:
    """An allow-listed CDS client: its issuer, where its keys are published, and the FHIR
    servers the service may fetch from (with the client's access token) on its behalf."""

    iss: str
    jwks_url: str | None = None
    jku_allowed: tuple[str, ...] = ()
    fhir_servers: tuple[str, ...] = ()

    def allows_fhir_server(self, url: str) -> bool:
        return normalize_base(url) in {normalize_base(u) for u in self.fhir_servers}


@dataclass
class CdsConfig:
    clients: dict[str, CdsClient] = field(default_factory=dict)
    jwks_ttl_s: float = 300.0
    _jwks: dict[str, tuple[float, jwt.PyJWKSet]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_file(cls, path: Path | None) -> CdsConfig:
        """The clients listed in a JSON file (module docstring); none when `path` is None.
        InvalidInput names the entry and field that is wrong."""
        if path is None:
            return cls()
        what = "CDS clients file"
        raw = decode_json(read_limited(path, what=what), what, name=path.name)
        if not isinstance(raw, list):
            raise InvalidInput([Problem("", "expected a JSON list of clients")], what)
        clients, problems = [], []
        for i, item in enumerate(raw):
            try:
                entry = _ClientEntry.model_validate(item)
            except ValidationError as err:
                problems += [
                    Problem(f"[{i}].{p.path}", p.message) for p in problems_from_validation(err)
                ]
                continue
            urls = [("jwks_url", entry.jwks_url)] if entry.jwks_url else []
            urls += [(f"jku_allowed[{j}]", u) for j, u in enumerate(entry.jku_allowed)]
            urls += [(f"fhir_servers[{j}]", u) for j, u in enumerate(entry.fhir_servers)]
            problems += [Problem(f"[{i}].{k}", m) for k, u in urls if (m := url_problem(u))]
            clients.append(
                CdsClient(
                    iss=entry.iss,
                    jwks_url=entry.jwks_url,
                    jku_allowed=tuple(entry.jku_allowed),
                    fhir_servers=tuple(normalize_base(u) for u in entry.fhir_servers),
                )
            )
        if problems:
            raise InvalidInput(problems, what)
        return cls.of(clients)

    @classmethod
    def of(cls, clients: list[CdsClient]) -> CdsConfig:
        return cls(clients={c.iss: c for c in clients})

    def keys(self, url: str) -> jwt.PyJWKSet:
        """The key set published at `url` (a configured URL), cached; CdsAuthError when it
        cannot be read (the message does not repeat what the fetch saw)."""
        now = time.monotonic()
        with self._lock:
            cached = self._jwks.get(url)
            if cached and now - cached[0] < self.jwks_ttl_s:
                return cached[1]
        try:
            with httpx.stream("GET", url, timeout=5.0, follow_redirects=False) as response:
                if response.status_code != 200:
                    raise CdsAuthError("the issuer's published keys could not be read")
                body = bounded_body(response)
            keyset = jwt.PyJWKSet.from_dict(decode_json(body, "key set"))
        except (httpx.HTTPError, InvalidInput, jwt.PyJWTError, ValueError, TypeError):
            raise CdsAuthError("the issuer's published keys could not be read") from None
        with self._lock:
            self._jwks[url] = (now, keyset)
        return keyset


class CdsAuthError(Exception):
    pass


def bounded_body(response: httpx.Response, limit: int | None = None) -> bytes:
    """A streamed response's body, at most `limit` bytes (default LIMITS.body_bytes);
    ValueError when it is longer."""
    limit = LIMITS.body_bytes if limit is None else limit
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise ValueError("response larger than the input limit")
        chunks.append(chunk)
    return b"".join(chunks)


def verify_token(
    config: CdsConfig, authorization: str | None, audience: str, first_use: FirstUse
) -> dict[str, Any]:
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
        raise CdsAuthError(f"algorithm {str(alg)[:20]!r} is not accepted")
    client = config.clients.get(str(unverified.get("iss")))
    if client is None:
        raise CdsAuthError("issuer is not on the allow-list")
    jku = header.get("jku")
    if jku is not None and jku not in client.jku_allowed:
        raise CdsAuthError("jku is not on the issuer's allow-list")
    url = jku or client.jwks_url
    if url is None:
        raise CdsAuthError("no published keys for this issuer")
    keyset = config.keys(url)
    key = next((k for k in keyset.keys if k.key_id == header.get("kid")), None)
    if key is None:
        raise CdsAuthError("no published key matches the token's kid")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            audience=audience,
            issuer=client.iss,
            options={"require": ["iss", "aud", "exp", "iat", "jti"]},
            leeway=LEEWAY_S,
        )
    except jwt.PyJWTError as e:
        raise CdsAuthError(f"token rejected: {e}") from None
    _check_times_and_id(claims)
    if not first_use(client.iss, str(claims["jti"]), float(claims["exp"]) + LEEWAY_S):
        raise CdsAuthError("token already used (jti replay)")
    return claims


def _check_times_and_id(claims: dict[str, Any]) -> None:
    exp, iat, jti = claims["exp"], claims["iat"], claims["jti"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        raise CdsAuthError("exp and iat must be numbers (seconds since the epoch)")
    if iat > time.time() + LEEWAY_S:
        raise CdsAuthError("iat is in the future")
    if exp - iat > MAX_LIFETIME_S:
        raise CdsAuthError(
            f"token lifetime (exp - iat) is {exp - iat:g} s; CDS Hooks allows at most "
            f"{MAX_LIFETIME_S} s"
        )
    if not isinstance(jti, str) or not 1 <= len(jti) <= 255:
        raise CdsAuthError("jti must be a string of 1 to 255 characters")
