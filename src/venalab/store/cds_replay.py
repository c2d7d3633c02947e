"""CDS Hooks client token ids (`jti`) already accepted, kept in the database until the token
expires, so a token is accepted once whichever worker process or host receives it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from venalab.store.db import transaction
from venalab.store.models import CdsTokenUse, utcnow


def first_use(s: Session, iss: str, jti: str, expires_at: dt.datetime) -> bool:
    """Record (iss, jti) until `expires_at`; False when it was recorded before (a replay).
    Expired records are dropped on the way. Commits nothing: the caller's transaction does."""
    s.execute(
        delete(CdsTokenUse)
        .where(CdsTokenUse.expires_at < utcnow())
        .execution_options(synchronize_session=False)
    )
    s.add(CdsTokenUse(iss=iss, jti=jti, expires_at=expires_at))
    try:
        s.flush()
    except IntegrityError:
        s.rollback()
        return False
    return True


def first_use_committed(
    factory: sessionmaker[Session], iss: str, jti: str, expires_at: dt.datetime
) -> bool:
    """`first_use` in its own transaction, committed at once: a concurrent call with the same
    token waits for this one (primary key) and then sees it."""
    with transaction(factory) as s:
        return first_use(s, iss, jti, expires_at)
