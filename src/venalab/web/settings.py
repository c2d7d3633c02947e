"""Settings: every environment variable the web application reads, in one place.

`Settings.from_env()` reads them once at start-up; a malformed value stops the start with a
message naming the variable and what it accepts. Tests build `Settings(...)` directly.

| variable | meaning | default |
|---|---|---|
| `DATABASE_URL` | SQLAlchemy URL of the database | SQLite at `var/venalab.db` |
| `VENALAB_VAR` | folder for the SQLite file, the secret key and other local state | `var` |
| `VENALAB_SECRET_KEY` | key that signs session cookies (set it when running several workers or hosts) | random, kept in `var/secret_key` |
| `VENALAB_SECURE_COOKIES` | `1`/`true`: cookies always carry `Secure` | off |
| `VENALAB_TRUSTED_PROXIES` | comma-separated addresses or networks of reverse proxies whose `X-Forwarded-For` / `X-Forwarded-Proto` are believed | none |
| `VENALAB_TOKEN_LIFETIME_DAYS` | lifetime of a new API bearer token, in days (1 to 3650) | 90 |
| `VENALAB_TOKEN_CACHE_SECONDS` | how long a worker may reuse a bearer token it checked (0 to 300; 0: check every request) | 10 |
| `VENALAB_CDS_CLIENTS` | JSON file listing the CDS Hooks clients allowed to call, with their key URLs and FHIR servers (web/cds_clients.py) | none (CDS calls refused) |
| `VENALAB_CDS_BASE_URL` | public base URL of this service (`https://host[/prefix]`); CDS client tokens must name `<base>/cds-services/<id>` as audience. Required with `VENALAB_CDS_CLIENTS` | none |
| `VENALAB_KNOWLEDGE_DIR` | folder of knowledge entries | the entries shipped with venalab |
| `VENALAB_SQLITE_SYNCHRONOUS` | `full`: every commit is on disk before it is acknowledged; `normal`: faster commits that survive a program crash but not a power loss (store/db.py `make_engine`) | `full` |
| `VENALAB_CPU_PROCESSES` | worker processes per server worker for heavy jobs (PDF reports, large bodies, imports); 0: threads | 1 |
| `VENALAB_PATIENT_REVIEW_POLICY` | `show-with-banner` (unreviewed entries answered with a banner) or `approved-only` (patients see approved entries only) | `show-with-banner` |
| `VENALAB_DICOM_AE_TITLE` | AE title of the DICOM receiver (`venalab dicom listen`) | `VENALAB` |
| `VENALAB_DICOM_HOST` | interface the DICOM receiver listens on | `127.0.0.1` |
| `VENALAB_DICOM_PORT` | TCP port of the DICOM receiver | `11112` |
| `VENALAB_DICOM_ALLOWED_AES` | calling AE titles allowed to send (comma-separated); others are rejected | `STORESCU` |
| `VENALAB_HL7_HOST` | interface the HL7 v2 MLLP listener (orders in) listens on | `127.0.0.1` |
| `VENALAB_HL7_PORT` | TCP port of the HL7 v2 MLLP listener | `2575` |
| `VENALAB_HL7_OUTBOX` | folder the ORU^R01 results of signed exams are written to | `var/hl7/outbox` |
| `VENALAB_HL7_RESULTS_TO` | `host:port` the results are also sent to over MLLP (queued and retried) | none |
| `VENALAB_HL7_FACILITY` | sending application / facility name in HL7 messages | `VENALAB` |
| `VENALAB_DRAFT_RETENTION_DAYS` | days an unsaved worksheet draft is kept after its last change (1 to 3650) | 30 |
| `VENALAB_LAB_FILE` | TOML file of the laboratory's identity on its reports: `name`, `address`, `accreditation`, `report_title`, `logo` (PNG or JPEG path relative to the file) (report/lab.py) | "Vascular Laboratory", no address or logo |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from venalab.errors import InvalidInput, Problem
from venalab.knowledge.answer import POLICY_ENV, ReviewPolicy, review_policy
from venalab.store.db import DEFAULT_SQLITE_PATH, SqliteSync, normalize_url
from venalab.web.cds_clients import url_problem

CDS_BASE_URL_REQUIRED = (
    "required when CDS Hooks clients are configured: the public base URL of this service "
    "(e.g. https://venalab.example.org), which client tokens must name as their audience"
)
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


def _int(
    env: Mapping[str, str], name: str, default: int, low: int, high: int, problems: list[Problem]
) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.isascii() and raw.isdigit() and low <= int(raw) <= high:
        return int(raw)
    problems.append(Problem(name, f"must be a whole number from {low} to {high}, got {raw!r}"))
    return default


def _networks(env: Mapping[str, str], name: str, problems: list[Problem]) -> tuple[str, ...]:
    """Addresses or CIDR networks, comma-separated, each checked (stored normalised)."""
    out: list[str] = []
    for item in env.get(name, "").split(","):
        if not item.strip():
            continue
        try:
            out.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            problems.append(
                Problem(name, f"{item.strip()!r} is not an IP address or network (e.g. 10.0.0.0/8)")
            )
    return tuple(out)


def _count(env: Mapping[str, str], name: str, default: int, problems: list[Problem]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and int(raw) <= 64:
        return int(raw)
    problems.append(Problem(name, f"must be a whole number from 0 to 64, got {raw!r}"))
    return default


def _sync(env: Mapping[str, str], problems: list[Problem]) -> SqliteSync:
    raw = env.get("VENALAB_SQLITE_SYNCHRONOUS", "").strip().lower() or "full"
    if raw == "normal":
        return "normal"
    if raw == "full":
        return "full"
    problems.append(Problem("VENALAB_SQLITE_SYNCHRONOUS", f"must be full or normal, got {raw!r}"))
    return "full"


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name, "").strip()
    return Path(raw) if raw else None


def _port(env: Mapping[str, str], name: str, default: int, problems: list[Problem]) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.isdigit() and 0 <= int(raw) <= 65535:
        return int(raw)
    problems.append(Problem(name, f"must be a TCP port 0-65535, got {raw!r}"))
    return default


def _ae_title(env: Mapping[str, str], name: str, default: str, problems: list[Problem]) -> str:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if len(raw) > 16 or not raw.isascii() or "\\" in raw or not raw.isprintable():
        problems.append(Problem(name, f"an AE title has 1-16 printable ASCII characters: {raw!r}"))
        return default
    return raw


def _ae_list(env: Mapping[str, str], name: str, problems: list[Problem]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None:
        return ("STORESCU",)
    titles = tuple(t.strip() for t in raw.split(",") if t.strip())
    for title in titles:
        _ae_title({name: title}, name, title, problems)
    return titles


def _host_port(
    env: Mapping[str, str], name: str, problems: list[Problem]
) -> tuple[str, int] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    host, sep, port = raw.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
        problems.append(Problem(name, f"must be host:port, got {raw!r}"))
        return None
    return host, int(port)


class Settings(BaseModel):
    """The web application's configuration (see the module docstring for the variables)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str = f"sqlite:///{DEFAULT_SQLITE_PATH}"
    var_dir: Path = Path("var")
    secret_key: str | None = None
    secure_cookies: bool = False
    trusted_proxies: tuple[str, ...] = ()
    token_lifetime_days: int = 90
    token_cache_seconds: int = 10
    cds_clients_file: Path | None = None
    cds_base_url: str | None = None
    knowledge_dir: Path | None = None
    cpu_processes: int = 1
    sqlite_synchronous: SqliteSync = "full"
    patient_review_policy: ReviewPolicy = "show-with-banner"
    dicom_ae_title: str = "VENALAB"
    dicom_host: str = "127.0.0.1"
    dicom_port: int = 11112
    dicom_allowed_aes: tuple[str, ...] = ("STORESCU",)
    hl7_host: str = "127.0.0.1"
    hl7_port: int = 2575
    hl7_outbox: Path | None = None
    hl7_results_to: tuple[str, int] | None = None
    hl7_facility: str = "VENALAB"
    draft_retention_days: int = 30
    lab_file: Path | None = None

    @property
    def outbox(self) -> Path:
        return self.hl7_outbox or self.var_dir / "hl7" / "outbox"

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
            trusted_proxies=_networks(env, "VENALAB_TRUSTED_PROXIES", problems),
            token_lifetime_days=_int(env, "VENALAB_TOKEN_LIFETIME_DAYS", 90, 1, 3650, problems),
            token_cache_seconds=_int(env, "VENALAB_TOKEN_CACHE_SECONDS", 10, 0, 300, problems),
            cds_clients_file=_path(env, "VENALAB_CDS_CLIENTS"),
            cds_base_url=(env.get("VENALAB_CDS_BASE_URL") or "").strip().rstrip("/") or None,
            knowledge_dir=_path(env, "VENALAB_KNOWLEDGE_DIR"),
            cpu_processes=_count(env, "VENALAB_CPU_PROCESSES", 1, problems),
            sqlite_synchronous=_sync(env, problems),
            patient_review_policy=policy,
            dicom_ae_title=_ae_title(env, "VENALAB_DICOM_AE_TITLE", "VENALAB", problems),
            dicom_host=env.get("VENALAB_DICOM_HOST", "").strip() or "127.0.0.1",
            dicom_port=_port(env, "VENALAB_DICOM_PORT", 11112, problems),
            dicom_allowed_aes=_ae_list(env, "VENALAB_DICOM_ALLOWED_AES", problems),
            hl7_host=env.get("VENALAB_HL7_HOST", "").strip() or "127.0.0.1",
            hl7_port=_port(env, "VENALAB_HL7_PORT", 2575, problems),
            hl7_outbox=_path(env, "VENALAB_HL7_OUTBOX"),
            hl7_results_to=_host_port(env, "VENALAB_HL7_RESULTS_TO", problems),
            hl7_facility=(env.get("VENALAB_HL7_FACILITY", "").strip() or "VENALAB")[:20],
            draft_retention_days=_int(env, "VENALAB_DRAFT_RETENTION_DAYS", 30, 1, 3650, problems),
            lab_file=_path(env, "VENALAB_LAB_FILE"),
        )
        if settings.cds_base_url is not None:
            bad = url_problem(settings.cds_base_url)
            if bad is not None:
                problems.append(Problem("VENALAB_CDS_BASE_URL", bad))
        elif settings.cds_clients_file is not None:
            problems.append(Problem("VENALAB_CDS_BASE_URL", CDS_BASE_URL_REQUIRED))
        if problems:
            raise InvalidInput(problems, what="settings")
        return settings
