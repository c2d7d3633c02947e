"""Settings: every environment variable the web application reads, in one place.

`Settings.from_env()` reads them once at start-up; a malformed value stops the start with a
message naming the variable and what it accepts. Tests build `Settings(...)` directly.

| variable | meaning | default |
|---|---|---|
| `DATABASE_URL` | SQLAlchemy URL of the database | SQLite at `var/venalab.db` |
| `VENALAB_VAR` | folder for the SQLite file, the secret key and other local state | `var` |
| `VENALAB_SECRET_KEY` | key that signs session cookies (set it when running several workers or hosts) | random, kept in `var/secret_key` |
| `VENALAB_SECURE_COOKIES` | `1`/`true`: cookies always carry `Secure` | off |
| `VENALAB_CDS_CLIENTS` | JSON file listing the CDS Hooks clients allowed to call | none (CDS calls refused) |
| `VENALAB_CDS_BASE_URL` | public base URL of this service, the audience of CDS client tokens | from the request |
| `VENALAB_KNOWLEDGE_DIR` | folder of knowledge entries | the entries shipped with venalab |
| `VENALAB_PATIENT_REVIEW_POLICY` | `show-with-banner` (unreviewed entries answered with a banner) or `approved-only` (patients see approved entries only) | `show-with-banner` |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from venalab.errors import InvalidInput, Problem
from venalab.knowledge.answer import POLICY_ENV, ReviewPolicy, review_policy
from venalab.store.db import DEFAULT_SQLITE_PATH, normalize_url

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


def _flag(env: Mapping[str, str], name: str, problems: list[Problem]) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw not in _FALSE:
        problems.append(
            Problem(name, f"must be one of 1/true/yes/on or 0/false/no/off, got {raw!r}")
        )
    return False


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else None


class Settings(BaseModel):
    """The web application's configuration (see the module docstring for the variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    var_dir: Path = Path("var")
    secret_key: str | None = None
    secure_cookies: bool = False
    cds_clients_file: Path | None = None
    cds_base_url: str | None = None
    knowledge_dir: Path | None = None
    patient_review_policy: ReviewPolicy = "show-with-banner"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Settings from the environment; InvalidInput names each malformed variable."""
        env = os.environ if env is None else env
        problems: list[Problem] = []
        var_dir = _path(env, "VENALAB_VAR") or Path("var")
        policy: ReviewPolicy = "show-with-banner"
        try:
            policy = review_policy(env)
        except ValueError as e:
            problems.append(Problem(POLICY_ENV, str(e)))
        url = env.get("DATABASE_URL", "").strip()
        settings = cls(
            database_url=normalize_url(url) if url else f"sqlite:///{DEFAULT_SQLITE_PATH}",
            var_dir=var_dir,
            secret_key=env.get("VENALAB_SECRET_KEY") or None,
            secure_cookies=_flag(env, "VENALAB_SECURE_COOKIES", problems),
            cds_clients_file=_path(env, "VENALAB_CDS_CLIENTS"),
            cds_base_url=(env.get("VENALAB_CDS_BASE_URL") or "").strip().rstrip("/") or None,
            knowledge_dir=_path(env, "VENALAB_KNOWLEDGE_DIR"),
            patient_review_policy=policy,
        )
        if problems:
            raise InvalidInput(problems, what="settings")
        return settings
