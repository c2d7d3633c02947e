"""Web app side of issue 20: the Incoming list, scheduled orders in the worklist, the lab's
SR code map (admin, audited, validated) and the import page (leg, code map, missing fields,
venalab JSON/YAML)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from helpers import EXAMPLES
from venalab.exam import parse_exam_obj
from venalab.store import audit, make_engine, session_factory, users
from venalab.store import interop as si
from venalab.store.db import transaction
from venalab.web.app import create_app

DATA = Path(__file__).parent / "data" / "sr"


class Env:
    def __init__(self, tmp: Path) -> None:
        url = f"sqlite:///{tmp / 'web.sqlite'}"
        self.tmp = tmp
        self.app = create_app(url, var_dir=tmp)
        self.engine = make_engine(url)
        self.factory = session_factory(self.engine)
        self.tokens: dict[str, str] = {}
        self.passwords: dict[str, str] = {}
        with self.factory() as s, s.begin():
            for name, role in (("sono", "sonographer"), ("adm", "admin")):
                user, _ = users.create_user(s, name, role, name.title())
                self.passwords[name] = f"{name}-correct-horse-battery"
                users.set_password(s, user, self.passwords[name])
                self.tokens[name] = users.create_token(s, user, "tests")

    def login(self, who: str) -> tuple[TestClient, str]:
        c = TestClient(self.app)
        page = c.get("/login")
        token = page.text.split('name="login_csrf" value="')[1].split('"')[0]
        r = c.post(
            "/login",
            data={"username": who, "password": self.passwords[who], "login_csrf": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        csrf = c.get("/import").text.split('name="csrf-token" content="')[1].split('"')[0]
        return c, csrf


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()
    e.app.state.venalab.engine.dispose()


def _sr(tmp: Path, name: str, *, age: str | None = None) -> bytes:
    out = tmp / f"{name}.dcm"
    xml2dsr = shutil.which("xml2dsr")
    assert xml2dsr, "DCMTK is missing (scripts/system-deps.sh)"
    subprocess.run([xml2dsr, "+Vs", str(DATA / f"{name}.xml"), str(out)], check=True)
    if age:
        subprocess.run(["dcmodify", "-nb", "-i", f"(0010,1010)={age}", str(out)], check=True)
    return out.read_bytes()


def _initial_document(html: str) -> dict[str, Any]:
    raw = html.split('id="initial-document">')[1].split("</script>")[0]
    doc: dict[str, Any] = json.loads(raw)
    return doc


def test_incoming_report_opens_in_the_worksheet_and_is_done_when_saved(env: Env) -> None:
    data = _sr(env.tmp, "vendor_a_seed001", age="070Y")
    with transaction(env.factory) as s:
        order = si.receive_order(
            s,
            si.OrderIn("ACC-5", "JVB-2022-001", indication="Heavy legs"),
            source="hl7:test",
            message_id="M5",
        )
        item = si.receive_sr(
            s,
            data,
            calling_ae="STORESCU",
            sop_instance_uid="1.2.3",
            patient_local_id="JVB-2022-001",
            accession=None,
            study_date=None,
        )
        item_id, order_id = item.id, order.id
    c, _csrf = env.login("sono")
    listing = c.get("/incoming")
    assert listing.status_code == 200 and "ACC-5" in listing.text
    assert "Incoming reports: 1" in c.get("/").text
    page = c.get(f"/incoming/{item_id}")
    assert page.status_code == 200
    assert f'data-link-url="/incoming/{item_id}/done"' in page.text
    doc = _initial_document(page.text)
    assert doc["patient"]["id"] == "JVB-2022-001" and doc["exam"]["indication"] == "Heavy legs"
    assert len(doc["legs"]["left"]["segments"]) == 5
    # The worksheet saves through the API, then marks the report done.
    api = TestClient(env.app)
    api.headers["Authorization"] = f"Bearer {env.tokens['sono']}"
    saved = api.post("/api/exams", json=doc)
    assert saved.status_code == 201, saved.text
    exam_id = saved.json()["exam_id"]
    done = api.post(f"/incoming/{item_id}/done", json={"exam_id": exam_id})
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = api.post(f"/incoming/{item_id}/done", json={"exam_id": exam_id})
    assert again.status_code in (409, 422)
    with transaction(env.factory) as s:
        assert si.list_incoming(s) == []
        assert si.get_order(s, order_id).exam_id == exam_id
        actions = {e.action for e in audit.query(s)}
        assert {"incoming-receive", "incoming-done", "order-link"} <= actions


def test_scheduled_order_in_worklist_prefills_the_worksheet(env: Env) -> None:
    with transaction(env.factory) as s:
        order = si.receive_order(
            s,
            si.OrderIn(
                "ACC-7",
                "PAT-7",
                sex="female",
                birth_date=__import__("datetime").date(1970, 1, 1),
                indication="<script>alert(1)</script> swelling",
                referring_physician="Dr Who",
            ),
            source="hl7:test",
            message_id="M7",
        )
        order_id = order.id
    c, _ = env.login("sono")
    worklist = c.get("/").text
    assert "ACC-7" in worklist and f"/orders/{order_id}/worksheet" in worklist
    assert "<script>alert(1)</script>" not in worklist
    page = c.get(f"/orders/{order_id}/worksheet")
    doc = _initial_document(page.text)
    assert doc["patient"] == {"id": "PAT-7", "sex": "female", "birth_date": "1970-01-01"}
    assert doc["exam"]["indication"].endswith("swelling")
    assert "<script>alert" not in page.text.split('id="initial-document">')[1].split("</script>")[0]


def test_sr_code_map_is_admin_only_validated_and_audited(env: Env) -> None:
    sono, _ = env.login("sono")
    assert sono.get("/admin/sr-codes").status_code == 403
    c, csrf = env.login("adm")
    bad = c.post(
        "/admin/sr-codes",
        data={"scheme": "99VENA", "code": "RT01", "target": "reflux", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "unknown target" in bad.text
    ok = c.post(
        "/admin/sr-codes",
        data={"scheme": "99VENA", "code": "RT01", "target": "reflux_ms", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert ok.status_code == 303
    assert "99VENA" in c.get("/admin/sr-codes").text
    with transaction(env.factory) as s:
        assert si.local_code_map(s) == {"99VENA:RT01": {"target": "reflux_ms"}}
        (entry,) = audit.query(s, action="local-code-set")
        assert entry.username == "adm" and entry.detail["after"]["target"] == "reflux_ms"
    # The import page now reads the vendor's reflux code.
    data = _sr(env.tmp, "vendor_a_seed001", age="070Y")
    page = c.post(
        "/import",
        files={"file": ("a.dcm", data, "application/dicom")},
        data={"csrf_token": csrf},
    )
    doc = _initial_document(page.text)
    assert [s.get("reflux_ms") for s in doc["legs"]["left"]["segments"]][-2:] == [1500, 1300]


def test_import_page_asks_for_missing_age_and_sets_the_leg(env: Env) -> None:
    c, csrf = env.login("sono")
    data = _sr(env.tmp, "vendor_a_seed001")  # no Patient's Age, no birth date
    page = c.post(
        "/import", files={"file": ("a.dcm", data, "application/dicom")}, data={"csrf_token": csrf}
    )
    assert page.status_code == 200, page.text
    assert 'id="import-missing"' in page.text and "patient.age_years" in page.text
    assert "age_years" not in _initial_document(page.text)["patient"]
    # No command-line flags in what the page says.
    notes = page.text.split('id="import-notes"')[1].split("</div>")[0]
    assert "--" not in notes
    # A file without laterality: the page's leg choice applies.
    data = _sr(env.tmp, "no_laterality", age="050Y")
    refused = c.post(
        "/import", files={"file": ("n.dcm", data, "application/dicom")}, data={"csrf_token": csrf}
    )
    assert refused.status_code == 422 and "choose the leg" in refused.text
    assert "--side" not in refused.text
    page = c.post(
        "/import",
        files={"file": ("n.dcm", data, "application/dicom")},
        data={"csrf_token": csrf, "side": "right"},
    )
    assert page.status_code == 200 and "right" in _initial_document(page.text)["legs"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_venalab_exam_documents_import(env: Env, fmt: str) -> None:
    c, csrf = env.login("sono")
    doc = json.loads((EXAMPLES / "calf-dvt.json").read_text())
    body = json.dumps(doc) if fmt == "json" else yaml.safe_dump(doc)
    page = c.post(
        "/import",
        files={"file": (f"exam.{fmt}", body.encode(), "text/plain")},
        data={"csrf_token": csrf},
    )
    assert page.status_code == 200, page.text
    assert parse_exam_obj(_initial_document(page.text)) == parse_exam_obj(doc)
    bad = dict(doc, patient={"id": "X"})
    page = c.post(
        "/import",
        files={"file": ("bad.json", json.dumps(bad).encode(), "application/json")},
        data={"csrf_token": csrf},
    )
    assert page.status_code == 422 and "birth_date" in page.text
