"""A short-lived, per-worker cache of checked bearer tokens (issue 14: no database lookup of
the token on every API call).

What it holds: for a token's SHA-256, its id, expiry and a detached copy of its owner, for at
most VENALAB_TOKEN_CACHE_SECONDS (default 10; 0 turns the cache off). A hit is merged into
the request's database session without a query (`Session.merge(load=False)`).

How revocation reaches it (revoking a token, disabling a user):
- in the worker that made the change, the cache is emptied as soon as the change commits;
- the change also rewrites the file `auth-changed` in VENALAB_VAR; every worker checks that
  file's identity (one `stat`) on each lookup and empties its cache when it changed, so every
  worker on the same host, and `venalab user ...` commands run with the same VENALAB_VAR,
  take effect at once;
- a worker on another host (or with another VENALAB_VAR) may accept a revoked token for at
  most VENALAB_TOKEN_CACHE_SECONDS more. Set 0 there if that is too long.
Expiry is checked on every hit. Sessions are not cached: every request reads them.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached

from venalab.store.models import User, utcnow

SIGNAL_FILE = "auth-changed"
MAX_ENTRIES = 10_000
_FileId = tuple[int, int, int] | None


@dataclass(frozen=True, slots=True)
class CachedToken:
    token_id: int
    expires_at: dt.datetime
    user: User  # detached snapshot; merge it into a session before use
    stored_at: float


def _detached_copy(user: User) -> User:
    columns = {attr.key: getattr(user, attr.key) for attr in inspect(User).column_attrs}
    copy = User(**columns)
    make_transient_to_detached(copy)
    return copy


def signal_auth_change(var_dir: Path) -> None:
    """Tell every worker sharing `var_dir` to forget the tokens it checked (atomic replace:
    a new file, so its identity changes even within one clock tick)."""
    var_dir.mkdir(parents=True, exist_ok=True)
    tmp = var_dir / f".{SIGNAL_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    tmp.write_text(secrets.token_hex(8))
    os.replace(tmp, var_dir / SIGNAL_FILE)


class TokenCache:
    def __init__(self, ttl_s: float, var_dir: Path | None) -> None:
        self.ttl_s = ttl_s
        self._signal = var_dir / SIGNAL_FILE if var_dir is not None else None
        self._entries: dict[str, CachedToken] = {}
        self._lock = threading.Lock()
        self.clock = time.monotonic  # tests move it forward
        self._seen: _FileId = self._file_id()

    def _file_id(self) -> _FileId:
        if self._signal is None:
            return None
        try:
            st = os.stat(self._signal)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def _check_signal(self) -> None:
        current = self._file_id()
        if current != self._seen:
            with self._lock:
                self._entries.clear()
                self._seen = current

    def get(self, s: Session, token_hash: str) -> tuple[int, User] | None:
        """(token id, owner merged into `s`) for a fresh entry, else None (look it up)."""
        if self.ttl_s <= 0:
            return None
        self._check_signal()
        entry = self._entries.get(token_hash)
        if entry is None:
            return None
        if self.clock() - entry.stored_at > self.ttl_s or entry.expires_at <= utcnow():
            with self._lock:
                self._entries.pop(token_hash, None)
            return None
        return entry.token_id, s.merge(entry.user, load=False)

    def put(self, token_hash: str, token_id: int, expires_at: dt.datetime, user: User) -> None:
        if self.ttl_s <= 0:
            return
        entry = CachedToken(token_id, expires_at, _detached_copy(user), self.clock())
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[token_hash] = entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def invalidate_after_commit(self, s: Session) -> None:
        """Once `s` commits (revocation, disabled user): empty this cache and signal the other
        workers. After, not before: a worker that re-read the token while the change was not
        yet committed would cache it as valid again."""

        def done(_session: Session) -> None:
            self.clear()
            if self._signal is not None:
                signal_auth_change(self._signal.parent)

        event.listen(s, "after_commit", done, once=True)
