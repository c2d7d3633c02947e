"""One Settings object for the web app's environment, and errors shaped by where they happen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from test_web_api import Env, _login
from venalab.errors import InvalidInput
from venalab.web.settings import Settings


def test_settings_from_env_reads_every_variable(tmp_path: Path) -> None:
    s = Settings.from_env(
        {
            "DATABASE_URL": "postgres://u@h:5432/db",
            "VENALAB_VAR": str(tmp_path),
            "VENALAB_SECRET_KEY": "k" * 40,
            "VENALAB_SECURE_COOKIES": "true",
            "VENALAB_CDS_CLIENTS": str(tmp_path / "clients.json"),
            "VENALAB_CDS_BASE_URL": "https://venalab.example/",
            "VENALAB_KNOWLEDGE_DIR": str(tmp_path / "kb"),
        }
    )
    assert s.database_url == "postgresql+psycopg://u@h:5432/db"
    assert s.var_dir == tmp_path and s.secret_key == "k" * 40 and s.secure_cookies
    assert s.cds_clients_file == tmp_path / "clients.json"
    assert s.cds_base_url == "https://venalab.example"  # no trailing slash: paths are appended
    assert s.knowledge_dir == tmp_path / "kb"


def test_settings_defaults_and_malformed_flag_named() -> None:
    s = Settings.from_env({})
    assert s.database_url.startswith("sqlite:///") and not s.secure_cookies
    with pytest.raises(InvalidInput) as e:
        Settings.from_env({"VENALAB_SECURE_COOKIES": "maybe"})
    assert e.value.problems[0].path == "VENALAB_SECURE_COOKIES"
    assert "1/true" in e.value.problems[0].message


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(f"sqlite:///{tmp_path / 'web.db'}", tmp_path)
    yield e
    e.dispose()


def test_page_errors_are_html_and_api_errors_json(env: Env) -> None:
    c = env.client()
    _login(c, "sono", env.passwords["sono"])
    page = c.get("/exams/999999")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Back to the worklist" in page.text
    api = env.client("sono").get("/api/exams/999999")
    assert api.status_code == 404 and api.json()["error"]["code"] == "not-found"


def test_admin_pages_follow_the_permission_table(env: Env) -> None:
    c = env.client()
    _login(c, "doc", env.passwords["doc"])
    r = c.get("/admin/users")
    assert r.status_code == 403 and "needs the role admin" in r.text
    assert c.get("/admin/audit").status_code == 403
    a = env.client()
    _login(a, "adm", env.passwords["adm"])
    assert a.get("/admin/users").status_code == 200
    assert a.get("/admin/audit").status_code == 200


def test_patient_review_policy_is_read_and_checked() -> None:
    assert Settings.from_env({}).patient_review_policy == "show-with-banner"
    env = {"VENALAB_PATIENT_REVIEW_POLICY": "approved-only"}
    assert Settings.from_env(env).patient_review_policy == "approved-only"
    with pytest.raises(InvalidInput) as exc:
        Settings.from_env({"VENALAB_PATIENT_REVIEW_POLICY": "everyone"})
    assert exc.value.problems[0].path == "VENALAB_PATIENT_REVIEW_POLICY"
