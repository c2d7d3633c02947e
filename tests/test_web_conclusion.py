"""Issue 17 in the web app: the admin sets a user's name and credentials; the physician
edits the proposed conclusion on the exam page, the edit is a new version (history, diff),
and the signed report prints the conclusion, the proposal beside it, and the signer
"Name, credentials" frozen at signing."""

from __future__ import annotations

import re

from pg_fixture import db_url, pg_server, pg_url  # noqa: F401 - fixtures
from test_web_api import Env, _create, _login, env  # noqa: F401 - fixture
from venalab.store import audit


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_edited_conclusion_is_signed_with_the_signer_credentials(env: Env) -> None:  # noqa: F811
    exam_id = _create(env)["exam_id"]
    admin = env.client()
    _login(admin, "adm", env.passwords["adm"])
    token = _csrf(admin.get("/admin/users").text)
    r = admin.post(
        "/admin/users/doc/identity",
        data={"display_name": "Jane Doe", "credentials": "MD, RPVI", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    bad = admin.post(
        "/admin/users/doc/identity",
        data={"display_name": "Jane", "credentials": "MD\x07", "csrf_token": token},
    )
    assert bad.status_code == 422 and "credentials" in bad.text

    doc = env.client()
    _login(doc, "doc", env.passwords["doc"])
    page = doc.get(f"/exams/{exam_id}").text
    proposal = re.search(r'id="conclusion-proposal">([^<]+)</pre>', page)
    assert proposal is not None and "Great saphenous vein" in proposal.group(1)
    form = {
        "csrf_token": _csrf(page),
        "expected_version": "1",
        "text": "Left GSV axial reflux with active ulcer; see recommendations.",
        "comment": "Discussed with the patient.",
    }
    r = doc.post(f"/exams/{exam_id}/conclusion", data=form, follow_redirects=False)
    assert r.status_code == 303
    diff = doc.get(
        f"/api/exams/{exam_id}/diff",
        params={"from": 1, "to": 2},
        headers={"Authorization": f"Bearer {env.tokens['doc']}"},
    ).json()
    assert any(c["path"].startswith("conclusion") for c in diff)
    page = doc.get(f"/exams/{exam_id}").text
    assert "Left GSV axial reflux with active ulcer" in page
    r = doc.post(
        f"/exams/{exam_id}/sign",
        data={"csrf_token": _csrf(page), "expected_version": "2"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    # later changes of the name do not rewrite the signed report
    admin.post(
        "/admin/users/doc/identity",
        data={"display_name": "Jane Roe", "credentials": "MD", "csrf_token": token},
    )
    html = doc.get(f"/exams/{exam_id}/report").text
    assert "Left GSV axial reflux with active ulcer" in html
    assert "Discussed with the patient." in html
    assert "Impression proposed by venalab" in html
    assert "Jane Doe, MD, RPVI" in html and "Jane Roe" not in html
    with env.factory() as s:
        actions = [e.action for e in audit.query(s, entity="user", entity_id="doc")]
    assert actions.count("user-identity") == 2
