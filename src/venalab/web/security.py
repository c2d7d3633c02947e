"""Sessions, CSRF and the secret key.

The session is a signed cookie (HMAC-SHA256 over a small JSON payload: user id, issue time,
CSRF token), HttpOnly and SameSite=Lax; the user is re-read from the database on every
request, so disabling an account ends its sessions at once. Forms carry the CSRF token in a
hidden field and scripts send it as `X-CSRF-Token`; bearer-token API calls need no CSRF token
because browsers never attach them on their own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

SESSION_COOKIE = "venalab_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SESSION_MAX_AGE_S = 8 * 3600


def load_secret_key(configured: str | None, var_dir: Path) -> bytes:
    """The configured key (VENALAB_SECRET_KEY), else a random key kept in var/secret_key
    (created 0600 once, so every worker and restart on this host shares it)."""
    if configured:
        return configured.encode()
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_bytes().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    # Written under a temporary name, then linked into place: a process starting at the same
    # moment either creates the key or reads the complete one, never an empty file.
    tmp = var_dir / f".secret_key.{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_bytes().strip()  # another process won the race: use its key
    finally:
        tmp.unlink()
    return key


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Session:
    user_id: int
    issued_at: int
    csrf: str


class SessionSigner:
    def __init__(self, key: bytes, max_age_s: int = SESSION_MAX_AGE_S) -> None:
        self._key = key
        self.max_age_s = max_age_s

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, user_id: int) -> tuple[str, Session]:
        session = Session(
            user_id=user_id, issued_at=int(time.time()), csrf=secrets.token_urlsafe(24)
        )
        payload = _b64(
            json.dumps({"u": user_id, "t": session.issued_at, "c": session.csrf}).encode()
        )
        return f"{payload}.{self._sign(payload)}", session

    def read(self, cookie: str | None) -> Session | None:
        """The session in a cookie, or None if absent, forged, malformed or expired."""
        if not cookie or "." not in cookie:
            return None
        payload, signature = cookie.rsplit(".", 1)
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            session = Session(user_id=int(data["u"]), issued_at=int(data["t"]), csrf=str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        if time.time() - session.issued_at > self.max_age_s:
            return None
        return session


def csrf_ok(session: Session | None, supplied: str | None) -> bool:
    return bool(session and supplied and hmac.compare_digest(session.csrf, supplied))
