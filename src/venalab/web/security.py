"""Session cookies, CSRF, the secret key, safe redirects and the security headers of responses.

- The session lives in the database (`store/users.py`, table `user_sessions`): the cookie
  carries its random id, sealed with an HMAC-SHA256 under the secret key so that forged or
  garbled cookies are refused without a database query. The cookie is HttpOnly,
  SameSite=Lax, and Secure when the request came over TLS (directly or, per
  `X-Forwarded-Proto`, through a trusted proxy) or VENALAB_SECURE_COOKIES is set.
- Forms carry the session's CSRF token in a hidden field, scripts send it as `X-CSRF-Token`;
  bearer-token API calls need none (browsers never attach bearer tokens on their own).
- Every response gets a strict Content-Security-Policy (no inline script or style, nothing
  from other origins, no framing, no plugins, no <base>, forms post only here) and, except
  static files, `Cache-Control: no-store` (pages and API answers carry patient data).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders

SESSION_COOKIE = "venalab_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"

# Pages: scripts and styles only from /static; pictures from here or inline SVG/data URLs
# (the venous map and the trend chart are inline SVG, styled by attributes only).
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
NO_STORE = "no-store"
HSTS = "max-age=31536000"
_REPORT_STYLE = re.compile(rb"<head>.*?<style>(.*?)</style>.*?</head>", re.DOTALL)


def report_csp(html: bytes) -> str:
    """CSP of a served report: a self-contained document whose one stylesheet sits in a
    <style> element in its <head> (it is also saved as a file), allowed by its SHA-256, not by
    'unsafe-inline'; no script at all."""
    match = _REPORT_STYLE.search(html)
    style = (
        "'sha256-" + base64.b64encode(hashlib.sha256(match.group(1)).digest()).decode() + "'"
        if match
        else "'none'"
    )
    return (
        f"default-src 'none'; style-src {style}; img-src 'self' data:; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    )


def add_security_headers(headers: MutableHeaders, *, path: str, tls: bool) -> None:
    """The headers every response carries (a route may set its own CSP first)."""
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
    if not path.startswith("/static/"):
        headers["Cache-Control"] = NO_STORE
    if tls:
        headers.setdefault("Strict-Transport-Security", HSTS)


def load_secret_key(configured: str | None, var_dir: Path) -> bytes:
    """The configured key (VENALAB_SECRET_KEY), else a random key kept in var/secret_key.

    Created 0600 once and shared by every worker and restart on this host. Several workers
    may start at once: the key is written to a private temporary file and hard-linked into
    place, so exactly one key wins and nobody reads a half-written file.
    """
    if configured:
        return configured.encode()
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = var_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_hex(32).encode())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass  # another worker was first: use its key
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


class SessionSigner:
    """Seals a session id into a cookie value and opens it again (HMAC-SHA256)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, session_id: str) -> str:
        digest = hmac.new(self._key, session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def seal(self, session_id: str) -> str:
        return f"{session_id}.{self._mac(session_id)}"

    def open(self, cookie: str | None) -> str | None:
        """The session id in a cookie, or None if absent, forged or malformed."""
        if not cookie or len(cookie) > 200 or "." not in cookie:
            return None
        session_id, mac = cookie.rsplit(".", 1)
        if not session_id or not hmac.compare_digest(mac, self._mac(session_id)):
            return None
        return session_id


@dataclass(frozen=True, slots=True)
class WebSession:
    """The signed-in browser session of a request (a row of `user_sessions`)."""

    row_id: int
    csrf: str


def csrf_ok(session: WebSession | None, supplied: str | None) -> bool:
    return bool(session and supplied and hmac.compare_digest(session.csrf, supplied))


_CONTROL = re.compile(r"[\x00-\x20\x7f\\]")


def safe_next(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site, else `default` (no open redirect).

    Refused: anything with a scheme or host, protocol-relative `//host`, backslashes (browsers
    read `/\\host` as `//host`), spaces and control characters (browsers drop tabs and
    newlines inside URLs, so `/\\t/host` would become `//host`).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if _CONTROL.search(target) or len(target) > 2000:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target
